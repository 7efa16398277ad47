"""Chunk and pool: the windows a transformer encodes a long sequence's tokens in, and the mean that
pools a window's valid tokens (`dnanet.models.transformer.Transformer`, and the attention motifs
of `dnanet.interpret.motifs.attention`, which weigh windows the same way)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def masked_window_mean(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of encoder outputs ``(B, t, d)`` over valid tokens ``mask (B, t)`` -> ``(B, d)``."""
    weights = mask.unsqueeze(-1).to(outputs.dtype)  # (B, t, 1)
    return (outputs * weights).sum(1) / weights.sum(1)


def split_windows(
    tokens: torch.Tensor, mask: torch.Tensor, size: int, overlap: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut tokens ``(N, T, d)`` with a prefix mask ``(N, T)`` into windows of ``size`` tokens
    that start every ``size - overlap`` tokens.

    Returns windows ``(N, n, t, d)``, their masks ``(N, n, t)`` (``t = min(T, size)``) and
    weights ``(N, n)``: each window's number of valid tokens, or 0 for a window that holds no
    token its sequence's earlier windows lack. The weights depend only on a sequence's own
    length, not on the batch's padding.
    """
    length = tokens.shape[1]
    if length <= size:
        return tokens.unsqueeze(1), mask.unsqueeze(1), mask.sum(1, keepdim=True)
    step = size - overlap
    n = math.ceil((length - overlap) / step)
    extra = (n - 1) * step + size - length
    starts = torch.arange(n, device=tokens.device) * step  # (n,)
    # each window's token positions (n, size), gathered (not unfold: an ONNX export needs sizes)
    positions = starts.unsqueeze(1) + torch.arange(size, device=tokens.device)
    windows = F.pad(tokens, (0, 0, 0, extra))[:, positions]  # (N, n, size, d)
    masks = F.pad(mask, (0, extra))[:, positions]  # (N, n, size)
    lengths = mask.sum(1, keepdim=True)  # (N, 1)
    new = (starts == 0) | (starts + overlap < lengths)  # (N, n)
    return windows, masks, masks.sum(-1) * new
