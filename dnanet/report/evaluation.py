"""A trained run scored on labelled inputs (`dnanet evaluate`): its metrics, written as JSON on
request, and the report folder (`dnanet.report.page.write_evaluation_report`). Here, above
`dnanet.training` (the metrics) and beside the report pages, because it writes both."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dnanet.data.labelled import read_labelled_inputs
from dnanet.data.loaders import code_batches
from dnanet.errors import DnanetError
from dnanet.files.outputs import claimed
from dnanet.inference.calibrated_outputs import coverage_report
from dnanet.inference.calibration import check_alpha, read_calibration
from dnanet.inference.jobs import (
    RunOrFolder,
    loaded_run,
    note_not_learned,
    notes_since,
    run_folder,
    work_device,
)
from dnanet.inference.predict import predict_each
from dnanet.inputs.sources import GenomeSettings
from dnanet.progress import Reporter
from dnanet.report.page import write_evaluation_report
from dnanet.report.signal_evaluation import all_targets, check_signal_options, signal_windows
from dnanet.runs.load import Run
from dnanet.runs.save import write_json
from dnanet.training.metrics import task_metrics


@dataclass(frozen=True)
class EvaluationOutcome:
    """What `evaluate_run` found: the `metrics` (the keys of a run's metrics.json, plus
    ``learned`` when the run records it) of `count` sequences, the `report` page written (None:
    none asked for), and the notes it told its reporter (skipped intervals, missing backgrounds,
    the bundled example used, the model did not learn)."""

    metrics: dict
    count: int
    report: Path | None
    notes: list[str]


def evaluate_run(
    run: RunOrFolder,
    inputs: list,
    *,
    labels: Path | None = None,
    id_column: str = "id",
    label_columns: Sequence[str] = ("label",),
    default: Callable[[], list] | None = None,
    genome: Path | None = None,
    window: int | None = None,
    background_ratio: int = 1,
    seed: int = 0,
    batch_size: int = 256,
    out: Path | None = None,
    report: Path | None = None,
    overwrite: bool = False,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
    signal: Sequence[str] = (),
    conformal: float | None = None,
) -> EvaluationOutcome:
    """Score `run` on labelled `inputs` (CLASS=PATH strings, or `LabelledInput`s with their
    sources; with `labels`, a table of `id_column` and `label_columns` for FASTA files' ids; none:
    `default()`'s (class, path) pairs) and return the metrics. BED inputs are read from `genome` at
    `window` (default: the run's training window), generated backgrounds at `background_ratio` per
    positive from `seed`. `out`: the metrics written as JSON; `report`: a folder with report.html
    and its figures (both refused if they exist, unless `overwrite`, before any work). `run`: a run
    folder (loaded after `out` is claimed, on `device` with `threads`) or a loaded `Run`.
    A signal run (counts or profile) is scored on BED `inputs` against the coverage of its tracks
    (`dnanet.report.signal_evaluation`: those model.json records, checked unchanged, or `signal`'s
    NAME=PATH given anew). `conformal` ALPHA: metrics["calibration"], the coverage the run's
    conformal sets or intervals at that level reach on these records and the ECE before and after
    its temperature (`dnanet.inference.calibrated_outputs.coverage_report`; the run folder's
    calibration.json, else an error naming `dnanet calibrate`)."""
    reporter = reporter if reporter is not None else Reporter()
    start = len(reporter.notes)
    if report is not None and report.exists() and not overwrite:
        raise DnanetError(f"{report}: already exists; choose another --report or pass --overwrite")
    if conformal is not None:
        check_alpha(conformal)
    with _claimed(out, overwrite, reporter) as output:
        loaded = loaded_run(run, work_device(run, device, threads))
        calibration = None if conformal is None else read_calibration(loaded.folder, loaded.task)
        records, targets, each = labelled_outputs(
            loaded,
            inputs,
            labels=labels,
            id_column=id_column,
            label_columns=label_columns,
            default=default,
            genome=genome,
            window=window,
            background_ratio=background_ratio,
            seed=seed,
            batch_size=batch_size,
            reporter=reporter,
            signal=signal,
        )
        outputs = each.mean(0)
        metrics = _metrics(loaded, targets, outputs, each)
        if calibration is not None:
            metrics["calibration"] = coverage_report(
                loaded.task, calibration, outputs, targets, conformal
            )
        if output is not None:
            with output.writing() as temporary:
                write_json(temporary, metrics)
        note_not_learned(loaded, reporter)
        page = None
        if report is not None:
            page = write_evaluation_report(
                report,
                run_folder(run),
                loaded.record,
                metrics,
                records.provenance,
                targets,
                outputs,
                overwrite=overwrite,
            )
    return EvaluationOutcome(metrics, len(targets), page, notes_since(reporter, start))


def labelled_outputs(
    loaded: Run,
    inputs: list,
    *,
    labels: Path | None,
    id_column: str,
    label_columns: Sequence[str],
    default: Callable[[], list] | None,
    genome: Path | None,
    window: int | None,
    background_ratio: int,
    seed: int,
    batch_size: int,
    reporter: Reporter,
    signal: Sequence[str],
):
    """(records, targets ``(N, T)``, each member's outputs ``(K, N, C)``; K = 1 but for an
    ensemble) of the run on labelled `inputs` (read as `evaluate_run` reads them; shared with
    `dnanet.report.calibrate`)."""
    check_signal_options(loaded, inputs, genome, window, signal)
    settings = GenomeSettings(genome, window, background_ratio, seed, loaded.input_width)
    records = read_labelled_inputs(
        inputs, labels, id_column, list(label_columns), default, genome=settings, reporter=reporter
    )
    with _with_targets(loaded, records, genome, signal, reporter) as sequences:
        each = predict_each(
            loaded.model,
            code_batches(sequences, batch_size),
            loaded.reverse_complement_average,
            activate=loaded.task.activate,
        )
        targets = all_targets(sequences) if loaded.task.is_signal else sequences.targets
    return records, targets, each


@contextlib.contextmanager
def _with_targets(run: Run, records, genome: Path | None, signal: Sequence[str], reporter):
    """The records with their targets for the block: encoded labels, or a signal run's coverage
    (`dnanet.report.signal_evaluation.signal_windows`)."""
    if not run.task.is_signal:
        yield records.with_targets(records.targets(run.task.encode))
        return
    with signal_windows(run, records, genome, signal, reporter) as sequences:
        yield sequences


def _metrics(run: Run, targets: np.ndarray, outputs: np.ndarray, each: np.ndarray) -> dict:
    """The metrics of the run's `outputs` ``(N, C)`` against `targets`
    (`dnanet.training.metrics.task_metrics`; ``learned`` added when the run records it); for an
    ensemble, each member's (`each`: the members' outputs ``(K, N, C)``) and their spread."""
    metrics = task_metrics(run.task, targets, outputs)
    if "learned" in run.record:
        metrics["learned"] = run.record["learned"]
    if run.is_ensemble:  # each member's metrics, and how far the members disagree
        metrics["member_sd"] = float(each[:, :, : len(run.task.names)].std(0).mean())
        metrics["members"] = {
            member.folder.name: task_metrics(member.task, targets, member_outputs)
            for member, member_outputs in zip(run.members, each)
        }
    return metrics


@contextlib.contextmanager
def _claimed(out: Path | None, overwrite: bool, reporter: Reporter):
    """`out` claimed for the block (`dnanet.files.outputs.claimed`); None without one."""
    if out is None:
        yield None
        return
    with claimed(out, overwrite, reporter=reporter) as output:
        yield output
