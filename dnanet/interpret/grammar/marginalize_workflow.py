"""`dnanet marginalize` as library calls: check the request (`MarginalizeRequest.checked`, before
any model is loaded), make the backgrounds, measure the motif's effects
(`dnanet.interpret.grammar.marginalize`) and write them into a claimed folder: ``effects.tsv`` and
``effects.png``, and with a second motif ``cooperativity.tsv`` and ``cooperativity.png``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from dnanet.errors import DnanetError
from dnanet.files.outputs import claimed
from dnanet.interpret.grammar import marginalize as grammar
from dnanet.interpret.grammar.insertions import (
    Motif,
    random_sequences,
    resolve_motif,
    shuffled_backgrounds,
)
from dnanet.interpret.grammar.output_scores import OutputScorer
from dnanet.progress import Reporter
from dnanet.runs.load import Run, load_run, not_learned

DEFAULT_LENGTH = 200  # random backgrounds' length when neither --length nor the run's window


@dataclass(frozen=True)
class Backgrounds:
    """Where the backgrounds come from: dinucleotide shuffles of the records of `fasta`, or (none)
    random sequences of `length` bases (default: the run's window, else ``DEFAULT_LENGTH``) with GC
    fraction `gc`; `n` of them, seeded by `seed`."""

    fasta: tuple[Path, ...] = ()
    n: int = 100
    length: Optional[int] = None
    gc: float = 0.42
    seed: int = 0

    def make(self, run: Run) -> tuple[np.ndarray, np.ndarray, str]:
        """Codes ``(n, L)``, lengths ``(n,)`` and a phrase saying what they are."""
        if self.n < 1:
            raise DnanetError(f"--n {self.n}: at least one background sequence")
        if self.fasta:
            codes, lengths = shuffled_backgrounds(list(self.fasta), self.n, self.seed)
            return codes, lengths, f"{self.n} dinucleotide shuffles of the given records"
        length = self.length or run.window or DEFAULT_LENGTH
        codes, lengths = random_sequences(self.n, length, self.gc, self.seed)
        return codes, lengths, f"{self.n} random {length}-base sequences ({self.gc:.0%} GC)"


@dataclass(frozen=True)
class MarginalizeRequest:
    """What to insert where: `motif` (and `second_motif` with `spacing` "A:B" for the cooperativity
    table), at start `position` (default: centred) or at every `stride`-th start with
    ``positions="all"``, on `strand` (+, - or both), the second motif's `orientation` (same or
    opposite strand); `backgrounds`; sequences per forward pass `batch_size`."""

    motif: str
    second_motif: Optional[str] = None
    spacing: Optional[str] = None
    orientation: str = "same"
    position: Optional[int] = None
    positions: Optional[str] = None
    stride: int = 1
    strand: str = "+"
    backgrounds: Backgrounds = field(default_factory=Backgrounds)
    batch_size: int = 128

    def checked(self) -> tuple[Motif, Optional[Motif], Optional[list[int]]]:
        """The motifs and the gaps, or a one-line error for any option that cannot work."""
        if self.strand not in grammar.STRANDS:
            raise DnanetError(f"--strand {self.strand}: one of +, -, both")
        if self.positions is not None and self.positions != "all":
            raise DnanetError(f"--positions {self.positions}: only 'all' (or give --position P)")
        if self.positions is not None and self.position is not None:
            raise DnanetError("--position and --positions all: give one of them")
        if self.stride < 1:
            raise DnanetError(f"--stride {self.stride}: at least 1")
        if (self.second_motif is None) != (self.spacing is None):
            raise DnanetError("--second-motif and --spacing go together: give both or neither")
        if self.second_motif is not None and self.positions is not None:
            raise DnanetError("--positions all measures one motif; leave it out with --spacing")
        if self.orientation not in grammar.ORIENTATIONS:
            raise DnanetError(f"--orientation {self.orientation}: one of same, opposite")
        gaps = parse_spacing(self.spacing) if self.spacing is not None else None
        first = resolve_motif(self.motif)
        second = resolve_motif(self.second_motif, "--second-motif") if self.second_motif else None
        return first, second, gaps


def parse_spacing(text: str) -> list[int]:
    """``"A:B"`` (or one number) -> the gaps A, A+1, ..., B (0 <= A <= B)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?::\s*(\d+)\s*)?", text)
    if not match or (match[2] is not None and int(match[2]) < int(match[1])):
        raise DnanetError(
            f"--spacing '{text}': expected A:B, the gaps in bases between the first motif's end "
            "and the second's start, 0 <= A <= B (e.g. 0:20)"
        )
    low = int(match[1])
    return list(range(low, int(match[2] if match[2] is not None else low) + 1))


@dataclass
class Marginalization:
    """`marginalize`'s result: `effects` (``EFFECT_COLUMNS``), `cooperativity`
    (``SPACING_COLUMNS``, None without a second motif), the outputs' `scale`, what the
    `backgrounds` were, the files written (`folder`, None in memory) and the `notes`."""

    effects: pd.DataFrame
    cooperativity: Optional[pd.DataFrame]
    scale: str
    backgrounds: str
    inserted: list[str]
    folder: Optional[Path] = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the command prints: the largest mean effects, then where the files are."""
        lines = [f"inserted {', '.join(self.inserted)} into {self.backgrounds}"]
        top = self.effects.reindex(self.effects["mean"].abs().sort_values(ascending=False).index)
        for row in top.head(5).itertuples():
            lines.append(
                f"  {row.output}: {row.mean:+.3f} {self.scale.replace('_', '-')} (sd {row.sd:.3f}, "
                f"n {row.n}) at position {row.position}, strand {row.strand}"
            )
        if self.cooperativity is not None:
            table = self.cooperativity
            best = table.loc[table["interaction"].abs().idxmax()]
            lines.append(
                f"  largest interaction: {best['interaction']:+.3f} on {best['output']} at gap "
                f"{best['spacing']} ({best['strand']}/{best['second_strand']})"
            )
        if self.folder is not None:
            written = "effects.tsv, effects.png" + (
                ", cooperativity.tsv, cooperativity.png" if self.cooperativity is not None else ""
            )
            lines.append(f"written to {self.folder}: {written}")
        return lines


def marginalize(
    run: Run, request: MarginalizeRequest, reporter: Optional[Reporter] = None
) -> Marginalization:
    """The effects of `request`'s motif(s) on every output of `run`, in memory."""
    reporter = reporter or Reporter()
    first, second, gaps = request.checked()
    warning = not_learned(run.record, str(run.folder))
    if warning:
        reporter.note(warning + "; its motif effects are not meaningful", "warning")
    codes, lengths, described = request.backgrounds.make(run)
    scorer = OutputScorer.of_run(run, request.batch_size)
    shortest = int(lengths.min())
    if request.positions == "all":
        positions = list(range(0, shortest - first.width + 1, request.stride))
    else:
        centred = (shortest - first.width) // 2
        positions = [centred if request.position is None else request.position]
    effects = grammar.marginal_effects(
        scorer, codes, lengths, first, positions, request.strand, reporter
    )
    cooperativity = None
    if second is not None:
        cooperativity = grammar.spacing_effects(
            scorer,
            codes,
            lengths,
            (first, second),
            gaps,
            request.strand,
            request.orientation,
            request.position,
            reporter,
        )
    names = [f"{m.name} ({m.sequence})" for m in (first, second) if m is not None]
    return Marginalization(
        effects, cooperativity, scorer.scale, described, names, notes=reporter.texts()
    )


def marginalize_to_folder(
    run: Run | Path | str,
    request: MarginalizeRequest,
    out: Path,
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    reporter: Optional[Reporter] = None,
) -> Marginalization:
    """`dnanet marginalize`: `marginalize` written into the folder `out` (claimed first, filled in
    a hidden temporary and moved in place whole: nothing is left on an error)."""
    from dnanet.interpret.grammar.marginalize_plots import plot_effects, plot_spacing

    reporter = reporter or Reporter()
    request.checked()  # a bad option fails before the folder is claimed or the model loaded
    with claimed(Path(out), overwrite, folder=True, reporter=reporter) as output:
        loaded = run if isinstance(run, Run) else load_run(run, device)
        result = marginalize(loaded, request, reporter)
        with output.writing() as temporary:
            result.effects.to_csv(temporary / "effects.tsv", sep="\t", index=False)
            plot_effects(temporary / "effects.png", result.effects, result.scale)
            if result.cooperativity is not None:
                result.cooperativity.to_csv(temporary / "cooperativity.tsv", sep="\t", index=False)
                plot_spacing(temporary / "cooperativity.png", result.cooperativity, result.scale)
    result.folder = Path(out)
    return result
