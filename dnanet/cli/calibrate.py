"""`dnanet calibrate`: fit a run's calibration.json on labelled held-out data
(`dnanet.report.calibrate.calibrate_run`), and the --conformal option `predict` and `evaluate`
share."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli.common import (
    INPUTS_HELP,
    DeviceOption,
    IdColumnOption,
    LabelColumnOption,
    LabelsOption,
    RunArgument,
    ThreadsOption,
    app,
    err,
    user_errors,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    BackgroundSeedOption,
    GenomeOption,
    RunWindowOption,
)
from dnanet.cli.report import ConsoleReporter

ConformalOption = typer.Option(
    None,
    "--conformal",
    metavar="ALPHA",
    show_default=False,
    help="Conformal prediction at level ALPHA (e.g. 0.1 for 90%), from the run's "
    "calibration.json (written by train; for older runs by dnanet calibrate): predict adds a "
    "'set' column (classes joined by ','; within each class the true class is in the set for at "
    "least 1 - ALPHA of records) or low_/high_ intervals per target, with temperature-scaled "
    "probabilities; evaluate reports the coverage reached per class and the calibration error "
    "before and after temperature scaling.",
)


@app.command()
@user_errors
def calibrate(
    run: Path = RunArgument,
    inputs: List[str] = typer.Argument(
        None,
        help=INPUTS_HELP.replace("CTCF example", "CTCF held-out files") + GENOME_INPUTS_HELP,
        show_default=False,
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run's calibration.json if it has one."
    ),
    labels: Optional[Path] = LabelsOption,
    id_column: str = IdColumnOption,
    label_column: List[str] = LabelColumnOption,
    batch_size: int = typer.Option(
        256, min=1, help="Sequences per batch (results do not depend on it)."
    ),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = RunWindowOption,
    background_ratio: int = BackgroundRatioOption,
    seed: int = BackgroundSeedOption,
    signal: Optional[List[str]] = typer.Option(
        None,
        "--signal",
        metavar="NAME=TRACK.bw",
        show_default=False,
        help="A counts run: the bigWig of its track NAME (repeat per track) instead of the file "
        "the run was trained on.",
    ),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
):
    """Fit a run's calibration on labelled held-out data and write RUN/calibration.json.

    Training writes calibration.json from its validation part; use this for a run trained before
    that, or to calibrate on data more like what it will predict. The records must not be ones the
    run trained on. Classification: the temperature that minimises their negative log-likelihood
    (printed with the expected calibration error before and after) and, per true class, the
    conformal scores 1 - p(true class); regression and counts: |y - prediction| per target. Then
    predict and evaluate take --conformal ALPHA.

      dnanet calibrate runs/ctcf bound=cal_bound.fa background=cal_bg.fa
      dnanet predict runs/ctcf unknown.fa --conformal 0.1 --out predictions.tsv
    """
    from dnanet.examples import heldout_inputs
    from dnanet.report.calibrate import calibrate_run

    calibrated = calibrate_run(
        run,
        inputs or [],
        labels=labels,
        id_column=id_column,
        label_columns=label_column,
        default=heldout_inputs,
        genome=genome,
        window=window,
        background_ratio=background_ratio,
        seed=seed,
        batch_size=batch_size,
        signal=signal or [],
        overwrite=overwrite,
        device=device,
        threads=threads,
        reporter=ConsoleReporter(),
    )
    err.print(calibrated.summary(), highlight=False, soft_wrap=True)
