"""A transformer encoder: a convolution stem (or a projection of k-mer embeddings) makes tokens,
positions are added, pre-norm self-attention layers mix them, and a [CLS] token or a masked
mean pools each sequence into its embedding. Sequences longer than ``max_len`` tokens are cut
into windows ("chunk and pool", see `Transformer`)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.models.layers import (
    Borrowed,
    SequenceInput,
    SequenceModel,
    dense_readout,
    linear_head,
    masked_bin_max,
    masked_max_pool,
    prefix_mask,
    zero_padding,
)
from dnanet.models.token_windows import masked_window_mean, split_windows

POOLINGS = ("cls", "mean")
POSITIONS = ("learned", "sinusoidal")


class Transformer(SequenceModel):
    """Tokens -> positions -> ``layers`` pre-norm encoder layers -> [CLS] or masked mean.

    Tokens: one-hot bases go through a ``stem_kernel``-wide convolution to ``d_model`` channels
    (GELU); embedded k-mers are projected to ``d_model``; both are then max-pooled by
    ``stem_pool``. A token is thus ``stem_pool`` bases (one-hot) or ``stem_pool`` k-mer windows.

    Long sequences ("chunk and pool"): ``max_len`` is the most tokens one encoder pass sees
    (positions 0..max_len-1). A longer sequence is neither refused nor truncated: its tokens are
    cut into windows of ``max_len`` (consecutive windows share ``overlap`` tokens), each window
    is encoded as its own batch row with its own [CLS] and positions restarting at 0, and the
    sequence's embedding is the mean of its window embeddings weighted by their numbers of valid
    tokens. Attention never crosses a window boundary (the stem's convolution does).

    Attention dropout is off by default (``attention_dropout``): on a CPU it multiplies the cost
    and memory of attention; ``dropout`` still acts on the residual branches and the head.
    ``embed(codes (N, L)) -> (N, d_model)``; ``attention_weights`` gives each layer's attention.
    """

    def __init__(
        self,
        n_outputs: int,
        encoder: str = "onehot",
        k: int = 6,
        stride: int = 1,
        kmer_dim: int = 64,
        d_model: int = 128,
        heads: int = 4,
        layers: int = 2,
        ff_dim: int = 256,
        stem_kernel: int = 15,
        stem_pool: int = 4,
        max_len: int = 512,
        overlap: int = 0,
        pooling: str = "cls",
        position_bins: int = 0,
        positions: str = "learned",
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
    ):
        super().__init__()
        _check_arguments(
            d_model,
            heads,
            layers,
            ff_dim,
            stem_kernel,
            stem_pool,
            max_len,
            overlap,
            pooling,
            positions,
        )
        if position_bins < 0:
            raise ValueError(f"transformer: position_bins must be at least 0, not {position_bins}")
        self.input = SequenceInput(encoder, k, stride, kmer_dim)
        kernel = stem_kernel if encoder == "onehot" else 1  # k-mers: a per-token projection
        self.stem = nn.Sequential(
            nn.Conv1d(self.input.channels, d_model, kernel, padding="same"), nn.GELU()
        )
        self.stem_pool, self.max_len, self.overlap, self.pooling = (
            stem_pool,
            max_len,
            overlap,
            pooling,
        )
        if positions == "learned":
            self.positions = nn.Parameter(
                torch.randn(max_len, d_model) * 0.02
            )  # (max_len, d_model)
        else:
            self.register_buffer("positions", sinusoids(max_len, d_model), persistent=False)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02) if pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(
            d_model, heads, ff_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        for block in self.encoder.layers:
            block.self_attn.dropout = attention_dropout  # residual dropout stays `dropout`
        self.window_encoder = WindowEncoder(self.encoder)
        self.max_pool = nn.MaxPool1d(stem_pool, ceil_mode=True)  # DeepLIFT's rule applies
        self.dropout = nn.Dropout(dropout)
        self.position_bins = position_bins
        self.readout = (
            dense_readout((1 + position_bins) * d_model, d_model) if position_bins else None
        )
        self.embedding_dim = d_model
        self.feature_channels = d_model  # C of `features`, known without running (meta device)
        self.head = linear_head(d_model, n_outputs, dropout)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> embeddings float32 ``(N, d_model)`` (chunk and pool); with
        ``position_bins``, the [CLS]/mean vector and the token outputs' max within each equal
        stretch of the sequence, through a dense layer."""
        if self.position_bins:
            return self.embed_with_positions(codes)
        tokens, mask = self.tokens(codes)  # (N, T, d), (N, T)
        windows, masks, weights = split_windows(
            tokens, mask, self.max_len, self.overlap
        )  # (N, n, t, d)
        keep = (weights > 0).flatten()  # the windows that hold new tokens of their sequence
        used = int(masks.sum(-1).max())  # drop columns that are padding in every window
        encoded = self.encode_windows(
            windows.flatten(0, 1)[keep, :used], masks.flatten(0, 1)[keep, :used]
        )
        rows = keep.nonzero().squeeze(1)
        per_window = encoded.new_zeros(keep.shape[0], encoded.shape[1]).index_copy(
            0, rows, encoded
        )  # (N * n, d)
        weights = weights.to(encoded.dtype).unsqueeze(-1)  # (N, n, 1)
        return (per_window.view(*weights.shape[:2], -1) * weights).sum(1) / weights.sum(1)

    def embed_with_positions(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, L)`` -> ``(N, d_model)``: each window encoded once; its [CLS]/mean vectors
        averaged as in `embed` ``(N, d)``, its token outputs put back in order ``(N, d, T)`` and
        max-pooled within ``position_bins`` stretches ``(N, bins * d)``; both through
        ``readout``."""
        tokens, mask = self.tokens(codes)  # (N, T, d), (N, T)
        windows, masks, weights = split_windows(
            tokens, mask, self.max_len, self.overlap
        )  # (N, n, t, d)
        outputs, filled = self.encode_filled(windows, masks)
        summary = (
            outputs[:, 0]
            if self.pooling == "cls"
            else masked_window_mean(outputs, masks.flatten(0, 1)[filled])
        )
        per_window = summary.new_zeros(filled.shape[0], summary.shape[1])
        per_window[filled] = summary  # (N * n, d)
        weights = weights.to(summary.dtype).unsqueeze(-1)  # (N, n, 1)
        pooled = (per_window.view(*weights.shape[:2], -1) * weights).sum(1) / weights.sum(
            1
        )  # (N, d)
        token_outputs = self.reassemble(
            outputs, filled, windows, masks, tokens.shape[1]
        )  # (N, d, T)
        binned = masked_bin_max(token_outputs, mask, self.position_bins)  # (N, bins * d)
        return self.readout(torch.cat([pooled, binned], dim=1))

    def encode_filled(
        self, windows: torch.Tensor, masks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode every window ``(N, n, t, d)`` that holds at least one token (mask ``(N, n, t)``)
        -> encoder outputs ``(B, t', d)`` of those windows and which windows they are
        ``(N * n,)``."""
        flat_masks = masks.flatten(0, 1)
        filled = flat_masks.any(1)  # windows with at least one token (others stay zero)
        outputs, _ = self.encode_tokens(windows.flatten(0, 1)[filled], flat_masks[filled])
        return outputs, filled

    def reassemble(
        self,
        outputs: torch.Tensor,
        filled: torch.Tensor,
        windows: torch.Tensor,
        masks: torch.Tensor,
        length: int,
    ) -> torch.Tensor:
        """Encoder outputs of the filled windows ``(B, t', d)`` -> token outputs in sequence order
        ``(N, d, T)`` ([CLS] left out, overlaps taken from the earlier window, padding zero)."""
        encoded = outputs.new_zeros(
            windows.flatten(0, 1).shape
        )  # the outputs' dtype (16-bit under autocast)
        encoded[filled] = outputs[:, 1:] if self.pooling == "cls" else outputs
        encoded = encoded.view(windows.shape) * masks.unsqueeze(-1)  # (N, n, t, d)
        parts = [encoded[:, 0]] + [
            encoded[:, i, self.overlap :] for i in range(1, encoded.shape[1])
        ]
        return torch.cat(parts, dim=1)[:, :length].transpose(1, 2)

    def tokens(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes uint8 ``(N, L)`` -> tokens float32 ``(N, T, d_model)`` and their prefix mask
        bool ``(N, T)`` (every row has at least one valid token), before positions are added."""
        x, mask = self.input(codes)  # (N, C, W), (N, W)
        x = zero_padding(self.stem(x), mask)  # (N, d, W)
        x, mask = masked_max_pool(x, mask, self.stem_pool, self.max_pool)  # (N, d, T), (N, T)
        return self.dropout(x.transpose(1, 2)), prefix_mask(mask)[1]

    def encode_windows(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode windows of at most ``max_len`` tokens ``(B, t, d)`` with a prefix mask ``(B, t)``
        (at least one valid token per row) -> one vector per window ``(B, d)``."""
        x, mask = self.encode_tokens(tokens, mask)  # (B, t', d), (B, t')
        if self.pooling == "cls":
            return x[:, 0]
        return masked_window_mean(x, mask)

    def encode_tokens(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``(B, t, d)`` + prefix mask ``(B, t)`` -> the encoder's outputs ``(B, t', d)``
        and mask ``(B, t')``, where ``t' = t + 1`` with a [CLS] token first (``pooling: cls``)."""
        x, mask = self.encoder_input(tokens, mask)  # (B, t', d), (B, t')
        with fastpath_disabled():
            self.window_encoder.padding = ~mask
            return self.window_encoder(x), mask

    def encoder_input(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``(B, t, d)`` + prefix mask ``(B, t)`` -> what the first encoder layer reads:
        tokens with positions added ``(B, t', d)`` and their mask ``(B, t')`` (a [CLS] token first
        with ``pooling: cls``)."""
        x = tokens + self.positions[: tokens.shape[1]]  # (B, t, d)
        if self.pooling == "cls":
            x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1)  # (B, 1 + t, d)
            mask = F.pad(mask, (1, 0), value=True)
        return x, mask

    def attention_weights(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Windows ``(B, t, d)`` + prefix mask ``(B, t)`` -> each encoder layer's attention weights,
        head by head, ``(B, heads, t', t')`` (rows: queries, columns: keys; [CLS] first with
        ``pooling: cls``), and the mask ``(B, t')``. `nn.TransformerEncoderLayer` does not return
        its weights, so each layer's ``self_attn`` is run again on the layer's (normed) input with
        ``need_weights=True``, and the layer itself advances the hidden state."""
        x, mask = self.encoder_input(tokens, mask)  # (B, t', d), (B, t')
        padding, maps = ~mask, []
        with fastpath_disabled():
            for layer in self.encoder.layers:
                h = layer.norm1(x) if layer.norm_first else x
                _, weights = layer.self_attn(
                    h, h, h, key_padding_mask=padding, need_weights=True, average_attn_weights=False
                )  # (B, heads, t', t')
                maps.append(weights)
                x = layer(x, src_key_padding_mask=padding)
        return maps, mask

    def features(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``(N, L)`` -> the last encoder layer's token outputs ``(N, d_model, T)`` (windows
        of a long sequence put back in order; [CLS] left out) and the token mask ``(N, T)``."""
        tokens, mask = self.tokens(codes)  # (N, T, d), (N, T)
        windows, masks, _ = split_windows(
            tokens, mask, self.max_len, self.overlap
        )  # (N, n, t, d), (N, n, t)
        outputs, filled = self.encode_filled(windows, masks)
        return self.reassemble(outputs, filled, windows, masks, tokens.shape[1]), mask


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """Fixed sinusoidal position codes ``(length, dim)``: sines and cosines of geometrically
    spaced wavelengths (2π to ~10000·2π positions)."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (length, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return codes


@contextmanager
def fastpath_disabled() -> Iterator[None]:
    """Run PyTorch's plain attention path: its fused inference "fast path" was slower on CPU
    here and rounds differently, which would make outputs depend on batch padding."""
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def _check_arguments(
    d_model: int,
    heads: int,
    layers: int,
    ff_dim: int,
    stem_kernel: int,
    stem_pool: int,
    max_len: int,
    overlap: int,
    pooling: str,
    positions: str,
) -> None:
    if min(d_model, heads, layers, ff_dim, stem_kernel, stem_pool, max_len) < 1:
        raise ValueError(
            "transformer: d_model, heads, layers, ff_dim, stem_kernel, stem_pool and max_len "
            "must be at least 1"
        )
    if d_model % heads:
        raise ValueError(f"transformer: d_model ({d_model}) must be a multiple of heads ({heads})")
    if not 0 <= overlap < max_len:
        raise ValueError(
            f"transformer: overlap ({overlap}) must be at least 0 and below max_len ({max_len})"
        )
    if pooling not in POOLINGS:
        raise ValueError(f"transformer: unknown pooling '{pooling}'; valid: {', '.join(POOLINGS)}")
    if positions not in POSITIONS:
        raise ValueError(
            f"transformer: unknown positions '{positions}'; valid: {', '.join(POSITIONS)}"
        )


class WindowEncoder(Borrowed):
    """The model's encoder over windows ``(B, t, d)`` -> ``(B, t, d)``, their padding ``(B, t)``
    (True: padded) set as ``.padding`` before the call: one tensor input, so that DeepLIFT can
    give attention a rule (integrated gradients). Called with more rows than the padding has (the
    rule's path points, from a pass whose rows are all of one length), the padding is repeated."""

    padding: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = self.padding
        if len(x) != len(padding):
            padding = padding[:1].expand(len(x), -1)
        return self.layer(x, src_key_padding_mask=padding)
