"""A 1-D convolutional network: stacked conv blocks, masked global mean+max pooling, a dense
layer (the embedding), and a linear head."""

from __future__ import annotations

import torch
from torch import nn

from dnanet.models.layers import (
    MaskedPooling,
    SequenceInput,
    SequenceModel,
    dense_readout,
    linear_head,
    masked_max_pool,
    zero_padding,
)


class CNN(SequenceModel):
    """Conv blocks (conv, batch norm, ReLU, max-pool between blocks) over one-hot bases or
    embedded k-mers.

    ``first_kernel`` should span a motif (15 covers most transcription-factor sites); later
    blocks (``kernel`` wide, after pooling by ``pool``) combine motifs over a wider range. The last
    block is read out by `MaskedPooling`: global mean + max and, with ``position_bins`` > 0, the
    max within that many equal stretches of each sequence (where a signal sits).
    ``embed(codes (N, L)) -> (N, hidden)``.
    """

    def __init__(
        self,
        n_outputs: int,
        encoder: str = "onehot",
        k: int = 6,
        stride: int = 1,
        kmer_dim: int = 64,
        channels: int = 128,
        first_kernel: int = 15,
        kernel: int = 5,
        layers: int = 3,
        pool: int = 2,
        position_bins: int = 0,
        hidden: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__()
        if (
            layers < 1
            or channels < 1
            or hidden < 1
            or first_kernel < 1
            or kernel < 1
            or pool < 1
            or position_bins < 0
        ):
            raise ValueError(
                "cnn: layers, channels, hidden, kernels and pool must be at least 1, "
                "position_bins at least 0"
            )
        self.input = SequenceInput(encoder, k, stride, kmer_dim)
        widths = [first_kernel] + [kernel] * (layers - 1)
        in_channels = [self.input.channels] + [channels] * (layers - 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(c, channels, w, padding="same"), nn.BatchNorm1d(channels), nn.ReLU()
            )
            for c, w in zip(in_channels, widths)
        )
        self.pool, self.dropout = pool, nn.Dropout(dropout)
        self.max_pool = nn.MaxPool1d(pool, ceil_mode=True)  # no weights: DeepLIFT's rule applies
        self.feature_channels = channels  # C of `features`, known without running (meta device)
        self.pooling = MaskedPooling(channels, position_bins)
        self.dense = dense_readout(self.pooling.out_features, hidden)
        self.embedding_dim = hidden
        self.head = linear_head(hidden, n_outputs, dropout)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> embeddings float32 ``(N, hidden)``."""
        x, mask = self.features(codes)  # (N, channels, W'), (N, W')
        return self.dense(self.pooling(x, mask))  # (N, (2 + bins) * channels) -> (N, hidden)

    def features(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``(N, L)`` -> the last conv block's output ``(N, channels, W')`` and its mask
        ``(N, W')``."""
        x, mask = self.input(codes)  # (N, C, W), (N, W)
        for index, block in enumerate(self.blocks):
            x = zero_padding(block(x), mask)  # padded positions stay zero
            if index < len(self.blocks) - 1:
                x, mask = masked_max_pool(x, mask, self.pool, self.max_pool)
            x = self.dropout(x)
        return x, mask
