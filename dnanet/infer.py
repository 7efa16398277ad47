"""Inference: the one batched prediction path that evaluate, predict, embed and motifs share.

`predict_batch` runs a model on a batch of codes in eval mode, under no_grad, optionally
averaging with the reverse-complement strand; the model's train/eval state is restored after.
Results do not depend on batch size (models mask padding; see dnanet.models.layers).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from dnanet.encode import reverse_complement


def resolve_device(name: str | None = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when present, else CPU; otherwise the named device."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode with gradients off, restoring its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, C)`` -> class probabilities ``(N, C)`` (softmax; rows sum to 1)."""
    return torch.softmax(logits.float(), dim=-1)


def predict_batch(model: nn.Module, codes: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray,
                  reverse_complement_average: bool = False) -> torch.Tensor:
    """Class probabilities float32 ``(B, C)`` on the CPU for codes ``(B, L)``, lengths ``(B,)``.

    With `reverse_complement_average`, the mean of the forward and reverse-complement strands'
    probabilities (the model sees both orientations of every sequence).
    """
    device = next(model.parameters()).device
    codes = torch.as_tensor(codes).to(device)
    lengths = torch.as_tensor(lengths).to(device)
    with evaluation_mode(model):
        probs = probabilities(model(codes))
        if reverse_complement_average:
            probs = (probs + probabilities(model(reverse_complement(codes, lengths)))) / 2
    return probs.cpu()


def predict(model: nn.Module, batches: Iterable[tuple[np.ndarray, np.ndarray]],
            reverse_complement_average: bool = False) -> np.ndarray:
    """Probabilities float32 ``(N, C)`` for all (codes, lengths) batches, in order."""
    parts = [predict_batch(model, codes, lengths, reverse_complement_average).numpy()
             for codes, lengths in batches]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
