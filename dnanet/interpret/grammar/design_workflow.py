"""`dnanet design` as library calls: check the request (`DesignRequest.checked`, before any model
is loaded; names against the run once it is), take the start sequences (the records of FASTA
files, or seeded random ones), design each (`dnanet.interpret.grammar.design`), name the known
motifs the design wrote (`dnanet.interpret.grammar.design_motifs`) and write everything into a
claimed folder: ``trajectory.tsv``, ``designed.fa``, ``start.fa`` and ``motifs.tsv``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from dnanet.errors import DnanetError
from dnanet.files.outputs import claimed
from dnanet.inputs.encode import BASE_LETTERS, sequences_to_codes
from dnanet.interpret import attribution
from dnanet.interpret.grammar.design import Goal, Trail, design
from dnanet.interpret.grammar.design_motifs import designed_motifs, motif_database
from dnanet.interpret.grammar.insertions import random_sequences, read_sequences
from dnanet.interpret.grammar.output_scores import OutputScorer
from dnanet.progress import Reporter
from dnanet.runs.load import Run, load_run, not_learned

DEFAULT_LENGTH = 200  # random starts' length when neither --length nor the run's window
LETTERS = np.append(BASE_LETTERS, "N")


@dataclass(frozen=True)
class DesignRequest:
    """Raise output `target`, holding `hold_down` outputs (names) down with weight `hold_weight`,
    for up to `steps` substitutions with a beam of `beam` (1: greedy), from the records of `start`
    (FASTA) or `n` random sequences of `length` bases at GC fraction `gc` (seeded by `seed`);
    motifs named against `motif_db` (a MEME file; None: JASPAR)."""

    target: Optional[str] = None
    hold_down: tuple[str, ...] = ()
    hold_weight: float = 1.0
    start: tuple[Path, ...] = ()
    n: int = 10
    length: Optional[int] = None
    gc: float = 0.42
    seed: int = 0
    steps: int = 10
    beam: int = 1
    motif_db: Optional[Path] = None
    batch_size: int = 128

    def checked(self) -> None:
        """One-line errors for options that cannot work, whatever the run."""
        for option, value, low in (("--steps", self.steps, 1), ("--beam", self.beam, 1)):
            if value < low:
                raise DnanetError(f"{option} {value}: at least {low}")
        if not self.start and self.n < 1:
            raise DnanetError(f"--n {self.n}: at least one sequence to design")
        if self.hold_weight < 0:
            raise DnanetError(f"--hold-weight {self.hold_weight}: not negative")
        if self.motif_db is not None and not Path(self.motif_db).is_file():
            raise DnanetError(f"{self.motif_db}: no such motif file")

    def goal(self, run: Run) -> Goal:
        """The target and held outputs as columns of the run's outputs."""
        task = run.task
        target = attribution.resolve_target(task, self.target)
        held = []
        for name in self.hold_down:
            if name not in task.names:
                raise DnanetError(
                    f"--hold-down {name}: not one of the run's outputs: {', '.join(task.names)}"
                )
            if task.names.index(name) == target:
                raise DnanetError(f"--hold-down {name}: the --target itself")
            held.append(task.names.index(name))
        return Goal(target, tuple(held), self.hold_weight)

    def starts(self, run: Run) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Ids, codes ``(N, L)`` and lengths ``(N,)`` of the start sequences."""
        if self.start:
            ids, sequences = read_sequences(list(self.start))
            codes, lengths = sequences_to_codes(sequences)
            return ids, codes, lengths
        length = self.length or run.window or DEFAULT_LENGTH
        codes, lengths = random_sequences(self.n, length, self.gc, self.seed)
        return [f"design{i}" for i in range(self.n)], codes, lengths


@dataclass
class Designed:
    """`design_sequences`' result: the `trajectory` (one row per step of each sequence), the ids,
    start and designed codes ``(N, L)`` with their lengths, the `motifs` table
    (`dnanet.interpret.grammar.design_motifs.MOTIF_COLUMNS`), the outputs' scale, the folder written
    (None: in memory) and the notes."""

    trajectory: pd.DataFrame
    ids: list[str]
    start: np.ndarray
    designed: np.ndarray
    lengths: np.ndarray
    motifs: pd.DataFrame
    target: str
    scale: str
    folder: Optional[Path] = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the command prints: the target's mean rise, the top motifs, the files."""
        firsts = self.trajectory.groupby("id", sort=False).first()
        lasts = self.trajectory.groupby("id", sort=False).last()
        column = f"score_{self.target}"
        lines = [
            f"{len(self.ids)} sequences designed: {self.target} {self.scale.replace('_', '-')} "
            f"from {firsts[column].mean():+.3f} to {lasts[column].mean():+.3f} (mean) in "
            f"{lasts['step'].mean():.1f} substitutions (mean)"
        ]
        for row in self.motifs.head(5).itertuples():
            lines.append(
                f"  {row.motif} {row.name}: in {row.designed}/{row.n} designed, {row.start}/{row.n}"
                f" start sequences (p {row.p:.2g}, q {row.q:.2g})"
            )
        if self.folder is not None:
            lines.append(
                f"written to {self.folder}: trajectory.tsv, designed.fa, start.fa, motifs.tsv"
            )
        return lines


def trajectory_table(ids: list[str], trails: list[Trail], names: list[str], goal: Goal):
    """One row per step of each trail: id, step, position (0-based; -1 for the start), change
    (old>new, "." for the start), objective, then ``score_<output>`` of the target and held."""
    shown = [goal.target, *goal.held]
    rows = []
    for identifier, trail in zip(ids, trails):
        for step, position, old, new, values, objective in trail.steps:
            change = "." if step == 0 else f"{LETTERS[old]}>{LETTERS[new]}"
            rows.append([identifier, step, position, change, objective, *values[shown]])
    columns = ["id", "step", "position", "change", "objective"]
    return pd.DataFrame(rows, columns=columns + [f"score_{names[i]}" for i in shown])


def design_sequences(
    run: Run, request: DesignRequest, reporter: Optional[Reporter] = None
) -> Designed:
    """Design `request`'s start sequences toward its target on `run`, in memory."""
    reporter = reporter or Reporter()
    request.checked()
    goal = request.goal(run)
    warning = not_learned(run.record, str(run.folder))
    if warning:
        reporter.note(warning + "; designing for it is not meaningful", "warning")
    ids, codes, lengths = request.starts(run)
    scorer = OutputScorer.of_run(run, request.batch_size)
    trails = design(scorer, codes, lengths, goal, request.steps, request.beam, reporter)
    designed = np.stack([trail.codes for trail in trails])
    motifs = designed_motifs(motif_database(request.motif_db), designed, codes, lengths)
    return Designed(
        trajectory_table(ids, trails, scorer.names, goal),
        ids,
        codes,
        designed,
        lengths,
        motifs,
        scorer.names[goal.target],
        scorer.scale,
        notes=reporter.texts(),
    )


def write_fasta(path: Path, ids: list[str], codes: np.ndarray, lengths: np.ndarray) -> None:
    """Records ``>id`` of codes ``(N, L)`` cut at their lengths."""
    with open(path, "w", encoding="utf-8") as handle:
        for identifier, row, length in zip(ids, codes, lengths):
            handle.write(f">{identifier}\n{''.join(LETTERS[row[:length]])}\n")


def design_to_folder(
    run: Run | Path | str,
    request: DesignRequest,
    out: Path,
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    reporter: Optional[Reporter] = None,
) -> Designed:
    """`dnanet design`: `design_sequences` written into the folder `out` (claimed first, filled
    in a hidden temporary and moved in place whole: nothing is left on an error)."""
    reporter = reporter or Reporter()
    request.checked()
    with claimed(Path(out), overwrite, folder=True, reporter=reporter) as output:
        loaded = run if isinstance(run, Run) else load_run(run, device)
        result = design_sequences(loaded, request, reporter)
        with output.writing() as temporary:
            result.trajectory.to_csv(temporary / "trajectory.tsv", sep="\t", index=False)
            write_fasta(temporary / "designed.fa", result.ids, result.designed, result.lengths)
            write_fasta(temporary / "start.fa", result.ids, result.start, result.lengths)
            result.motifs.to_csv(temporary / "motifs.tsv", sep="\t", index=False)
    result.folder = Path(out)
    return result
