"""`dnanet evaluate` and `example`: parse the options, call the library
(`dnanet.report.evaluation.evaluate_run`, `dnanet.examples.copy_example`), print (`predict` is in
`dnanet.cli.predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli.calibrate import ConformalOption
from dnanet.cli.common import (
    INPUTS_HELP,
    DeviceOption,
    IdColumnOption,
    LabelColumnOption,
    LabelsOption,
    OverwriteOption,
    RunArgument,
    ThreadsOption,
    app,
    err,
    out_console,
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


@app.command()
@user_errors
def evaluate(
    run: Path = RunArgument,
    inputs: List[str] = typer.Argument(
        None,
        help=INPUTS_HELP.replace("CTCF example", "CTCF held-out files") + GENOME_INPUTS_HELP,
        show_default=False,
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write the metrics as JSON (same keys as metrics.json)."
    ),
    report: Optional[Path] = typer.Option(
        None,
        "--report",
        help="Folder to create with report.html and its PNG "
        "figures beside it: ROC, precision-recall, confusion matrix and "
        "calibration (classification) or predicted vs true (regression), the "
        "metrics, and the run's inputs, settings, split, strand and versions.",
    ),
    overwrite: bool = OverwriteOption,
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
        help="A signal run: score against this bigWig for its track NAME (repeat per track) "
        "instead of the file the run was trained on (model.json; refused if missing or changed).",
    ),
    conformal: Optional[float] = ConformalOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
):
    """Score a trained model on labelled FASTA files and print the metrics.

    Classification: accuracy, AUROC, AUPRC, MCC, F1, overall and per class. Regression: Pearson,
    Spearman, MSE.

      dnanet evaluate runs/ctcf bound=more_bound.fa background=more_bg.fa --out metrics.json

    A signal run (trained with --signal) is scored on BED intervals with --genome against the
    coverage of its tracks: log-count Pearson, Spearman and MSE beside the MSE of the training
    mean, and for a profile run the profile JSD and Pearson beside the mean profile's, per track:

      dnanet evaluate runs/chip more_peaks.narrowPeak --genome hg38.fa --out metrics.json

    With --conformal ALPHA, also the coverage the run's conformal prediction sets (or intervals)
    reach on these records, per class, beside the 1 - ALPHA asked, and the expected calibration
    error before and after temperature scaling (the metrics' "calibration"):

      dnanet evaluate runs/ctcf bound=more_bound.fa background=more_bg.fa --conformal 0.1
    """
    from dnanet.cli.display import calibration_table, members_table, metrics_table
    from dnanet.examples import heldout_inputs
    from dnanet.report.evaluation import evaluate_run

    evaluated = evaluate_run(
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
        out=out,
        report=report,
        overwrite=overwrite,
        device=device,
        threads=threads,
        reporter=ConsoleReporter(),
        signal=signal or [],
        conformal=conformal,
    )
    out_console.print(metrics_table(evaluated.metrics, f"{run} on {evaluated.count} sequences"))
    if members_table(evaluated.metrics) is not None:
        out_console.print(members_table(evaluated.metrics))
    if "calibration" in evaluated.metrics:
        out_console.print(calibration_table(evaluated.metrics["calibration"]))
    if evaluated.report is not None:
        err.print(f"report: {evaluated.report}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def example(
    out: Path = typer.Argument(
        Path("ctcf-example"), help="Folder to write the example FASTA files into."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace those files if the folder has them."
    ),
):
    """Copy the bundled CTCF example FASTA files (training and held-out) into a folder (other files
    in it are left alone; files of the same names are refused unless --overwrite)."""
    from dnanet.examples import copy_example

    copy_example(out, overwrite, reporter=ConsoleReporter())
    err.print(
        f"wrote {out}/bound.fa, background.fa (training) and heldout_bound.fa, "
        "heldout_background.fa"
    )
