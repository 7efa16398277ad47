"""`dnanet motifs` as one library call, `find_motifs`: a trained classification run and labelled
inputs -> the motifs of each class (`pipeline.discover`), the model-free baseline
(`baseline.discover_baseline`) and every output file (`write.write_all`), written into one folder
atomically (`dnanet.files.outputs`).

A signal run (counts or profile, `dnanet train --signal`) has tracks, not classes: each track
plays a class whose members are all the input sequences (their labels are not used; `motif_pool`)
against their dinucleotide shuffles (the background is always ``shuffled``), the scores explain
the track's predicted log(1 + reads) (`scores.motif_objective`) and faithfulness is the drop in
it when a motif's sites are shuffled (`SIGNAL_NOTE`).

What it has to tell goes to a `dnanet.progress.Reporter` as it runs, in this order: what reading
the inputs found (the bundled example used, skipped intervals), a run that did not learn
(warning), the strands the motifs come from (a forward-only model), a JASPAR database for an RNA
model, the first-use compilation of memelite's kernels, and a model without attention layers asked
for attention. Progress (scoring, clustering, TomTom, faithfulness, the baseline) goes to the same
reporter. The result, `MotifsOutcome`, holds the motifs, the per-class reports and the lines a
terminal shows at the end (`MotifsOutcome.lines`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from dnanet.data.labelled import read_labelled_inputs
from dnanet.data.sets import SequenceSet
from dnanet.data.store import LabelledRecords
from dnanet.data.tasks import SIGNAL, Task
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs
from dnanet.files.outputs import Output, claimed
from dnanet.inputs.sources import GenomeSettings, parse_inputs
from dnanet.interpret import attribution as attributions
from dnanet.interpret.motifs.alphabet import DNA, RNA, consensus, input_letters
from dnanet.interpret.motifs.baseline import discover_baseline
from dnanet.interpret.motifs.compare import (
    JASPAR_RNA_NOTE,
    MotifDatabase,
    jaspar_database,
    read_motif_file,
)
from dnanet.interpret.motifs.kernels import COMPILING_NOTE, compiled
from dnanet.interpret.motifs.pipeline import (
    BACKGROUNDS,
    ENGINES,
    MotifOptions,
    discover,
    with_background,
)
from dnanet.interpret.motifs.scores import AGGREGATIONS, METHODS, motif_objective
from dnanet.interpret.motifs.select import ClassReport, FoundMotif
from dnanet.interpret.motifs.write import TSV_COLUMNS, motif_rows, write_all
from dnanet.progress import Reporter
from dnanet.runs.load import Run, load_run, not_learned
from dnanet.runtime.device import prepare_device

NO_ATTENTION_NOTE = (
    "this model has no attention layers: gradient x input attributions were used instead"
)
SIGNAL_NOTE = (
    "signal run: each track's motifs explain its predicted log(1 + reads), found in every input "
    "sequence against their dinucleotide shuffles (background: shuffled); faithfulness is the drop "
    "in predicted log(1 + reads) when a motif's sites are shuffled"
)


@dataclass(frozen=True)
class MotifsOutcome:
    """What `find_motifs` found and wrote.

    `motifs`: the model's motifs, most significant first (motifs.tsv, motifs.meme); `baseline`:
    the model-free baseline's (baseline.tsv; None with ``no_baseline``); `reports`: one per class
    and source, the model's then the baseline's (classes.tsv); `method`: the scores used (e.g.
    ``gradient_x_input``); `letters`: ACGT or ACGU; `files`: every file written under `out`;
    `notes`: the notes told while it ran, in order; `seconds`: the search and the writing."""

    out: Path
    motifs: list[FoundMotif]
    baseline: list[FoundMotif] | None
    reports: list[ClassReport]
    method: str
    letters: str
    files: list[Path]
    notes: list[str]
    seconds: float

    def rows(self) -> list[dict[str, str]]:
        """The rows of motifs.tsv, as {column: text} (columns `write.TSV_COLUMNS`)."""
        return [
            {column: str(value) for column, value in zip(TSV_COLUMNS, row)}
            for row in motif_rows(self.motifs, self.letters)
        ]

    def lines(self) -> list[str]:
        """What a terminal shows at the end: a line per class report, the baseline's motifs, and
        how many motifs were written where (with the top one and its best known match)."""
        lines = [report.line() for report in self.reports]
        if self.baseline is not None:
            lines.append(
                f"baseline (no model): {len(self.baseline)} motifs"
                + "".join(
                    f"; {m.id} {consensus(m.pwm, self.letters)}"
                    + (f" ~ {m.match.name} (q={m.match.q:.2g})" if m.match else "")
                    for m in self.baseline[:5]
                )
            )
        top = self.motifs[0] if self.motifs else None
        lines.append(
            f"{len(self.motifs)} motifs ({self.method}) written to {self.out} in "
            f"{self.seconds:.0f} s"
            + (f"; top: {top.id} {consensus(top.pwm, self.letters)}" if top else "")
            + (f" ~ {top.match.name} (q={top.match.q:.2g})" if top and top.match else "")
        )
        return lines


def find_motifs(
    run: str | Path | Run,
    inputs: Sequence | None,
    out: str | Path,
    *,
    method: str = "auto",
    aggregation: str = "rollout",
    background: str = "other",
    engine: str = "own",
    attribution: str = "saliency",
    classes: Sequence[str] = (),
    max_motifs: int = 8,
    max_q: float = 0.05,
    no_baseline: bool = False,
    motif_db: str | Path | None = None,
    no_compare: bool = False,
    overwrite: bool = False,
    batch_size: int = 128,
    seed: int = 0,
    genome: str | Path | None = None,
    window: int | None = None,
    background_ratio: int = 1,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> MotifsOutcome:
    """The motifs that drive a classification or signal run's predictions (module docstring), named,
    written into the folder `out` (claimed first: an existing one only with `overwrite`). `run`: a
    run folder (loaded on `device` with `threads`) or a loaded `Run`. `inputs`: ``CLASS=PATH``
    strings, paths or `dnanet.inputs.sources.LabelledInput`s (None or empty: the bundled CTCF
    example); BED inputs and generated backgrounds use `genome`, `window`, `background_ratio` and
    `seed`. `engine`: own (seqlets -> k-mer-seeded PWMs), modisco (TF-MoDISco on `attribution`'s
    hypothetical attributions, a method of `dnanet.interpret.attribution.METHODS`) or both, into
    the same files (motifs.tsv's ``engine`` column). The other options are `dnanet motifs`'s (its
    --help); a bad one is a `DnanetError` naming the option."""
    reporter = reporter if reporter is not None else Reporter()
    told_before = len(reporter.notes)
    check_choices(method, aggregation, background, engine, attribution)
    options = MotifOptions(
        method=method,
        aggregation=aggregation,
        background=background,
        engine=engine,
        attribution=attribution,
        classes=tuple(classes),
        max_motifs=max_motifs,
        max_q=max_q,
        batch_size=batch_size,
        seed=seed,
    )
    with claimed(Path(out), overwrite, folder=True, reporter=reporter) as output:
        loaded = run if isinstance(run, Run) else load_run(run, prepare_device(threads, device))
        task = motif_task(loaded, classes)
        check_attribution(loaded, engine, attribution)
        known = known_motifs(motif_db, no_compare)
        settings = GenomeSettings(genome, window, background_ratio, seed, loaded.input_width)
        records = read_labelled_inputs(
            inputs, None, "id", ["label"], training_inputs, genome=settings, reporter=reporter
        )
        pool = motif_pool(records, task)
        options = replace(options, both_strands=loaded.reverse_complement_average)
        if task.kind in SIGNAL:
            options = replace(options, background="shuffled")
        letters = input_letters_of(inputs)
        outcome = search_and_write(
            output, loaded, task, pool, options, known, letters, no_baseline, reporter
        )
    files = sorted(path for path in outcome.out.rglob("*") if path.is_file())
    return replace(outcome, files=files, notes=reporter.texts()[told_before:])


def search_and_write(
    output: Output,
    run: Run,
    task: Task,
    pool: SequenceSet,
    options: MotifOptions,
    known: MotifDatabase | None,
    letters: str,
    no_baseline: bool,
    reporter: Reporter,
) -> MotifsOutcome:
    """`find_motifs` once its inputs are read: what to tell first (`tell_before_search`), the
    search (`search_motifs`), then every file written into the claimed folder `output`, whose
    summary.html notes hold the settings. The outcome's `files` and `notes` are left empty."""
    warning, told = tell_before_search(run, known, letters, no_baseline, reporter)
    if task.kind in SIGNAL:
        reporter.note(SIGNAL_NOTE, "info")
        told.append(SIGNAL_NOTE)
    started = time.monotonic()
    search = search_motifs(run, task, pool, options, known, no_baseline, reporter)
    if (
        options.method == "attention"
        and options.engine != "modisco"
        and not search.method.startswith("attention")
    ):
        reporter.note(NO_ATTENTION_NOTE, "info")
        told.append(NO_ATTENTION_NOTE)
    settings = (
        f"run {run.folder}; {len(pool.ids):,} sequences "
        f"({'RNA' if letters == RNA else 'DNA'}); scores: {search.method}; "
        f"background: {options.background}; "
        f"known motifs: {'none' if known is None else known.name}; "
        f"motifs kept at q <= {options.max_q:g}"
    )
    notes = (
        ([f"warning: {warning}"] if warning else [])
        + [settings]
        + ([strand_note(run.record)] if options.both_strands else [])
        + told
    )
    with output.writing() as temporary:
        write_all(
            temporary,
            search.motifs,
            f"dnanet motifs: {run.folder.name}",
            notes,
            search.reports,
            search.baseline,
            letters,
            options.both_strands,
        )
    return MotifsOutcome(
        output.path,
        search.motifs,
        search.baseline,
        search.reports,
        search.method,
        letters,
        files=[],
        notes=[],
        seconds=time.monotonic() - started,
    )


@dataclass(frozen=True)
class Search:
    """What `search_motifs` found: the model's motifs, the baseline's (None: not run), the
    reports of every class (the model's, then the baseline's) and the model's scoring method."""

    motifs: list[FoundMotif]
    baseline: list[FoundMotif] | None
    reports: list[ClassReport]
    method: str


def search_motifs(
    run: Run,
    task: Task,
    pool: SequenceSet,
    options: MotifOptions,
    known: MotifDatabase | None,
    no_baseline: bool,
    reporter: Reporter,
) -> Search:
    """The model's motifs (`pipeline.discover`) and, unless `no_baseline`, the baseline's, in
    `pool` (targets index `task`'s classes or tracks; shuffles are added for the shuffled
    background)."""
    pool = with_background(pool, options)
    found, reports, label = discover(
        run.model,
        task.names,
        pool,
        options,
        task.activate,
        known,
        reporter,
        motif_objective(task),
    )
    baseline, baseline_reports = (
        (None, []) if no_baseline else discover_baseline(task.names, pool, options, known, reporter)
    )
    return Search(found, baseline, reports + baseline_reports, label)


def check_choices(
    method: str,
    aggregation: str,
    background: str,
    engine: str = "own",
    attribution: str = "saliency",
) -> None:
    """A method, aggregation, background, engine or attribution method that does not exist is an
    error naming the option."""
    for option, value, choices in (
        ("--method", method, ("auto", *METHODS)),
        ("--aggregation", aggregation, AGGREGATIONS),
        ("--background", background, BACKGROUNDS),
        ("--engine", engine, ENGINES),
        ("--attribution", attribution, attributions.METHODS),
    ):
        if value not in choices:
            raise DnanetError(f"{option} {value}: valid values: {', '.join(choices)}")


def check_attribution(run: Run, engine: str, attribution: str) -> None:
    """The modisco engine's gradient attributions need a model that reads one-hot bases."""
    if engine != "own" and attribution != "ism" and not attributions.has_one_hot_input(run.model):
        raise DnanetError(
            f"--attribution {attribution} needs a model with one-hot input (this one reads "
            "k-mers, not bases); use --attribution ism"
        )


def motif_task(run: Run, classes: Sequence[str]) -> Task:
    """The run's task, which must be a classification or a signal run whose classes (tracks)
    include every one asked for (`classes`: --class)."""
    task = run.task
    if not task.is_classification and task.kind not in SIGNAL:
        raise DnanetError(
            f"{run.folder}: motifs need a classification or signal (--signal) run; this one is "
            f"{task.kind}"
        )
    kinds = "tracks" if task.kind in SIGNAL else "classes"
    for name in classes:
        if name not in task.names:
            raise DnanetError(
                f"--class {name}: not one of the run's {kinds}: {', '.join(task.names)}"
            )
    return task


def motif_pool(records: LabelledRecords, task: Task) -> SequenceSet:
    """The sequences searched, each with the class it belongs to: a classification's labels; for
    a signal run every record once per track (the track's index), so each track's class holds
    them all (memory: the codes times the tracks)."""
    if task.kind not in SIGNAL:
        return SequenceSet(
            list(records.ids), records.flat, records.offsets, records.targets(task.encode)
        )
    lengths = np.diff(records.offsets)
    if task.kind == "profile" and len(lengths) and lengths.min() < task.width:
        shortest = int(np.argmin(lengths))
        raise DnanetError(
            f"{records.where(shortest)}: {lengths[shortest]:,} bases; this profile run predicts "
            f"{task.width} bases, so every sequence must be at least {task.width} long"
        )
    tracks, size = len(task.names), len(records.flat)
    return SequenceSet(
        list(records.ids) * tracks,
        np.tile(records.flat, tracks),
        np.concatenate(
            [records.offsets[:1]] + [records.offsets[1:] + size * t for t in range(tracks)]
        ),
        np.repeat(np.arange(tracks, dtype=np.int64), len(records.ids)),
    )


def known_motifs(motif_db: str | Path | None, no_compare: bool) -> MotifDatabase | None:
    """The known motifs to compare with: `motif_db` (a MEME file), else JASPAR's; None with
    `no_compare`."""
    if no_compare:
        return None
    return read_motif_file(Path(motif_db)) if motif_db is not None else jaspar_database()


def input_letters_of(inputs: Sequence | None) -> str:
    """ACGU when the FASTA inputs are RNA (`alphabet.input_letters`), else ACGT (also for the
    bundled example and for sequences held in memory)."""
    return input_letters([item.path for item in parse_inputs(inputs, list)]) if inputs else DNA


def strand_note(description: dict) -> str:
    """Which strands the motifs come from, and why (model.json's ``strand`` record)."""
    if description["reverse_complement_average"]:
        return "strands: both (the model was trained with reverse-complement augmentation)"
    strand = description.get("strand") or {}
    why = (
        f"reverse_complement auto: the data look {strand['verdict']}"
        if strand.get("setting") == "auto" and "verdict" in strand
        else "reverse_complement: false"
    )
    return f"strands: forward only, as the model was trained ({why}); every site is on +"


def tell_before_search(
    run: Run, known: MotifDatabase | None, letters: str, no_baseline: bool, reporter: Reporter
) -> tuple[str, list[str]]:
    """Tell `reporter` what matters before the search: a run that did not learn (warning), the
    strands of a forward-only model, JASPAR (DNA-binding proteins) against RNA inputs, and the
    kernels' first-use compilation. Returns the warning ('' if none) and the lines for the
    summary's notes (the strands, JASPAR's)."""
    advice = "; motifs from its scores are not meaningful" + (
        "" if no_baseline else "; the baseline motifs (no model) do not depend on it"
    )
    warning = not_learned(run.record, str(run.folder))
    if warning:
        warning += advice
        reporter.note(warning, "warning")
    told = []
    if not run.reverse_complement_average:
        told.append(strand_note(run.record))
        reporter.note(told[-1], "info")
    if known is not None and known.dna_binding and letters == RNA:
        told.append(f"note: {JASPAR_RNA_NOTE}")
        reporter.note(JASPAR_RNA_NOTE, "note")
    if not compiled():
        reporter.note(COMPILING_NOTE, "info")
    return warning, told
