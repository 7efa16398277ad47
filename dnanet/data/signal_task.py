"""The arithmetic of profile tasks: BPNet-style losses, activation and strand flips on flat outputs.

A profile task over T tracks and an output width W keeps every record's outputs and targets as
one flat row, so that batching, prediction, strand averaging and storage stay those of every
other task (``(N, K)`` arrays):

    outputs  (N, T + T*W): [predicted log(1 + total counts) per track | profile logits (T, W)]
    activate (N, T + T*W): [predicted log(1 + total counts) per track | profile probabilities]
    targets  (N, T + T*W): [observed log(1 + total counts) per track  | observed counts (T, W)]

Losses (``profile_loss``):

- ``multinomial`` (default; bpnet-lite's and ChromBPNet's): the multinomial negative log
  likelihood of the observed per-base counts under the softmax of the profile logits (the shape),
  plus ``counts_weight`` x the squared error of log(1 + total counts) (the amount). The weight
  lambda defaults to bpnet-lite's choice (its ``bpnet fit`` command, ``count_loss_weight``): the
  mean total reads of the training windows, which brings the two terms to a similar size, as the
  multinomial term grows with the reads (`default_counts_weight`). ChromBPNet takes the median
  total reads / 10 (``find_chrombpnet_hyperparams.py``); the BPNet paper's basepairmodels half the
  mean; give any of them with ``--counts-weight``.
- ``poisson``: the Poisson negative log likelihood of the observed per-base counts under the rate
  exp(log counts) x softmax(profile) (gReLU's Poisson-multinomial family, one term).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

PROFILE_LOSSES = ("multinomial", "poisson")


def split_flat(flat: torch.Tensor, tracks: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat rows ``(B, T + T*W)`` -> (per-track totals ``(B, T)``, profiles ``(B, T, W)``)."""
    return flat[:, :tracks], flat[:, tracks:].reshape(flat.shape[0], tracks, width)  # traceable


def join_flat(totals: torch.Tensor, profiles: torch.Tensor) -> torch.Tensor:
    """(totals ``(B, T)``, profiles ``(B, T, W)``) -> the flat layout ``(B, T + T*W)``."""
    return torch.cat([totals, profiles.flatten(1)], dim=1)


def multinomial_nll(logits: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Multinomial negative log likelihood per record ``(B,)`` of counts ``(B, T, W)`` under the
    softmax over W of `logits` ``(B, T, W)``, summed over tracks (the count-only constant, the log
    multinomial coefficient, is included, so a perfect shape scores near its entropy floor)."""
    log_p = torch.log_softmax(logits.float(), dim=-1)
    total = counts.sum(-1)
    coefficient = torch.lgamma(total + 1) - torch.lgamma(counts + 1).sum(-1)
    return -(coefficient + (counts * log_p).sum(-1)).sum(-1)


def profile_record_losses(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    tracks: int,
    width: int,
    profile_loss: str,
    counts_weight: float,
    activated: bool,
) -> torch.Tensor:
    """The training loss of each record ``(B,)`` from raw outputs (or ``activated`` ones, whose
    profile part holds probabilities) and flat targets; see the module docstring."""
    predicted_totals, shape = split_flat(outputs.float(), tracks, width)
    observed_totals, counts = split_flat(targets.float(), tracks, width)
    logits = torch.log(shape.clamp(min=1e-12)) if activated else shape
    if profile_loss == "poisson":
        log_rate = torch.log_softmax(logits, dim=-1) + torch.log(
            torch.expm1(predicted_totals.clamp(min=0)).clamp(min=1e-6)
        ).unsqueeze(-1)
        return F.poisson_nll_loss(
            log_rate, counts, log_input=True, full=False, reduction="none"
        ).sum((1, 2))
    squared = ((predicted_totals - observed_totals) ** 2).sum(-1)
    return multinomial_nll(logits, counts) + counts_weight * squared


def activate_profile(logits: torch.Tensor, tracks: int, width: int) -> torch.Tensor:
    """Raw flat outputs -> [log(1 + total counts) | per-track probabilities over the W bases]."""
    totals, shape = split_flat(logits.float(), tracks, width)
    return join_flat(totals, torch.softmax(shape, dim=-1))


def flip_profiles(flat: torch.Tensor, tracks: int, width: int) -> torch.Tensor:
    """Reverse each profile along the sequence (what the reverse-complement strand of a window
    sees), totals unchanged: flat ``(B, T + T*W)`` -> the same layout."""
    totals, shape = split_flat(flat, tracks, width)
    return join_flat(totals, shape.flip(-1))


def default_counts_weight(train_totals: np.ndarray) -> float:
    """bpnet-lite's lambda: the mean over training windows of their total reads per track, at
    least 1. `train_totals`: observed log(1 + total) ``(N, T)``."""
    if len(train_totals) == 0:
        return 1.0
    totals = np.expm1(np.asarray(train_totals, dtype=np.float64))
    return float(max(totals.mean(), 1.0))


def profile_prior(train_targets, tracks: int, width: int, chunk: int = 4096) -> np.ndarray:
    """What a model knowing only the training windows answers ``(T + T*W,)``: their mean log
    counts and their average profile, normalised (the baseline of metrics and the learning check).
    Read in chunks: `train_targets` may be a memory-mapped block of 10^6 rows."""
    totals = np.zeros(tracks)
    profile = np.zeros((tracks, width))
    for start in range(0, len(train_targets), chunk):
        block = np.asarray(train_targets[start : start + chunk], dtype=np.float64)
        totals += block[:, :tracks].sum(0)
        profile += block[:, tracks:].reshape(len(block), tracks, width).sum(0)
    totals /= max(len(train_targets), 1)
    shares = profile / np.maximum(profile.sum(1, keepdims=True), 1e-12)
    shares = np.where(profile.sum(1, keepdims=True) > 0, shares, 1.0 / width)
    return np.concatenate([totals, shares.ravel()]).astype(np.float32)
