"""A multilayer perceptron with ternary weights over k-mer counts: small enough to compile into a
chemical reaction network (`dnanet.crn`).

Features are non-negative, one per k-mer, in k-mer id order (``AAA, AAC, ..., TTT``): with
``features: count`` the number of times the k-mer occurs in the sequence (windows of ``k`` bases
every ``stride`` bases, from the start; a window with an unknown base or past the end is not
counted); with ``features: frequency`` that count divided by the number of counted windows. The
onehot encoder means k = 1 (base counts). Every weight is ternarised in the forward pass to -1, 0
or +1 (``sign(w)`` where ``|w| > 0.5``, else 0) with a straight-through gradient; biases stay real.
``ternary: false`` keeps float weights instead: the float MLP on identical features, for comparison.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.inputs.encode import kmer_ids
from dnanet.models.layers import NoPositionsError, SequenceModel

THRESHOLD = 0.5


def ternarise(weight: torch.Tensor) -> torch.Tensor:
    """Weights (any shape) -> values in {-1, 0, +1}; the gradient passes straight through."""
    hard = torch.sign(weight) * (weight.abs() > THRESHOLD)
    return weight + (hard - weight).detach()


def kmer_features(
    codes: torch.Tensor, k: int, stride: int, kind: str, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Codes uint8 ``(N, L)`` -> k-mer counts (``kind="count"``) or frequencies (``"frequency"``:
    counts over the number of counted windows, 0 for a sequence without one), ``(N, 4**k)``."""
    n_kmers = 4**k
    ids = kmer_ids(codes, k, stride)  # (N, W); ids >= 4**k are unknown/padding
    valid = ids < n_kmers
    counts = torch.zeros(ids.shape[0], n_kmers + 1, device=codes.device, dtype=dtype)
    counts.scatter_add_(1, torch.where(valid, ids, n_kmers), torch.ones_like(ids, dtype=dtype))
    counts = counts[:, :n_kmers]
    return counts if kind == "count" else counts / valid.sum(1, keepdim=True).clamp(min=1)


class TernaryLinear(nn.Linear):
    """``nn.Linear`` whose weight is ternarised in the forward pass (real bias); weights start
    U(-1, 1). With ``ternary=False`` it is a plain ``nn.Linear`` (default initialisation)."""

    def __init__(self, in_features: int, out_features: int, ternary: bool = True):
        self.ternary = ternary
        super().__init__(in_features, out_features)

    def reset_parameters(self) -> None:
        if not self.ternary:
            return super().reset_parameters()
        nn.init.uniform_(self.weight, -1.0, 1.0)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, ternarise(self.weight) if self.ternary else self.weight, self.bias)

    def ternary_weight(self) -> torch.Tensor:
        """The weight as used, int64 ``(out, in)`` in {-1, 0, 1} (ternary layers only)."""
        return ternarise(self.weight.detach()).round().long()


class TernaryMLP(SequenceModel):
    """k-mer features ``(N, 4**k)`` -> ``layers`` ReLU layers of ``hidden`` units (the embedding)
    -> a linear head; every weight ternary unless ``ternary=False``.
    ``input_features(codes (N, L)) -> (N, 4**k)``, ``embed(codes (N, L)) -> (N, hidden)``; no
    per-position features (``has_positions = False``)."""

    has_positions = False

    def __init__(
        self,
        n_outputs: int,
        encoder: str = "kmer",
        k: int = 3,
        stride: int = 1,
        hidden: int = 16,
        layers: int = 1,
        features: Literal["count", "frequency"] = "frequency",
        ternary: bool = True,
    ):
        super().__init__()
        if hidden < 1 or layers < 1:
            raise ValueError("ternary_mlp: hidden and layers must be at least 1")
        if encoder not in ("onehot", "kmer"):
            raise ValueError(f"unknown encoder '{encoder}'; valid encoders: onehot, kmer")
        if features not in ("count", "frequency"):
            raise ValueError(f"ternary_mlp: features must be count or frequency, got {features!r}")
        self.k, self.stride = (1, 1) if encoder == "onehot" else (k, stride)
        self.n_features, self.feature_kind, self.ternary = 4**self.k, features, ternary
        sizes = [self.n_features] + [hidden] * layers
        self.layers = nn.ModuleList(TernaryLinear(a, b, ternary) for a, b in zip(sizes, sizes[1:]))
        self.embedding_dim = hidden
        self.head = TernaryLinear(hidden, n_outputs, ternary)

    def features(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """No per-position features: the network sees k-mer counts of the whole sequence."""
        raise NoPositionsError(
            "ternary_mlp has no per-position features: it reads k-mer counts of the whole "
            "sequence (use its embedding instead)"
        )

    def input_features(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> k-mer counts or frequencies ``(N, 4**k)`` in the head's
        dtype."""
        return kmer_features(codes, self.k, self.stride, self.feature_kind, self.head.weight.dtype)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> the last hidden layer's ReLU output ``(N, hidden)``."""
        return self.embed_features(self.input_features(codes))

    def embed_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 4**k)`` -> ``(N, hidden)``."""
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 4**k)`` -> raw outputs (logits) ``(N, n_outputs)``: what the network
        computes."""
        return self.head(self.embed_features(x))
