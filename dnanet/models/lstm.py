"""A bidirectional LSTM: an optional convolution front-end, a BiLSTM that reads only each
sequence's valid positions, masked global mean+max pooling, a dense layer (the embedding), and
a linear head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dnanet.models.layers import (
    Borrowed,
    MaskedPooling,
    SequenceInput,
    SequenceModel,
    dense_readout,
    linear_head,
    masked_max_pool,
    prefix_mask,
    zero_padding,
)


class LSTM(SequenceModel):
    """Convolution (motif detectors) -> max-pool -> BiLSTM (their order and spacing) -> pooling.

    The front-end (``conv_channels`` filters ``conv_kernel`` wide, ReLU, max-pool by ``pool``)
    finds motifs and shortens the sequence ``pool``-fold, which is what makes the recurrent part
    affordable on a CPU; ``conv_channels: 0`` feeds the input features straight to the LSTM
    (then ``pool`` still applies). The LSTM is packed with each sequence's own length, so padding
    is never read in either direction. The states are read out by `MaskedPooling` (global mean +
    max, and with ``position_bins`` > 0 the max within equal stretches: where a signal sits).
    ``embed(codes (N, L)) -> (N, hidden)``.
    """

    def __init__(
        self,
        n_outputs: int,
        encoder: str = "onehot",
        k: int = 6,
        stride: int = 1,
        kmer_dim: int = 64,
        conv_channels: int = 128,
        conv_kernel: int = 15,
        pool: int = 4,
        lstm_size: int = 64,
        layers: int = 1,
        position_bins: int = 0,
        hidden: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__()
        if (
            min(conv_kernel, pool, lstm_size, layers, hidden) < 1
            or min(conv_channels, position_bins) < 0
        ):
            raise ValueError(
                "lstm: conv_kernel, pool, lstm_size, layers and hidden must be at least 1, "
                "conv_channels and position_bins at least 0"
            )
        self.input = SequenceInput(encoder, k, stride, kmer_dim)
        features = self.input.channels
        self.conv: nn.Module | None = None
        if conv_channels:
            self.conv = nn.Sequential(
                nn.Conv1d(features, conv_channels, conv_kernel, padding="same"), nn.ReLU()
            )
            features = conv_channels
        self.pool, self.dropout = pool, nn.Dropout(dropout)
        self.max_pool = nn.MaxPool1d(pool, ceil_mode=True)  # no weights: DeepLIFT's rule applies
        self.lstm = nn.LSTM(
            features,
            lstm_size,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.states = LstmStates(self.lstm)
        self.feature_channels = 2 * lstm_size  # C of `features` (both directions)
        self.pooling = MaskedPooling(2 * lstm_size, position_bins)
        self.dense = dense_readout(self.pooling.out_features, hidden)
        self.embedding_dim = hidden
        self.head = linear_head(hidden, n_outputs, dropout)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> embeddings float32 ``(N, hidden)``."""
        states, mask = self.features(codes)  # (N, 2 * lstm_size, W'), (N, W')
        return self.dense(
            self.pooling(self.dropout(states), mask)
        )  # (N, (2 + bins) * 2 * lstm_size) -> (N, hidden)

    def features(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``(N, L)`` -> BiLSTM states ``(N, 2 * lstm_size, W')`` (both directions, zero at
        padding) and their mask ``(N, W')``."""
        x, mask = self.input(codes)  # (N, C, W), (N, W)
        if self.conv is not None:
            x = zero_padding(self.conv(x), mask)  # padded positions stay zero
        x, mask = masked_max_pool(x, mask, self.pool, self.max_pool)  # (N, C', W'), (N, W')
        states = self.read(self.dropout(x).transpose(1, 2), mask)  # (N, W', 2 * lstm_size)
        return states.transpose(1, 2), mask

    def read(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Run the BiLSTM over features ``(N, W, C)`` with a prefix mask ``(N, W)``: each row is
        read only up to its own length (forward from its start, backward from its end).
        Returns states ``(N, W, 2 * lstm_size)``, zero at padded positions."""
        if bool(mask.all()):  # no padding: the LSTM reads every row whole
            return self.states(x)
        lengths, _ = prefix_mask(mask)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=x.shape[1])
        return states


class LstmStates(Borrowed):
    """The model's BiLSTM over features without padding ``(N, W, C)`` -> its states ``(N, W,
    2 * lstm_size)``: one module of one input, so that DeepLIFT can give the recurrence a rule."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)[0]
