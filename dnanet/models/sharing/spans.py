"""The trunk of a shareable CNN as feature maps of sources, and the spans of items carried
through it: convolution by convolution, max-pool by max-pool (`dnanet.models.sharing`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.inputs.encode import one_hot
from dnanet.models.cnn import CNN

INF = float("inf")


ITEMS_PER_PASS = 512  # items (mutants, windows) whose spans are computed together


@dataclass(frozen=True)
class ConvLayer:
    """One conv block of the trunk: ``block`` (conv, batch norm, ReLU), how far its
    convolution reads to the ``left`` and ``right`` of a position (``"same"`` padding), and the
    max-pool width after it (1 after the last block)."""

    block: nn.Sequential
    left: int
    right: int
    pool: int

    @property
    def kernel(self) -> int:
        return self.left + self.right + 1


@dataclass
class SourceMaps:
    """The feature maps of S sources, each padded by `margin` positions at both ends (zeros
    before a convolution, -inf before a max-pool, so that reading past a source's end reads its
    padding): ``inputs[l]`` ``(S, C_l, N_l + 2 margin)`` is what block l reads (the one-hot
    input, then each pooled block output) and ``blocks[l]`` ``(S, C, N_l + 2 margin)`` block l's
    output before its pooling; ``before_relu[l]`` (`Mutants` only) block l's output before its
    ReLU."""

    inputs: list[torch.Tensor]
    blocks: list[torch.Tensor]
    margin: int
    before_relu: list[torch.Tensor] | None = None

    def last(self, source: int = 0) -> torch.Tensor:
        """The last block's output of one source, unpadded ``(C, N')``."""
        return self.last_all()[source]

    def last_all(self) -> torch.Tensor:
        """The last block's output of every source, unpadded ``(S, C, N')``."""
        return self.blocks[-1][:, :, self.margin : self.blocks[-1].shape[2] - self.margin]


@dataclass(frozen=True)
class Items:
    """M items, each `width` positions of source ``sources[m]`` from ``offsets[m]`` on (int64
    ``(M,)``), zero-padded at its own ends as the model pads any input."""

    sources: torch.Tensor
    offsets: torch.Tensor
    width: int

    def pooled(self, pool: int) -> Items:
        """The same items after a max-pool of width `pool` (ceil mode)."""
        return Items(self.sources, self.offsets // pool, -(-self.width // pool))

    def read(self, padded, margin, spans, first, size, fill) -> torch.Tensor:
        """Values ``(M, C, size)`` of each item's map at positions ``first[m]`` ``+ 0 .. size``:
        `fill` outside ``[0, width)`` (the item's own padding), the `spans`' values inside them,
        else the source's (`padded` ``(S, C, N + 2 margin)``, a `SourceMaps` map)."""
        windows = padded.unfold(2, size, 1)  # (S, C, N + 2 margin - size + 1, size), a view
        x = windows[self.sources, :, self.offsets + first + margin]  # (M, C, size)
        ends = torch.nonzero((first < 0) | (first + size > self.width))[:, 0]
        if len(ends) == len(first):  # every item: one pass over the whole batch
            positions = first[:, None] + torch.arange(size, device=first.device)
            invalid = (positions < 0) | (positions >= self.width)
            x = x.masked_fill(invalid[:, None, :], fill)
        elif len(ends):  # items whose own padding (an end) lies inside their source
            positions = first[ends, None] + torch.arange(size, device=first.device)
            invalid = (positions < 0) | (positions >= self.width)
            x[ends] = x[ends].masked_fill(invalid[:, None, :], fill)
        for span in spans:
            x = span.put_over(x, first)
        return x


@dataclass
class Span:
    """Computed values ``(M, C, D)`` of each of M items at positions ``starts (M,)`` ``+ 0 ..
    D`` of one feature map; everything else of the map equals the item's source. A `tight`
    span (an item's end: the same place in every item) is carried through exactly as wide as
    it must be; any other (a mutant's) as wide as it can be at any position, so that an item's
    values never depend on the other items of its batch."""

    values: torch.Tensor
    starts: torch.Tensor
    tight: bool = False

    @property
    def width(self) -> int:
        return self.values.shape[2]

    def put_over(self, x: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        """Values ``(M, C, U)`` read from ``first (M,)`` on, with this span's values where it
        lies."""
        relative = self.starts - first  # (M,)
        size = x.shape[2]
        if self.width == 0 or bool(((relative + self.width <= 0) | (relative >= size)).all()):
            return x
        steps = torch.arange(self.width, device=first.device)
        if bool(((relative >= 0) & (relative + self.width <= size)).all()):  # inside: scatter
            index = (relative[:, None] + steps)[:, None, :].expand(-1, x.shape[1], -1)
            return x.scatter_(2, index, self.values)
        positions = torch.arange(size, device=first.device) - relative[:, None]  # (M, U)
        inside = (positions >= 0) & (positions < self.width)
        index = positions.clamp(0, self.width - 1)[:, None, :].expand(-1, x.shape[1], -1)
        return torch.where(inside[:, None, :], self.values.gather(2, index), x)


def shares_computation(model: nn.Module) -> bool:
    """Whether `model` is a CNN whose computation can be shared exactly: one-hot input and
    plain convolutions (stride 1, no dilation or groups, zero ``"same"`` padding)."""
    if type(model) is not CNN or model.input.encoder != "onehot":
        return False
    for block in model.blocks:
        conv = block[0]
        kinds = [type(module) for module in block]
        if kinds != [nn.Conv1d, nn.BatchNorm1d, nn.ReLU] or not block[1].track_running_stats:
            return False
        if (
            conv.stride != (1,)
            or conv.dilation != (1,)
            or conv.groups != 1
            or conv.padding != "same"
            or conv.padding_mode != "zeros"
        ):
            return False
    return True


def conv_layers(model: CNN) -> list[ConvLayer]:
    """The trunk of `model` as `ConvLayer` s (`shares_computation` must hold)."""
    layers = []
    for index, block in enumerate(model.blocks):
        total = block[0].kernel_size[0] - 1  # torch's "same": the extra one goes right
        pool = model.pool if index < len(model.blocks) - 1 else 1
        layers.append(ConvLayer(block, total // 2, total - total // 2, pool))
    return layers


def phase_period(model: CNN) -> int:
    """The product of the pool widths: windows whose starts differ by a multiple of it share
    the pooling grid, and so one source."""
    return math.prod(layer.pool for layer in conv_layers(model))


def source_maps(model: CNN, codes: torch.Tensor, before_relu: bool = False) -> SourceMaps:
    """Every block's input and output for codes ``(S, N)`` without padding, as
    `CNN.features` computes them in eval mode (dropout off), padded (`SourceMaps`); with
    `before_relu` also each block's output before its ReLU."""
    layers = conv_layers(model)
    margin = max(max(layer.kernel, layer.pool) for layer in layers)
    x = one_hot(codes)  # (S, 4, N)
    maps = SourceMaps([F.pad(x, (margin, margin))], [], margin, [] if before_relu else None)
    for layer in layers:
        linear = layer.block[:-1](x)  # convolution, batch norm (S, C, N_l)
        x = layer.block[-1](linear)  # ReLU
        if before_relu:
            maps.before_relu.append(F.pad(linear, (margin, margin)))
        maps.blocks.append(F.pad(x, (margin, margin), value=float("-inf")))
        if layer.pool > 1:
            x = model.max_pool(x)  # ceil mode
            maps.inputs.append(F.pad(x, (margin, margin)))
    return maps


def item_spans(
    model: CNN, maps: SourceMaps, items: Items, spans: list[Span]
) -> tuple[list[Span], Items]:
    """The items' spans in the last block's output, and the items there (everything else of
    an item's last map is its source's). The input `spans` are one-hot bases ``(M, 4, D)`` put
    over the items, or empty (``D = 0``) spans that mark where an item's ends cut its source;
    offsets must be multiples of `phase_period`."""
    for index, layer in enumerate(conv_layers(model)):
        if index and maps.before_relu is not None and len(spans) == 1 and spans[0].width:
            spans = [_changed_span(layer, maps, index, items, spans[0])]
        else:
            spans = [_conv_span(layer, maps, index, items, spans, span) for span in spans]
        if layer.pool > 1:
            spans = [_pool_span(layer.pool, maps, index, items, spans, span) for span in spans]
            items = items.pooled(layer.pool)
    return spans, items


def _conv_span(layer, maps, index, items: Items, spans, span: Span) -> Span:
    """`span` carried through `layer`'s convolution: the outputs whose receptive field touches
    it (an empty span at an item's end: those that reach past the end), computed from the block
    input (source values with every span put over them)."""
    low = (span.starts - layer.right).clamp(min=0)
    if span.tight:
        high = (span.starts + span.width - 1 + layer.left).clamp(max=items.width - 1)
        size = int((high - low + 1).max()) if len(low) else 0
    else:
        size = min(span.width + layer.kernel - 1, items.width)
    starts = low.clamp(max=items.width - size)
    conv = layer.block[0]
    if size <= 0:  # an empty span through a 1-wide convolution stays empty
        empty = maps.blocks[index].new_zeros(len(starts), conv.out_channels, 0)
        return Span(empty, starts, span.tight)
    first, reach = starts - layer.left, size + layer.kernel - 1
    x = items.read(maps.inputs[index], maps.margin, spans, first, reach, 0.0)
    values = layer.block[1:](F.conv1d(x, conv.weight, conv.bias))  # (M, C, size)
    return Span(values, starts, span.tight)


def _changed_span(layer: ConvLayer, maps: SourceMaps, index: int, items: Items, span: Span):
    """`_conv_span` for an item with one changed span, through the change alone: the
    convolution is linear, so the outputs it touches are the source's (before the ReLU) plus the
    transposed convolution of the change, ``D`` input positions where `_conv_span` reads ``D + 2
    (kernel - 1)`` (a third fewer multiplications for the shipped CNN)."""
    conv, norm, relu = layer.block
    source = items.read(maps.inputs[index], maps.margin, [], span.starts, span.width, 0.0)
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # batch norm, eval mode
    flipped = (conv.weight * scale[:, None, None]).flip(-1).transpose(0, 1)
    change = F.conv_transpose1d(span.values - source, flipped)  # (M, C, D + kernel - 1)
    size = min(span.width + layer.kernel - 1, items.width)
    reached = span.starts - layer.right  # where `change` starts
    starts = reached.clamp(0, items.width - size)
    before = items.read(maps.before_relu[index], maps.margin, [], starts, size, 0.0)
    moved = torch.nonzero(starts != reached)[:, 0]  # items at a sequence end: `change` shifts
    if len(moved) or change.shape[2] != size:
        aligned = change[:, :, :size].clone()
        shift = (starts - reached + size)[moved, None] + torch.arange(size, device=starts.device)
        padded = F.pad(change[moved], (size, size))
        aligned[moved] = padded.gather(2, shift[:, None, :].expand(-1, change.shape[1], -1))
        change = aligned
    return Span(relu(before + change), starts)


def _pool_span(pool: int, maps, index, items: Items, spans, span: Span) -> Span:
    """`span` carried through a max-pool of width `pool` (ceil mode): the pooled positions
    whose group touches it, and the last, partial group of an item that ends there."""
    pooled_width = -(-items.width // pool)
    low = span.starts // pool
    if not span.tight:
        size = min((span.width - 1) // pool + 2, pooled_width)
    elif span.width:
        size = int(((span.starts + span.width - 1) // pool - low + 1).max()) if len(low) else 0
    else:  # an empty end: only a partial last group changes
        partial = (span.starts >= items.width) & (items.width % pool != 0)
        low = torch.where(partial, pooled_width - 1, low)
        high = torch.where(partial, pooled_width - 1, low - 1)
        size = int((high - low + 1).max()) if len(low) else 0
    starts = low.clamp(min=0, max=pooled_width - max(size, 0))
    if size <= 0:
        empty = maps.blocks[index].new_zeros(len(starts), span.values.shape[1], 0)
        return Span(empty, starts, span.tight)
    first = starts * pool
    x = items.read(maps.blocks[index], maps.margin, spans, first, size * pool, -INF)
    return Span(x.view(x.shape[0], x.shape[1], size, pool).amax(-1), starts, span.tight)
