"""`dnanet variants --plot DIR`: an in-silico mutagenesis map around each of the top variants.

While the effects are written, `TopVariants` keeps the `count` scored variants of largest |effect|
of one output (their windows only: memory does not grow with the input): by default the tested
effect, the change in log-odds for classification (a broken saturated site outranks a nudge near
0.5), diff (alt - ref) for regression, or for a signal run the log2 fold change of a track's
predicted counts; ``--plot-rank diff`` ranks a classifier by probability instead
(`dnanet.interpret.variants.headline_effect`). For each, `draw_variant`
writes one PNG with three panels over the variant's allele and `flank` bases each side:

1. the ISM map of the reference window: a heatmap (rows A C G T, one column per position) of how
   much the explained output (`dnanet.interpret.attribution.target_output`: log-odds of the class,
   the value, or a signal track's predicted log(1 + reads), strand-averaged when the run averages
   strands) changes when that base is put at
   that position (mutant - reference; 0 at the reference base, marked with a dot);
2. and 3. the attribution logos of the reference and the alternative window (centred ISM times the
   one-hot sequence, `dnanet.interpret.attribution` and
   `dnanet.interpret.attribution_plots.draw_logo`), the allele shaded.

Exact ISM of the drawn stretch only (3 x its length passes per window, 6 with strand averaging).
"""

from __future__ import annotations

import heapq
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dnanet.interpret.variants import Variant


class TopVariants:
    """The `count` scored variants of largest |effect| of output `target`, first seen first on
    ties; ``effect(ref, alt)`` of a variant's outputs ``(C,)`` (default: alt - ref of `target`),
    named `effect_name` (the TSV column's prefix)."""

    def __init__(
        self,
        count: int,
        target: int,
        target_name: str = "",
        effect: Callable[[np.ndarray, np.ndarray], float] | None = None,
        effect_name: str = "diff",
    ):
        self.count, self.target, self.target_name, self.seen = count, target, target_name, 0
        self.effect = effect or (lambda ref, alt: float(alt[target] - ref[target]))
        self.effect_name = effect_name
        self.heap: list[tuple[float, int, Variant, float]] = []

    def add(self, variant: Variant, ref: np.ndarray, alt: np.ndarray) -> None:
        diff = self.effect(ref, alt)
        item = (abs(diff), -self.seen, variant, diff)
        self.seen += 1
        if len(self.heap) < self.count:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)

    def ranked(self) -> list[tuple[Variant, float]]:
        """(variant, effect) from the largest |effect| down."""
        return [
            (variant, diff)
            for _, _, variant, diff in sorted(self.heap, key=lambda item: item[:2], reverse=True)
        ]


def file_name(rank: int, variant: Variant) -> str:
    """``NN_CHROM_POS_REF_ALT`` (pairs: ``NN_NAME``), characters outside [A-Za-z0-9._-] replaced, +
    .png."""
    parts = (
        [
            f"{rank:02d}",
            variant.chrom,
            variant.pos,
            variant.id if variant.id not in (".", "") else "",
            variant.ref[:10],
            variant.alt[:10],
        ]
        if variant.chrom
        else [f"{rank:02d}", variant.id]
    )
    return re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(part for part in parts if part))[:120] + ".png"


def _span(offset: int, allele: str, length: int, flank: int) -> tuple[int, int]:
    size = len(allele.strip("-"))
    return max(0, offset - flank), min(length, offset + max(size, 1) + flank)


def _ism(model, window: bytes, objective, strands: int, region: tuple[int, int]):
    """Deltas and centred attributions ``(4, L)`` and one-hot ``(4, L)`` of one window over
    `region`."""
    from dnanet.inputs.encode import one_hot, sequences_to_codes
    from dnanet.interpret.attribution import attribute

    codes, lengths = sequences_to_codes([window])
    device = next(model.parameters()).device
    result = attribute(
        model,
        torch.from_numpy(codes).to(device),
        torch.from_numpy(lengths),
        "ism",
        objective,
        strands,
        region,
    )
    return (
        result.deltas[0].cpu().numpy(),
        result.values[0].cpu().numpy(),
        one_hot(torch.from_numpy(codes)).numpy()[0],
    )


def draw_variant(
    path: Path,
    model,
    objective,
    strands: int,
    variant: Variant,
    diff: float,
    output: str,
    flank: int = 20,
    effect_name: str = "diff",
) -> None:
    """The three panels (module docstring) of one variant, saved as a PNG to `path`; the title
    gives its effect `diff` named `effect_name`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dnanet.interpret.attribution_plots import contributions, draw_logo

    ref_span = _span(variant.ref_offset, variant.ref, len(variant.ref_window), flank)
    alt_span = _span(variant.alt_offset, variant.alt, len(variant.alt_window), flank)
    deltas, ref_values, ref_one_hot = _ism(model, variant.ref_window, objective, strands, ref_span)
    _, alt_values, alt_one_hot = _ism(model, variant.alt_window, objective, strands, alt_span)
    columns = max(ref_span[1] - ref_span[0], alt_span[1] - alt_span[0])
    figure, axes = plt.subplots(3, 1, figsize=(max(7.0, 0.22 * columns + 2), 7.2), dpi=100)
    start, end = ref_span
    shown = deltas[:, start:end]
    limit = float(np.abs(shown).max(initial=0.0)) or 1.0
    image = axes[0].imshow(
        shown,
        aspect="auto",
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
        extent=(start - variant.ref_offset - 0.5, end - variant.ref_offset - 0.5, 3.5, -0.5),
    )
    reference = ref_one_hot[:, start:end].argmax(0)
    known = ref_one_hot[:, start:end].sum(0) > 0
    axes[0].scatter(np.arange(start, end)[known] - variant.ref_offset, reference[known], s=6, c="k")
    axes[0].set_yticks(range(4), list("ACGT"))
    axes[0].set_title(
        f"ISM of the reference window (mutant - reference, {output})", fontsize=9, loc="left"
    )
    figure.colorbar(
        image, cax=axes[0].inset_axes([1.005, 0.0, 0.012, 1.0])
    )  # keeps the columns aligned
    for axis, values, one_hot, (start, end), offset, allele, label in (
        (axes[1], ref_values, ref_one_hot, ref_span, variant.ref_offset, variant.ref, "reference"),
        (
            axes[2],
            alt_values,
            alt_one_hot,
            alt_span,
            variant.alt_offset,
            variant.alt,
            "alternative",
        ),
    ):
        draw_logo(
            axis,
            contributions(values, one_hot),
            start,
            end,
            f"{label} ({allele}): ISM attribution",
            labels=np.arange(start, end) - offset,
        )
        size = len(allele.strip("-"))
        if size:
            axis.axvspan(-0.5, size - 0.5, color="gold", alpha=0.25, lw=0)
    axes[2].set_xlabel("position relative to the variant (bases)")
    where = (
        f"{variant.chrom}:{variant.pos} {variant.ref}>{variant.alt}  id {variant.id}"
        if variant.chrom
        else f"pair {variant.id}, position {variant.pos}: {variant.ref}>{variant.alt}"
    )
    figure.suptitle(f"{where}  {effect_name} {diff:+.4g}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
