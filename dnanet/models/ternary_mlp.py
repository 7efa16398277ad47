"""A multilayer perceptron with ternary weights over k-mer frequencies: small enough to compile
into a chemical reaction network (`dnanet.crn`).

Features are non-negative: each k-mer's count divided by the number of valid k-mer windows of
the sequence (windows with an unknown base or padding are not counted; the onehot encoder means
k = 1, base frequencies). Every weight is ternarised in the forward pass to -1, 0 or +1
(``sign(w)`` where ``|w| > 0.5``, else 0) with a straight-through gradient; biases stay real.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.encode import kmer_ids
from dnanet.models.layers import SequenceModel

THRESHOLD = 0.5


def ternarise(weight: torch.Tensor) -> torch.Tensor:
    """Weights (any shape) -> values in {-1, 0, +1}; the gradient passes straight through."""
    hard = torch.sign(weight) * (weight.abs() > THRESHOLD)
    return weight + (hard - weight).detach()


class TernaryLinear(nn.Linear):
    """``nn.Linear`` whose weight is ternarised in the forward pass (real bias); weights start U(-1, 1)."""

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.weight, -1.0, 1.0)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, ternarise(self.weight), self.bias)

    def ternary_weight(self) -> torch.Tensor:
        """The weight as used, int64 ``(out, in)`` in {-1, 0, 1}."""
        return ternarise(self.weight.detach()).round().long()


class TernaryMLP(SequenceModel):
    """k-mer frequencies ``(N, 4**k)`` -> ``layers`` ternary ReLU layers of ``hidden`` units (the
    embedding) -> a ternary linear head. ``embed(codes (N, L)) -> (N, hidden)``."""

    def __init__(self, n_outputs: int, encoder: str = "kmer", k: int = 3, stride: int = 1,
                 hidden: int = 16, layers: int = 1):
        super().__init__()
        if hidden < 1 or layers < 1:
            raise ValueError("ternary_mlp: hidden and layers must be at least 1")
        if encoder not in ("onehot", "kmer"):
            raise ValueError(f"unknown encoder '{encoder}'; valid encoders: onehot, kmer")
        self.k, self.stride = (1, 1) if encoder == "onehot" else (k, stride)
        self.n_features = 4**self.k
        sizes = [self.n_features] + [hidden] * layers
        self.layers = nn.ModuleList(TernaryLinear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.embedding_dim = hidden
        self.head = TernaryLinear(hidden, n_outputs)

    def features(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> k-mer frequencies float32 ``(N, 4**k)`` (rows sum to 1, or 0
        for a sequence without a valid k-mer)."""
        ids = kmer_ids(codes, self.k, self.stride)  # (N, W); ids >= 4**k are unknown/padding
        valid = ids < self.n_features
        counts = torch.zeros(ids.shape[0], self.n_features + 1, device=codes.device, dtype=self.head.weight.dtype)
        counts.scatter_add_(1, torch.where(valid, ids, self.n_features), torch.ones_like(ids, dtype=counts.dtype))
        return counts[:, : self.n_features] / valid.sum(1, keepdim=True).clamp(min=1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> the last hidden layer's ReLU output float32 ``(N, hidden)``."""
        return self.embed_features(self.features(codes))

    def embed_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 4**k)`` -> ``(N, hidden)``."""
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
