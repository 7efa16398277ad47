"""Exact computation shared between CNN inputs that differ in a few places: the overlapping
windows of a genome track, and single-base mutants (in-silico mutagenesis, SNVs).

A convolution's output at a position depends only on its receptive field. Two inputs that
agree except in a few places therefore have the same feature maps except in a few places, a
*span* per change that widens by ``kernel - 1`` at each convolution and shrinks by the pool
width at each max-pool. Only the spans are computed; everything else is read from the feature
maps of a *source* computed once:

- a mutant: the source is the sequence itself, and the span starts at the changed base;
- a track window: the source is the whole stretch the windows are cut from. A window's maps
  equal the stretch's except where the window's own zero padding reaches in (its receptive
  field crosses either end), so each window has two spans, one per end, that start empty at
  its ends. Max-pooling groups positions from the start of each input, so a window's maps
  line up with the stretch's only when its start is a multiple of the product of the pool
  widths (`phase_period`) from the stretch's start: windows are taken in phases, and each
  phase has a source of its own that starts at the phase.

The per-position maps are then read out as the model reads them (`CNN.pooling`, ``dense``,
``head``), so outputs equal the model's own on each input up to float rounding (tested within
1e-5). The cost of a span does not grow with the input: a mutant of a 1 kb sequence costs about
what one of a 200 bp sequence does, and a track window about two mutants, whatever the step.

Only `CNN` models with one-hot input are shared (`shares_computation`): a k-mer input changes
``k`` positions per base, and the LSTM and the transformer see the whole sequence at every
position, so nothing of theirs can be reused exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.inputs.encode import one_hot
from dnanet.models.cnn import CNN
from dnanet.models.layers import masked_bin_max


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
        if len(ends):  # items whose own padding (an end) lies inside their source
            positions = first[ends, None] + torch.arange(size, device=first.device)
            invalid = (positions < 0) | (positions >= self.width)
            x[ends] = x[ends].masked_fill(invalid[:, None, :], fill)
        for span in spans:
            x = span.put_over(x, first)
        return x


@dataclass
class Span:
    """Computed values ``(M, C, D)`` of each of M items at positions ``starts (M,)`` ``+ 0 ..
    D`` of one feature map; everything else of the map equals the item's source."""

    values: torch.Tensor
    starts: torch.Tensor

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


def materialized(maps: SourceMaps, items: Items, spans: list[Span]) -> torch.Tensor:
    """The last block's whole output ``(M, C, W')`` of each item (`item_spans`' results)."""
    first = torch.zeros_like(items.offsets)
    return items.read(maps.blocks[-1], maps.margin, spans, first, items.width, 0.0)


def read_out(model: CNN, features: torch.Tensor) -> torch.Tensor:
    """The model's logits ``(M, n_outputs)`` from unpadded last-block features ``(M, C, W')``
    (`CNN.embed` then the head)."""
    mask = torch.ones(
        features.shape[0], features.shape[2], dtype=torch.bool, device=features.device
    )
    return model.head(model.dense(model.pooling(features, mask)))


def head_logits(model: CNN, mean, maximum, bins) -> torch.Tensor:
    """The model's logits ``(M, n_outputs)`` from the pooled features `MaskedPooling` makes:
    each channel's mean and max ``(M, C)`` and its max in each position bin ``(M, C, bins)``."""
    pooled = [mean, maximum] + ([bins.flatten(1)] if model.pooling.position_bins else [])
    return model.head(model.dense(torch.cat(pooled, dim=1)))


def pooling_bins(model: CNN) -> int:
    """Position bins a readout keeps: the model's own, or 8 that only help find the max."""
    return model.pooling.position_bins or 8


def bin_edges(width: int, bins: int) -> torch.Tensor:
    """Start of each of `bins` position bins of a map `width` long, and its end: int64
    ``(bins + 1,)`` (position p is in bin ``p * bins // width``, as `masked_bin_max` bins)."""
    counts = torch.bincount(torch.arange(width) * bins // width, minlength=bins)
    return torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])


def mutant_readout(model: CNN, maps: SourceMaps, items: Items, span: Span) -> torch.Tensor:
    """Logits ``(M, n_outputs)`` of items that are their source's whole last map ``(C, W')``
    but for `span`: the source's pooled features, with only the sum over the span and the
    maxima of the bins it touches computed again."""
    bins, width = pooling_bins(model), items.width
    if width < bins:
        return read_out(model, materialized(maps, items, [span]))
    reference = maps.blocks[-1][:, :, maps.margin : maps.margin + width]  # (S, C, W')
    edges = bin_edges(width, bins).to(span.starts.device)
    of_bin = torch.bucketize(torch.arange(width, device=edges.device), edges[1:], right=True)
    low, high = of_bin[span.starts], of_bin[span.starts + span.width - 1]  # bins it touches
    size = min(width, span.width + 2 * int((edges[1:] - edges[:-1]).max()))
    first = edges[low].clamp(max=width - size)  # a stretch holding every touched bin
    x = items.read(maps.blocks[-1], maps.margin, [span], first, size, 0.0)  # (M, C, size)
    whole = torch.ones_like(reference[:, 0], dtype=torch.bool)
    found = masked_bin_max(reference, whole, bins).view(len(reference), -1, bins)[items.sources]
    every = torch.arange(bins, device=first.device)
    touched = (every >= low[:, None]) & (every <= high[:, None])  # (M, bins)
    found = found.masked_fill(touched[:, None, :], -INF)
    positions = first[:, None] + torch.arange(size, device=first.device)  # (M, size)
    index = of_bin[positions][:, None, :].expand(-1, x.shape[1], -1)
    found = found.scatter_reduce(2, index, x, "amax")  # (M, C, bins)
    under = items.read(maps.blocks[-1], maps.margin, [], span.starts, span.width, 0.0)
    total = reference.sum(-1)[items.sources] + (span.values - under).sum(-1)  # (M, C)
    return head_logits(model, total / width, found.amax(-1), found)


def window_readout(model: CNN, maps: SourceMaps, items: Items, ends: list[Span]):
    """Logits ``(M, n_outputs)`` of windows of one source (`window_logits`) whose last maps are
    the source's at `offsets` but for the spans of their two `ends`: each position bin's max
    over the rest is a sliding max over the source, its sum a difference of running sums."""
    left, right = ends
    offsets, width = items.offsets, items.width
    inner_start, inner_end = left.width, width - right.width
    bins = pooling_bins(model)
    if (
        width < bins
        or inner_start > inner_end
        or bool((left.starts != 0).any() | (right.starts != inner_end).any())
    ):
        return read_out(model, materialized(maps, items, ends))
    source = maps.last()  # (C, N')
    edges = bin_edges(width, bins).tolist()
    found = []
    for low, high in zip(edges[:-1], edges[1:]):
        low, high = max(low, inner_start), min(high, inner_end)
        if low >= high:
            found.append(source.new_full((len(offsets), source.shape[0]), -INF))
            continue
        sliding = F.max_pool1d(source[None], high - low, stride=1)[0]  # (C, N - size + 1)
        found.append(sliding[:, offsets + low].T)  # (M, C)
    found = torch.stack(found, dim=2)  # (M, C, bins)
    of_bin = torch.bucketize(torch.arange(width), torch.tensor(edges[1:]), right=True)
    for span in ends:
        index = of_bin[span.starts[0] + torch.arange(span.width)].to(offsets.device)
        index = index.view(1, 1, -1).expand(len(offsets), source.shape[0], -1)
        found = found.scatter_reduce(2, index, span.values, "amax")
    running = F.pad(source.double().cumsum(1), (1, 0))  # (C, N + 1)
    inner = running[:, offsets + inner_end] - running[:, offsets + inner_start]  # (C, M)
    total = inner.T.float() + left.values.sum(-1) + right.values.sum(-1)
    return head_logits(model, total / width, found.amax(-1), found)


def _conv_span(layer, maps, index, items: Items, spans, span: Span) -> Span:
    """`span` carried through `layer`'s convolution: the outputs whose receptive field touches
    it (an empty span at an item's end: those that reach past the end), computed from the block
    input (source values with every span put over them)."""
    low = (span.starts - layer.right).clamp(min=0)
    if span.width:  # one size for any batch, so that an item's values never depend on it
        size = min(span.width + layer.kernel - 1, items.width)
    else:  # an item's end: the same for every item
        high = (span.starts + span.width - 1 + layer.left).clamp(max=items.width - 1)
        size = int((high - low + 1).max()) if len(low) else 0
    starts = low.clamp(max=items.width - size)
    conv = layer.block[0]
    if size <= 0:  # an empty span through a 1-wide convolution stays empty
        return Span(maps.blocks[index].new_zeros(len(starts), conv.out_channels, 0), starts)
    first, reach = starts - layer.left, size + layer.kernel - 1
    x = items.read(maps.inputs[index], maps.margin, spans, first, reach, 0.0)
    values = layer.block[1:](F.conv1d(x, conv.weight, conv.bias))  # (M, C, size)
    return Span(values, starts)


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
    if span.width:  # one size for any batch (`_conv_span`)
        size = min((span.width - 1) // pool + 2, pooled_width)
    else:  # an item's end: only a partial last group changes
        partial = (span.starts >= items.width) & (items.width % pool != 0)
        low = torch.where(partial, pooled_width - 1, low)
        high = torch.where(partial, pooled_width - 1, low - 1)
        size = int((high - low + 1).max()) if len(low) else 0
    starts = low.clamp(min=0, max=pooled_width - max(size, 0))
    if size <= 0:
        return Span(maps.blocks[index].new_zeros(len(starts), span.values.shape[1], 0), starts)
    first = starts * pool
    x = items.read(maps.blocks[index], maps.margin, spans, first, size * pool, -INF)
    return Span(x.view(x.shape[0], x.shape[1], size, pool).amax(-1), starts)


INF = float("inf")
ITEMS_PER_PASS = 512  # items (mutants, windows) whose spans are computed together
# Mutants and their sources are computed in multiples of ROW_BLOCK rows: the convolutions'
# kernels then round each row alike in any batch (1 to 11 rows gave last-bit differences), so a
# variant's effect does not depend on which others share its batch (a --shard prints the same).
ROW_BLOCK = 16
SOURCES_PER_PASS = 64  # sequences whose maps are held at once (a multiple of ROW_BLOCK)
STRETCH_BASES = 1 << 14  # most bases of one window source (its maps: ~13 MB at 128 channels)


class Mutants:
    """Single-base mutants of S sequences of one length, codes ``(S, N)`` without padding: their
    feature maps are computed once (`source_maps`), then any mutant of them from those."""

    def __init__(self, model: CNN, codes: torch.Tensor):
        self.model, self.count, self.width = model, len(codes), codes.shape[1]
        self.maps = source_maps(model, _padded(codes, ROW_BLOCK), before_relu=True)

    def sources(self) -> torch.Tensor:
        """The sequences' own logits ``(S, n_outputs)``, as ``model(codes)`` gives them."""
        return read_out(self.model, self.maps.last_all())[: self.count]  # whole row blocks

    def logits(self, sources: torch.Tensor, positions: torch.Tensor, bases) -> torch.Tensor:
        """Logits ``(M, n_outputs)`` of M mutants: sequence ``sources[m]`` with base ``bases[m]``
        (0-3: A C G T) at ``positions[m]``. Equal to ``model(mutants)`` within float rounding."""
        count, bases = len(sources), torch.as_tensor(bases, device=sources.device)
        sources, positions, bases = (
            _padded(part, ROW_BLOCK) for part in (sources, positions, bases)
        )
        logits = []
        for start in range(0, len(sources), ITEMS_PER_PASS):
            part = slice(start, start + ITEMS_PER_PASS)
            span = Span(one_hot(bases[part].view(-1, 1)), positions[part])  # (m, 4, 1)
            items = Items(sources[part], torch.zeros_like(positions[part]), self.width)
            (found,), last = item_spans(self.model, self.maps, items, [span])
            logits.append(mutant_readout(self.model, self.maps, last, found))
        if not logits:
            return torch.zeros((0, self.model.head[-1].out_features), device=sources.device)
        return torch.cat(logits)[:count]


def mutant_logits(
    model: CNN, codes: torch.Tensor, sources: torch.Tensor, positions: torch.Tensor, bases
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(M, n_outputs)`` of M single-base mutants of codes ``(S, N)`` (sequences of one
    length, no padding; mutant m: sequence ``sources[m]`` with base ``bases[m]`` at
    ``positions[m]``) and of the sequences themselves ``(S, n_outputs)``, equal to the model's
    within float rounding. `SOURCES_PER_PASS` sequences (`Mutants`) at a time, so that memory
    stays flat however many there are."""
    bases = torch.as_tensor(bases, device=codes.device)
    found = torch.zeros(len(sources), model.head[-1].out_features, device=codes.device)
    own = torch.zeros(len(codes), model.head[-1].out_features, device=codes.device)
    for start in range(0, len(codes), SOURCES_PER_PASS):
        block = slice(start, start + SOURCES_PER_PASS)
        mutants = Mutants(model, codes[block])
        chosen = torch.nonzero((sources >= start) & (sources < start + SOURCES_PER_PASS))[:, 0]
        found[chosen] = mutants.logits(sources[chosen] - start, positions[chosen], bases[chosen])
        own[block] = mutants.sources()
    return found, own


def _padded(values: torch.Tensor, block: int) -> torch.Tensor:
    """`values` ``(M, ...)`` with copies of its last row up to a multiple of `block` rows."""
    missing = -len(values) % block
    return (
        torch.cat([values, values[-1:].expand(missing, *values.shape[1:])]) if missing else values
    )


def window_logits(
    model: CNN, codes: torch.Tensor, starts: torch.Tensor, width: int
) -> torch.Tensor:
    """Logits ``(n, n_outputs)`` of the `width`-base windows of codes ``(N,)`` at `starts`
    ``(n,)``, each equal to ``model(codes[start:start + width])`` within float rounding (eval
    mode). Windows are taken a phase at a time (module docstring), each phase's stretch run
    through the trunk once."""
    period = phase_period(model)
    logits = codes.new_empty((len(starts), model.head[-1].out_features), dtype=torch.float32)
    for rows in _stretches(starts, width, period):
        first = int(starts[rows[0]])
        maps = source_maps(model, codes[None, first : int(starts[rows[-1]]) + width])
        for begin in range(0, len(rows), ITEMS_PER_PASS):
            part = rows[begin : begin + ITEMS_PER_PASS]
            offsets = starts[part] - first
            items = Items(torch.zeros_like(offsets), offsets, width)
            ends = [_end_span(len(part), starts.device, at) for at in (0, width)]
            spans, last = item_spans(model, maps, items, ends)
            logits[part] = window_readout(model, maps, last, spans)
    return logits


def _stretches(starts: torch.Tensor, width: int, period: int) -> list[torch.Tensor]:
    """The windows (indices into `starts`) of each source: windows of one phase (start modulo
    `period`) in order, cut where a source would pass `STRETCH_BASES`."""
    groups = []
    for phase in torch.unique(starts % period).tolist():
        rows = torch.nonzero(starts % period == phase).squeeze(1)
        rows = rows[torch.argsort(starts[rows])]
        ends = starts[rows] + width
        begin = 0
        while begin < len(rows):
            limit = int(starts[rows[begin]]) + STRETCH_BASES
            end = max(begin + 1, int(torch.searchsorted(ends, limit, right=True)))
            groups.append(rows[begin:end])
            begin = end
    return groups


def _end_span(items: int, device, at: int) -> Span:
    """An empty input span at position `at` of each item: where an item's end cuts its source."""
    return Span(torch.zeros(items, 4, 0, device=device), torch.full((items,), at, device=device))
