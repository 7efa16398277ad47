"""Transformer attention mapped back to bases, reduced batch by batch.

Each encoder layer's weights come from the model itself (`Transformer.attention_weights`). Per
batch the weights are reduced to one score per token (``AGGREGATIONS``), so no per-sequence
token × token matrix outlives its batch:

- ``rollout`` (default): attention rollout (Abnar & Zuidema 2020): per layer the head-mean
  attention plus the identity (the residual), rows renormalised, multiplied through the layers;
  the [CLS] row (mean pooling: the mean over valid query rows). It follows information through
  every layer to the pooled output, where the last layer alone may attend to mixed tokens.
- ``cls``: the last layer's [CLS] row, mean over heads (DNABERT's choice).
- ``mean``: the attention each token receives, mean over valid queries, heads and layers.

Tokens back to bases: window tokens are put back in sequence order (overlapping windows:
mean); token ``j`` covers stem positions ``j*stem_pool .. (j+1)*stem_pool - 1``; with one-hot
input position p is base p, with k-mers it is the window of k bases from ``p*stride`` and the
score is spread over them (`dnanet.inputs.encode.spread_windows`). The stem convolution's
receptive field (``stem_kernel`` bases) is not spread over: a token's score stays on the bases
it is centred on, which keeps the map sharp; seqlets add flanks (`dnanet.interpret.motifs.seqlets`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.inputs.encode import PAD, spread_windows
from dnanet.models.ensemble import Ensemble


def attention_scores(
    model: nn.Module, codes: torch.Tensor, aggregation: str = "rollout"
) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> attention scores float32 ``(B, L)``, zero past each end. An
    ensemble of transformers (`dnanet.models.ensemble`): the mean of its members' scores."""
    from dnanet.inference.predict import evaluation_mode
    from dnanet.models.token_windows import split_windows

    if isinstance(model, Ensemble):
        members = [attention_scores(member, codes, aggregation) for member in model.members]
        return torch.stack(members).mean(0)
    with evaluation_mode(model):
        tokens, mask = model.tokens(codes)  # (B, T, d), (B, T)
        windows, masks, weights = split_windows(
            tokens, mask, model.max_len, model.overlap
        )  # (B, n, t, d)
        n_windows, size = masks.shape[1], masks.shape[2]
        per_window = window_scores(model, windows.flatten(0, 1), masks.flatten(0, 1), aggregation)
    used = (weights > 0).to(
        per_window.dtype
    )  # (B, n): windows that hold tokens no earlier window has
    per_token = _unwindow(
        per_window.view(len(codes), n_windows, size), used, model, tokens.shape[1]
    )  # (B, T)
    return tokens_to_bases(model, per_token * mask, codes)


def window_scores(
    model: nn.Module, tokens: torch.Tensor, mask: torch.Tensor, aggregation: str
) -> torch.Tensor:
    """Windows of tokens ``(B, t, d)`` with prefix masks ``(B, t)`` -> one score per token
    ``(B, t)``."""
    empty = ~mask.any(1)  # windows past a sequence's end: give them one key, zero their scores
    mask = mask.clone()
    mask[empty, 0] = True
    maps, mask = model.attention_weights(tokens, mask)  # per layer (B, H, t', t'); (B, t')
    cls = model.pooling == "cls"
    eye = torch.eye(mask.shape[1], device=mask.device)
    rollout, received, last = eye.expand(len(mask), -1, -1), 0.0, None
    for weights in maps:
        last = weights.mean(1)  # (B, t', t')
        received = received + _received(last, mask)
        if aggregation == "rollout":
            step = 0.5 * last + 0.5 * eye
            rollout = (step / step.sum(-1, keepdim=True)) @ rollout
    if aggregation == "rollout":
        scores = rollout[:, 0] if cls else _received(rollout, mask)
    elif aggregation == "cls":
        scores = last[:, 0] if cls else _received(last, mask)
    elif aggregation == "mean":
        scores = received / len(model.encoder.layers)
    else:
        raise ValueError(f"unknown attention aggregation '{aggregation}'")
    if cls:
        scores, mask = scores[:, 1:], mask[:, 1:]  # (B, t)
    return scores * mask * (~empty).unsqueeze(1)


def _received(attention: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention ``(B, q, k)`` -> what each key receives, mean over valid queries ``(B, k)``."""
    weights = mask.unsqueeze(-1).to(attention.dtype)  # (B, q, 1)
    return (attention * weights).sum(1) / weights.sum(1)


def _unwindow(
    per_window: torch.Tensor, used: torch.Tensor, model: nn.Module, n_tokens: int
) -> torch.Tensor:
    """Window token scores ``(B, n, t)`` -> sequence token scores ``(B, T)``; a token in two
    windows gets their mean, counting only the windows its sequence uses (``used (B, n)``), as
    `dnanet.models.token_windows.split_windows` weights them."""
    n, size = per_window.shape[1], per_window.shape[2]
    if n == 1:
        return F.pad(per_window[:, 0], (0, n_tokens - size))[:, :n_tokens]
    step = model.max_len - model.overlap
    index = (
        torch.arange(n, device=per_window.device)[:, None] * step
        + torch.arange(size, device=per_window.device)
    ).flatten()  # (n * t,)
    total = (n - 1) * step + size
    weights = used.unsqueeze(-1).expand(-1, -1, size).flatten(1)  # (B, n * t)
    sums = per_window.new_zeros(len(per_window), total).index_add_(
        1, index, (per_window * used.unsqueeze(-1)).flatten(1)
    )
    counts = per_window.new_zeros(len(per_window), total).index_add_(1, index, weights)
    return (sums / counts.clamp(min=1))[:, :n_tokens]


def tokens_to_bases(model: nn.Module, per_token: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Token scores ``(B, T)`` -> base scores ``(B, L)`` (mapping in the module docstring)."""
    positions = per_token.repeat_interleave(model.stem_pool, dim=1)  # (B, T * stem_pool)
    if model.input.encoder == "onehot":
        length = codes.shape[1]
        return F.pad(positions, (0, max(0, length - positions.shape[1])))[:, :length] * (
            codes != PAD
        )
    return spread_windows(positions, model.input.k, model.input.stride, codes)
