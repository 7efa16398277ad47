"""Motif grammar by in-silico insertion (BPNet's marginalization; tangermeme's ``marginalize`` and
``space`` do the same on one-hot inputs): how much a motif moves each output of a model when it is
written into background sequences, at one position or every position, on either strand, and how
two motifs act together against the gap between them.

- **Marginal effect** (`marginal_effects`): for each background sequence x and each (position,
  strand), effect = output(x with the motif's bases at position) - output(x), for every output of
  the run (`dnanet.interpret.grammar.output_scores`); the table holds the mean, sd and count over
  the backgrounds.
- **Cooperativity** (`spacing_effects`): the first motif at a start, the second `spacing` bases
  after its end (the gap, as tangermeme.space counts it), the pair centred in the shortest
  background unless a start is given. Per background, both = output(both) - output(x), first and
  second = the effect of each alone at the same place, interaction = both - first - second (0 when
  the two act independently on the output's additive scale: log-odds, value or log counts).
  `orientation` ``same``: the second motif on the first's strand; ``opposite``: on the other.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from dnanet.errors import DnanetError
from dnanet.interpret.grammar.insertions import Motif
from dnanet.interpret.grammar.output_scores import OutputScorer
from dnanet.progress import Reporter

EFFECT_COLUMNS = ["motif", "position", "strand", "output", "mean", "sd", "n"]
SPACING_COLUMNS = [
    "motif",
    "second_motif",
    "spacing",
    "strand",
    "second_strand",
    "output",
    "both",
    "first",
    "second",
    "interaction",
    "interaction_sd",
    "n",
]
STRANDS = {"+": ("+",), "-": ("-",), "both": ("+", "-")}
ORIENTATIONS = ("same", "opposite")


def inserted(codes: np.ndarray, bases: np.ndarray, start: int) -> np.ndarray:
    """A copy of codes ``(N, L)`` with `bases` ``(W,)`` written at ``[start, start + W)``."""
    changed = codes.copy()
    changed[:, start : start + len(bases)] = bases
    return changed


def spread(deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample sd (0 for one value) over the rows of ``(N, O)``: ``(O,)`` each."""
    sd = deltas.std(0, ddof=1) if len(deltas) > 1 else np.zeros(deltas.shape[1])
    return deltas.mean(0), sd


def check_fits(lengths: np.ndarray, start: int, width: int, what: str) -> None:
    """Refuse a motif of `width` at `start` that runs past the shortest background's end."""
    shortest = int(lengths.min())
    if start < 0 or start + width > shortest:
        raise DnanetError(
            f"{what}: {width} bases at position {start} do not fit in the shortest background "
            f"sequence ({shortest} bases; starts 0 to {shortest - width} fit)"
        )


def marginal_effects(
    scorer: OutputScorer,
    codes: np.ndarray,
    lengths: np.ndarray,
    motif: Motif,
    positions: list[int],
    strand: str = "+",
    reporter: Optional[Reporter] = None,
) -> pd.DataFrame:
    """The mean effect of `motif` written at each of `positions` (0-based starts) on `strand`
    (``+``, ``-`` or ``both``) into backgrounds ``(N, L)``, on every output: ``EFFECT_COLUMNS``,
    one row per (position, strand, output)."""
    reporter = reporter or Reporter()
    for start in positions:
        check_fits(lengths, start, motif.width, f"--motif {motif.name}")
    before = scorer(codes, lengths)  # (N, O)
    rows = []
    total = len(positions) * len(STRANDS[strand])
    with reporter.counter("inserting the motif", total, "placements") as progress:
        for start in positions:
            for side in STRANDS[strand]:
                after = scorer(inserted(codes, motif.on_strand(side), start), lengths)
                mean, sd = spread(after - before)
                rows += [
                    (motif.name, start, side, name, float(m), float(s), len(codes))
                    for name, m, s in zip(scorer.names, mean, sd)
                ]
                progress(len(rows) // len(scorer.names))
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def spacing_effects(
    scorer: OutputScorer,
    codes: np.ndarray,
    lengths: np.ndarray,
    motifs: tuple[Motif, Motif],
    spacings: list[int],
    strand: str = "+",
    orientation: str = "same",
    start: Optional[int] = None,
    reporter: Optional[Reporter] = None,
) -> pd.DataFrame:
    """The cooperativity table of two motifs (module docstring) for each gap in `spacings` and
    each strand of the first motif: ``SPACING_COLUMNS``, one row per (spacing, strand, output)."""
    if orientation not in ORIENTATIONS:
        raise DnanetError(f"--orientation {orientation}: one of {', '.join(ORIENTATIONS)}")
    reporter = reporter or Reporter()
    first, second = motifs
    shortest = int(lengths.min())
    before = scorer(codes, lengths)
    rows = []
    with reporter.counter("spacing the motifs", len(spacings), "spacings") as progress:
        for done, gap in enumerate(spacings, 1):
            span = first.width + gap + second.width
            left = (shortest - span) // 2 if start is None else start
            check_fits(lengths, left, span, f"--spacing {gap}: the pair ({span} bases)")
            right = left + first.width + gap
            for side in STRANDS[strand]:
                other = side if orientation == "same" else {"+": "-", "-": "+"}[side]
                alone = inserted(codes, first.on_strand(side), left)
                both = scorer(inserted(alone, second.on_strand(other), right), lengths) - before
                one = scorer(alone, lengths) - before
                two = scorer(inserted(codes, second.on_strand(other), right), lengths) - before
                interaction_mean, interaction_sd = spread(both - one - two)
                for index, name in enumerate(scorer.names):
                    rows.append(
                        (first.name, second.name, gap, side, other, name)
                        + tuple(float(d[:, index].mean()) for d in (both, one, two))
                        + (float(interaction_mean[index]), float(interaction_sd[index]))
                        + (len(codes),)
                    )
            progress(done)
    return pd.DataFrame(rows, columns=SPACING_COLUMNS)
