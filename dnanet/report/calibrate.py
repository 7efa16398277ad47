"""`dnanet calibrate`: fit a run's calibration.json (`dnanet.inference.calibration`) on labelled
held-out data, for a run trained before training wrote one, or to calibrate on other data than its
validation part. Here beside `dnanet.report.evaluation`, whose reading of labelled inputs it
shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from dnanet.errors import DnanetError
from dnanet.files.outputs import claimed
from dnanet.inference.calibration import (
    CALIBRATION_FILE,
    SCORE_TEXT,
    Calibration,
    fit_calibration,
    write_calibration,
)
from dnanet.inference.jobs import RunOrFolder, loaded_run, notes_since, run_folder, work_device
from dnanet.progress import Reporter
from dnanet.report.evaluation import labelled_outputs

HELD_OUT = "held-out inputs"  # calibration.json's source when fitted here


@dataclass(frozen=True)
class CalibrationOutcome:
    """What `calibrate_run` wrote: the `calibration`, its `path`, and the notes it told."""

    calibration: Calibration
    path: Path
    notes: list[str]

    def summary(self) -> str:
        """'calibration.json written from 150 records: temperature 1.42, ECE 0.061 -> 0.032'."""
        calibration = self.calibration
        text = f"{self.path} written from {calibration.n:,} records"
        if calibration.ece_before is None:
            return text + " (conformal intervals: |y - prediction| per target)"
        return (
            f"{text}: temperature {calibration.temperature:.3g}, expected calibration error "
            f"{calibration.ece_before:.4f} -> {calibration.ece_after:.4f}"
        )


def calibrate_run(
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
    signal: Sequence[str] = (),
    overwrite: bool = False,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> CalibrationOutcome:
    """Fit the run's temperature and conformal scores on labelled `inputs` (what `dnanet
    evaluate` takes, read the same way: `dnanet.report.evaluation.labelled_outputs`) and write
    them to RUN/calibration.json (refused if it exists, unless `overwrite`, before the inputs are
    read).
    The records must not be ones the run trained on, and should be like the data it will
    predict: coverage holds for records exchangeable with these."""
    reporter = reporter if reporter is not None else Reporter()
    start = len(reporter.notes)
    loaded = loaded_run(run, work_device(run, device, threads))  # a missing run fails here
    if loaded.task.kind not in SCORE_TEXT:
        raise DnanetError(
            f"{run_folder(run)}: a {loaded.task.kind} run has no calibration; calibrate "
            "classification, regression and counts runs"
        )
    path = loaded.folder / CALIBRATION_FILE
    if path.exists() and not overwrite:
        raise DnanetError(f"{path}: already exists; pass --overwrite to fit it anew")
    with claimed(path, overwrite, reporter=reporter) as output:
        _, targets, each = labelled_outputs(
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
        calibration = fit_calibration(loaded.task, each.mean(0), targets, source=HELD_OUT)
        with output.writing() as temporary:
            write_calibration(temporary, calibration)
    return CalibrationOutcome(calibration, path, notes_since(reporter, start))
