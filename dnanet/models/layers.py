"""Building blocks every model shares: the input layer (codes -> features), masked pooling,
and the trunk + head contract.

Every model takes codes uint8 ``(N, L)`` (layout in dnanet.inputs.encode) and keeps the
`SequenceModel` contract: ``features(codes) -> (x (N, C, W), mask (N, W))`` per position (or a
clear error for a model without positions), ``embed(codes) -> (N, D)`` float32, one vector per
sequence, and ``forward(codes) = head(embed(codes)) -> (N, n_outputs)`` raw scores (logits).
Padded positions are masked everywhere, so a sequence's output does not depend on how much
padding its batch added (predictions are batch-size invariant).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dnanet.errors import DnanetError
from dnanet.inputs.encode import PAD, kmer_ids, kmer_vocabulary_size, one_hot

ENCODERS = ("onehot", "kmer")


class SequenceInput(nn.Module):
    """Codes ``(N, L)`` -> features float32 ``(N, C, W)`` and a validity mask bool ``(N, W)``.

    ``onehot``: C = 4, W = L. ``kmer``: each k-mer id is embedded in ``kmer_dim`` learned
    dimensions (the padding k-mer is a fixed zero vector), W = number of k-mer windows.
    """

    def __init__(self, encoder: str = "onehot", k: int = 6, stride: int = 1, kmer_dim: int = 64):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder '{encoder}'; valid encoders: {', '.join(ENCODERS)}")
        self.encoder, self.k, self.stride = encoder, k, stride
        self.pad_id = kmer_vocabulary_size(k) - 1
        if encoder == "kmer":
            self.embedding = nn.Embedding(
                kmer_vocabulary_size(k), kmer_dim, padding_idx=self.pad_id
            )
        self.channels = 4 if encoder == "onehot" else kmer_dim

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.encoder == "onehot":
            return one_hot(codes), codes != PAD
        ids = kmer_ids(codes, self.k, self.stride)  # (N, W)
        return self.embedding(ids).transpose(1, 2), ids != self.pad_id


class GlobalMaxPool(nn.MaxPool1d):
    """The max of each channel over all positions, ``(N, C, W)`` -> ``(N, C, 1)``: a max pool as
    wide as its input. A module (not ``amax``) so that DeepLIFT (`dnanet.interpret.deeplift`)
    applies its max-pooling rule here; it has no weights, so model files are unchanged."""

    def __init__(self):
        super().__init__(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.kernel_size = self.stride = x.shape[-1]
        return super().forward(x)


def masked_mean_max(
    x: torch.Tensor, mask: torch.Tensor, global_max: nn.Module | None = None
) -> torch.Tensor:
    """Pool features ``(N, C, W)`` over valid positions ``mask (N, W)`` -> ``(N, 2C)``: the mean
    and the max of each channel (an all-padding row pools to zeros). A batch without padding
    skips the masking (bit-identical, 1.4x faster) and takes the max with `global_max` (a
    `GlobalMaxPool`) when given."""
    if bool(mask.all()):
        maximum = x.amax(-1) if global_max is None else global_max(x).squeeze(-1)
        return torch.cat([x.sum(-1) / x.shape[-1], maximum], dim=1)
    weights = mask.unsqueeze(1).to(x.dtype)  # (N, 1, W)
    mean = (x * weights).sum(-1) / weights.sum(-1).clamp(min=1)
    maximum = x.masked_fill(~mask.unsqueeze(1), float("-inf")).amax(-1)
    maximum = torch.where(torch.isfinite(maximum), maximum, torch.zeros_like(maximum))
    return torch.cat([mean, maximum], dim=1)


def masked_bin_max(x: torch.Tensor, mask: torch.Tensor, bins: int) -> torch.Tensor:
    """Max of features ``(N, C, W)`` within ``bins`` equal stretches of each sequence's own valid
    positions ``mask (N, W)`` (a prefix) -> ``(N, C * bins)``, bin-major within each channel.

    Where a signal sits (near the start, the middle, the end) survives this pooling, unlike a
    global max; bins follow each sequence's own length, so padding never changes them. A bin with
    no position (a sequence shorter than ``bins``) is zero.
    """
    n, channels, width = x.shape
    lengths = mask.sum(1, keepdim=True).clamp(min=1)  # (N, 1)
    positions = torch.arange(width, device=x.device).unsqueeze(0)  # (1, W)
    index = torch.where(mask, positions * bins // lengths, bins)  # (N, W); padding -> a spare bin
    index = index.unsqueeze(1).expand(n, channels, width)
    pooled = x.new_full((n, channels, bins + 1), float("-inf")).scatter_reduce(2, index, x, "amax")
    pooled = pooled[..., :bins]
    return torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled)).flatten(1)


class BinMaxPool(nn.Module):
    """`masked_bin_max` of features without padding ``(N, C, W)`` -> ``(N, C * bins)``, as one
    ``nn.MaxPool1d`` so that DeepLIFT (`dnanet.interpret.deeplift`) applies its exact max-pooling
    rule: each bin's positions are gathered side by side, a short bin padded with copies of its
    own last position (a copy never changes a max), and pooled ``size`` at a time. No weights:
    model files are unchanged."""

    def __init__(self, bins: int):
        super().__init__()
        self.bins, self.pool = bins, nn.MaxPool1d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1]
        if width < self.bins:  # empty bins: the masked path's zeros
            mask = torch.ones(x.shape[0], width, dtype=torch.bool, device=x.device)
            return masked_bin_max(x, mask, self.bins)
        index, size = bin_positions(width, self.bins, x.device)
        self.pool.kernel_size = self.pool.stride = size
        return self.pool(x[..., index]).flatten(1)  # (N, C, bins) -> (N, C * bins)


def bin_positions(width: int, bins: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """The positions of `bins` equal stretches of `width` (position p in bin p * bins // width,
    as `masked_bin_max` bins them), bin after bin, each padded to the longest bin, ``size``, by
    repeating its last position: int64 ``(bins * size,)`` and ``size``. Computed in numpy from
    the two sizes alone, so that a traced model (ONNX export, `dnanet.inference.export`) holds
    the positions as a constant instead of ops ONNX lacks (bincount)."""
    width = int(width)  # a traced size is a tensor
    counts = np.bincount(np.arange(width) * bins // width, minlength=bins)
    size = int(counts.max())
    starts = np.cumsum(counts) - counts  # (bins,)
    offsets = np.minimum(np.arange(size), (counts - 1)[:, None])
    return torch.as_tensor((starts[:, None] + offsets).ravel(), device=device), size


class Borrowed(nn.Module):
    """A weightless module that runs a layer its model owns (``self.layer``, not a submodule: the
    model file keeps one copy of the weights under the owner's name). Subclasses give one-input
    entry points to layers DeepLIFT has no rule for, so that `dnanet.interpret.deeplift` can
    apply integrated gradients to them as a whole."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        object.__setattr__(self, "layer", layer)  # not registered: no weights of its own


class MaskedPooling(nn.Module):
    """The readout pooling every family shares: features ``(N, C, W)`` over valid positions
    ``mask (N, W)`` -> ``(N, out_features)``.

    Always the global mean and max of each channel (``masked_mean_max``); with ``position_bins``
    > 0 also the max within that many equal stretches of each sequence (``masked_bin_max``), so
    where a signal sits survives: promoters aligned on their start site, splice sites, CLIP sites
    centred on the binding site. Both follow each sequence's own length, so neither padding nor
    the batch changes a prediction. ``out_features = (2 + position_bins) * channels``.
    """

    def __init__(self, channels: int, position_bins: int = 0):
        super().__init__()
        if position_bins < 0:
            raise ValueError(f"position_bins must be at least 0, not {position_bins}")
        self.position_bins = position_bins
        self.out_features = (2 + position_bins) * channels
        self.global_max, self.bin_max = GlobalMaxPool(), BinMaxPool(position_bins)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = [masked_mean_max(x, mask, self.global_max)]  # (N, 2C)
        if self.position_bins and bool(mask.all()):
            pooled.append(self.bin_max(x))  # (N, bins * C)
        elif self.position_bins:
            pooled.append(masked_bin_max(x, mask, self.position_bins))  # (N, bins * C)
        return torch.cat(pooled, dim=1) if len(pooled) > 1 else pooled[0]


def masked_max_pool(
    x: torch.Tensor, mask: torch.Tensor, width: int, pool: nn.MaxPool1d | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max-pool features ``(N, C, W)`` over windows of ``width`` positions, ignoring padding.

    Returns features ``(N, C, ceil(W / width))`` and their mask ``(N, ceil(W / width))`` (a
    window is valid if any of its positions is; padded windows are zero). Padding never wins a
    max, so the result does not depend on how much padding the batch added, whatever the signs.
    `pool`: the model's ``nn.MaxPool1d(width, ceil_mode=True)``, used when there is no padding (a
    module, so that DeepLIFT applies its max-pooling rule; `dnanet.interpret.deeplift`).
    """
    if width <= 1:
        return x, mask
    if bool(mask.all()):  # no padding: nothing to mask
        x = F.max_pool1d(x, width, ceil_mode=True) if pool is None else pool(x)
        return x, mask.new_ones(mask.shape[0], x.shape[-1])
    x = F.max_pool1d(x.masked_fill(~mask.unsqueeze(1), float("-inf")), width, ceil_mode=True)
    mask = F.max_pool1d(mask.unsqueeze(1).float(), width, ceil_mode=True).squeeze(1) > 0
    return x.masked_fill(~mask.unsqueeze(1), 0.0), mask


def zero_padding(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Features ``(N, C, W)`` with padded positions (``mask (N, W)`` false) set to zero; a batch
    without padding is returned as it is."""
    return x if bool(mask.all()) else x * mask.unsqueeze(1)


def prefix_mask(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid-position mask ``(N, W)`` -> (lengths int64 ``(N,)``, at least 1, and the prefix mask
    of those lengths ``(N, W)``). An all-padding row keeps its first position, so recurrent and
    attention layers always see one position (a zero feature vector) instead of none."""
    lengths = mask.sum(1).clamp(min=1)
    return lengths, torch.arange(mask.shape[1], device=mask.device) < lengths.unsqueeze(1)


class NoPositionsError(DnanetError):
    """Asked for per-position features of a model that has none (``has_positions = False``)."""


class SequenceModel(nn.Module):
    """The contract every model family keeps; subclasses build ``self.head`` and implement both:

    - ``features(codes (N, L)) -> (x float32 (N, C, W), mask bool (N, W))``: the per-position
      output of the trunk's last sequence layer and which positions are valid (what `dnanet
      embed --layer tokens` pools). A family without per-position features sets
      ``has_positions = False`` and its ``features`` raises `NoPositionsError`.
    - ``embed(codes (N, L)) -> (N, D)``: one vector per sequence, the trunk output the head reads.
    """

    head: nn.Module
    has_positions: bool = True

    def features(
        self, codes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed(self, codes: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, L)`` -> logits float32 ``(N, n_outputs)``."""
        return self.head(self.embed(codes))


def dense_readout(in_features: int, hidden: int) -> nn.Module:
    """Pooled features ``(N, in_features)`` -> the embedding ``(N, hidden)``: linear, then
    LeakyReLU (slope 0.01), so that no unit can die for good.

    Pooled ReLU features are all positive, so AdamW, which moves every weight by about the
    learning rate per step, shifts a unit's pre-activation by about lr x (sum of its inputs), a
    random walk whose ReLU floor is absorbing: with 1,280 inputs (CNN, 8 position bins) every unit
    died within the warm-up on a weak-motif set, every gradient became exactly 0 and the loss
    stayed at the class prior. A leaky unit below zero keeps a gradient, and AdamW's step does not
    shrink with it. Measured on planted 3-class sets (2-4 seeds on a GPU; test accuracy, weak /
    strong motifs, Bayes-optimal 0.74 / 0.89), CNN: ReLU 0.33 / 0.86, batch norm after the linear
    layer 0.62 / 0.80, LeakyReLU 0.69 / 0.86. The LSTM (tanh states, not all positive) never had
    the problem: ReLU 0.72 / 0.77, LeakyReLU 0.72 / 0.76; batch norm (0.66 / 0.85) cost it 0.04 on
    the promoter benchmarks (human promoter AUROC, E. coli sigma-type accuracy).
    """
    return nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.01))


def linear_head(embedding_dim: int, n_outputs: int, dropout: float) -> nn.Module:
    """The head every model uses: dropout, then one linear layer from the embedding to outputs."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(embedding_dim, n_outputs))
