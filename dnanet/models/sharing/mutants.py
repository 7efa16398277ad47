"""Single-base mutants of sequences: their logits from the sequences' own feature maps
(`dnanet.models.sharing`)."""

from __future__ import annotations

import torch

from dnanet.inputs.encode import one_hot
from dnanet.models.cnn import CNN
from dnanet.models.sharing.readout import mutant_readout, read_out
from dnanet.models.sharing.spans import ITEMS_PER_PASS, Items, Span, item_spans, source_maps

# Mutants and their sources are computed in multiples of ROW_BLOCK rows: the convolutions'
# kernels then round each row alike in any batch (1 to 11 rows gave last-bit differences), so a
# variant's effect does not depend on which others share its batch (a --shard prints the same).
ROW_BLOCK = 16
SOURCES_PER_PASS = 64  # sequences whose maps are held at once (a multiple of ROW_BLOCK)


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
