"""`dnanet evaluate` and `example`: parse, load, call the library, write (`predict` is in
`dnanet.cli.predict`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli.report import ConsoleReporter
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
    claim_output,
    err,
    out_console,
    setup_torch,
    user_errors,
    warn_if_not_learned,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    BackgroundSeedOption,
    GenomeOption,
    RunWindowOption,
    genome_settings,
)
from dnanet.data.labelled import read_labelled_inputs
from dnanet.errors import DnanetError


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
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
):
    """Score a trained model on labelled FASTA files and print the metrics.

    Classification: accuracy, AUROC, AUPRC, MCC, F1, overall and per class. Regression: Pearson,
    Spearman, MSE.

      dnanet evaluate runs/ctcf bound=more_bound.fa background=more_bg.fa --out metrics.json
    """
    from dnanet.cli.display import metrics_table
    from dnanet.training.metrics import task_metrics
    from dnanet.examples import heldout_inputs
    from dnanet.inference.predict import predict
    from dnanet.data.loaders import code_batches
    from dnanet.runs.load import load_run
    from dnanet.runs.save import write_json
    from dnanet.data.tasks import Task

    if report is not None and report.exists() and not overwrite:  # before any work
        raise DnanetError(f"{report}: already exists; choose another --report or pass --overwrite")
    output = claim_output(out, overwrite) if out is not None else None
    loaded = load_run(run, setup_torch(threads, device))
    model, description = loaded.model, loaded.record
    the_task = Task.from_dict(description["task"])
    records = read_labelled_inputs(
        inputs,
        labels,
        id_column,
        label_column,
        heldout_inputs,
        genome=genome_settings(genome, window, background_ratio, seed, loaded),
        reporter=ConsoleReporter(),
    )
    sequences = records.with_targets(records.targets(the_task.encode))
    batches = code_batches(sequences, batch_size)
    outputs = predict(
        model, batches, description["reverse_complement_average"], activate=the_task.activate
    )
    metrics = task_metrics(the_task, sequences.targets, outputs)
    if "learned" in description:
        metrics["learned"] = description["learned"]
    if out is not None:
        with output.writing() as temporary:
            write_json(temporary, metrics)
    out_console.print(metrics_table(metrics, f"{run} on {len(sequences)} sequences"))
    warn_if_not_learned(description, str(run))
    if report is not None:
        from dnanet.report.page import write_evaluation_report

        page = write_evaluation_report(
            report,
            run,
            description,
            metrics,
            records.provenance,
            sequences.targets,
            outputs,
            overwrite=overwrite,
        )
        err.print(f"report: {page}", highlight=False, soft_wrap=True)


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
    from dnanet.examples import example_path, heldout_inputs, training_inputs

    sources = [path for _, path in [*training_inputs(), *heldout_inputs()]] + [
        example_path("SOURCE.txt")
    ]
    outputs = [claim_output(out / source.name, overwrite) for source in sources]
    for source, output in zip(sources, outputs):
        with output.writing() as temporary:
            shutil.copyfile(source, temporary)
    err.print(
        f"wrote {out}/bound.fa, background.fa (training) and heldout_bound.fa, "
        "heldout_background.fa"
    )
