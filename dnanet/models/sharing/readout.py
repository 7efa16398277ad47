"""Items' logits from their last feature maps, as `CNN.pooling`, ``dense`` and ``head`` read
them, without building every item's whole map where that can be avoided
(`dnanet.models.sharing`)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dnanet.models.cnn import CNN
from dnanet.models.layers import masked_bin_max
from dnanet.models.sharing.spans import INF, Items, SourceMaps, Span


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
