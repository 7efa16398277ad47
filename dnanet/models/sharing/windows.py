"""Windows of one stretch: their logits from the stretch's feature maps, a pooling phase at a
time (`dnanet.models.sharing`)."""

from __future__ import annotations

import torch

from dnanet.models.cnn import CNN
from dnanet.models.sharing.readout import window_readout
from dnanet.models.sharing.spans import (
    ITEMS_PER_PASS,
    Items,
    Span,
    item_spans,
    phase_period,
    source_maps,
)

STRETCH_BASES = 1 << 14  # most bases of one window source (its maps: ~13 MB at 128 channels)


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
    starts = torch.full((items,), at, device=device)
    return Span(torch.zeros(items, 4, 0, device=device), starts, tight=True)
