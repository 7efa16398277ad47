"""The `dnanet` command line: a thin Typer layer over the library (parse, load, call, write).

Every user error becomes a one-line message on stderr and exit code 1, with no output left
behind; set DNANET_DEBUG=1 to see a traceback for unexpected errors.
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dnanet import __version__
from dnanet.errors import DnanetError

app = typer.Typer(
    help="Deep learning on DNA sequences: train, evaluate and predict from FASTA files.\n\n"
    "Try it on the bundled CTCF example (used when no FASTA is given):\n\n"
    "  dnanet train --out runs/ctcf\n\n"
    "  dnanet evaluate runs/ctcf --out runs/ctcf/heldout_metrics.json\n\n"
    "  dnanet predict runs/ctcf --out runs/ctcf/predictions.tsv",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)
out = Console()

INPUTS_HELP = ("FASTA files (plain or .gz), one per class: the class is the file name without "
               ".fa/.fasta/.fna/.gz, or name it as CLASS=PATH. Default: the bundled CTCF example.")


def user_errors(command: Callable) -> Callable:
    """Turn DnanetError, OS errors and Ctrl-C into one-line messages and non-zero exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DnanetError as error:
            _print_error("error", str(error))
        except KeyboardInterrupt:
            err.print("interrupted; no output was written")
            raise typer.Exit(130)
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            _print_error("error", f"{where}{error.strerror or error}")
        except Exception as error:  # a bug: still one line unless asked for the traceback
            if os.environ.get("DNANET_DEBUG"):
                raise
            _print_error("internal error", f"{type(error).__name__}: {error} (set DNANET_DEBUG=1 for the traceback)")
        raise typer.Exit(1)

    return wrapper


def _print_error(kind: str, message: str) -> None:
    """One line on stderr; the message is printed verbatim (file names may contain [brackets])."""
    err.print(f"[red]{kind}:[/red] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)


def parse_inputs(arguments: list[str], default: Callable[[], list]) -> list:
    """CLI input strings -> LabelledInput list; CLASS=PATH names the class, else the file name does."""
    from dnanet.data import LabelledInput
    from dnanet.read import class_name_from_path

    if not arguments:
        inputs = default()
        names = ", ".join(f"{label}={path.name}" for label, path in inputs)
        err.print(f"no FASTA given: using the bundled CTCF example files {escape(names)}", highlight=False)
        return [LabelledInput(label, path) for label, path in inputs]
    parsed = []
    for argument in arguments:
        label, sep, path = argument.partition("=")
        if not sep or Path(argument).exists():
            label, path = class_name_from_path(argument), argument
        if not label:
            raise DnanetError(f"{argument}: empty class name before '='")
        parsed.append(LabelledInput(label, Path(path)))
    return parsed


def _setup_torch(threads: Optional[int], device: str):
    import torch

    from dnanet.infer import resolve_device

    if threads:
        torch.set_num_threads(threads)
    try:
        resolved = resolve_device(device)
    except RuntimeError as error:
        raise DnanetError(f"--device {device}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DnanetError(f"--device {device}: CUDA is not available on this machine")
    return resolved


ThreadsOption = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice).")
DeviceOption = typer.Option("auto", "--device", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N.")


@app.command()
@user_errors
def train(
    inputs: List[str] = typer.Argument(None, help=INPUTS_HELP, show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create: model, metrics.json, history.csv."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="TSV/CSV table with id and label columns, instead of one file per class."),
    id_column: str = typer.Option("id", help="Record-id column of --labels."),
    label_column: str = typer.Option("label", help="Label column of --labels."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (default: configs/<model>.yaml)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model family; overrides the config's (cnn)."),
    epochs: Optional[int] = typer.Option(None, help="Override train.epochs."),
    seed: Optional[int] = typer.Option(None, help="Override seed."),
    batch_size: Optional[int] = typer.Option(None, help="Override train.batch_size."),
    lr: Optional[float] = typer.Option(None, help="Override train.lr."),
    overwrite: bool = typer.Option(False, help="Replace an existing run folder."),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Train a model on labelled FASTA files and write a run folder.

    Sequences are split (seeded, stratified) into train / validation / test; the model with the
    lowest validation loss is kept and scored on the test split (metrics.json). Example:

      dnanet train bound.fa background.fa --model cnn --out runs/ctcf
    """
    from dnanet.config import load_config
    from dnanet.data import LabelledInput, load_labelled
    from dnanet.examples import training_inputs
    from dnanet.experiment import train_model, write_run
    from dnanet.read import read_label_table
    from dnanet.runs import check_output_path

    cfg = load_config(config, model, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr)
    check_output_path(out, overwrite, is_dir=True)
    torch_device = _setup_torch(threads, device)
    if labels is not None:
        if not inputs:
            raise DnanetError("--labels needs the FASTA files whose record ids it labels")
        parsed = [LabelledInput(None, Path(path)) for path in inputs]
        sequences, provenance = load_labelled(parsed, read_label_table(labels, id_column, label_column))
    else:
        sequences, provenance = load_labelled(parse_inputs(inputs, training_inputs))
    counts = ", ".join(f"{name} {int((sequences.labels == i).sum())}" for i, name in enumerate(sequences.class_names))
    err.print(f"{len(sequences)} sequences ({counts}); model {cfg.model['name']}, encoder {cfg.encoder.name}, "
              f"device {torch_device}")
    result = train_model(cfg, sequences, provenance, torch_device, show_progress=not quiet)
    write_run(out, result, overwrite)
    _print_metrics(result.test_metrics, f"test split ({result.test_metrics['n']} sequences)")
    err.print(f"run written to {out}")


@app.command()
@user_errors
def evaluate(
    run: Path = typer.Argument(..., help="A run folder made by `dnanet train`."),
    inputs: List[str] = typer.Argument(None, help=INPUTS_HELP.replace("CTCF example", "CTCF held-out files"), show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the metrics as JSON (same keys as metrics.json)."),
    batch_size: int = typer.Option(256, min=1, help="Sequences per batch (results do not depend on it)."),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
):
    """Score a trained model on labelled FASTA files: accuracy, AUROC, AUPRC, MCC, F1, per class.

      dnanet evaluate runs/ctcf bound=more_bound.fa background=more_bg.fa --out metrics.json
    """
    from dnanet.data import load_labelled, make_loader
    from dnanet.evaluate import classification_metrics
    from dnanet.examples import heldout_inputs
    from dnanet.infer import predict
    from dnanet.runs import atomic_file, load_run, write_json

    model, description = load_run(run, _setup_torch(threads, device))
    classes = description["classes"]
    sequences, _ = load_labelled(parse_inputs(inputs, heldout_inputs), class_names=classes)
    batches = ((b["codes"], b["lengths"]) for b in make_loader(sequences, batch_size))
    probs = predict(model, batches, description.get("reverse_complement_average", False))
    metrics = classification_metrics(sequences.labels, probs, classes)
    if out is not None:
        with atomic_file(out) as temporary:
            write_json(temporary, metrics)
    _print_metrics(metrics, f"{run} on {len(sequences)} sequences")


def _print_metrics(metrics: dict, title: str) -> None:
    from dnanet.evaluate import format_value

    keys = ["accuracy", "auroc", "auprc", "mcc", "f1"]
    table = Table(title=title)
    table.add_column("class")
    for key in [*keys, "n"]:
        table.add_column(key, justify="right")
    overall = "all" + (f" (positive: {metrics['positive_class']})" if "positive_class" in metrics else " (macro)")
    table.add_row(overall, *[format_value(metrics[k]) for k in keys], str(metrics["n"]))
    for name, values in metrics["per_class"].items():
        table.add_row(name, "", *[format_value(values[k]) for k in keys[1:3]], "", format_value(values["f1"]), str(values["n"]))
    out.print(table)


@app.command()
@user_errors
def predict(
    run: Path = typer.Argument(..., help="A run folder made by `dnanet train`."),
    fasta: List[Path] = typer.Argument(None, help="FASTA files (plain or .gz). Default: the bundled CTCF held-out files.", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="TSV to write ('-' for standard output)."),
    batch_size: int = typer.Option(256, min=1, help="Sequences per batch (results do not depend on it)."),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Predict the class of every record: a TSV with columns id, predicted, prob_<class>...

    One row per record, in input order; files are streamed, so memory does not grow with their size.

      dnanet predict runs/ctcf unknown.fa.gz --out predictions.tsv
    """
    from dnanet.examples import heldout_inputs
    from dnanet.runs import atomic_file, load_run

    model, description = load_run(run, _setup_torch(threads, device))
    paths = list(fasta) if fasta else [path for _, path in parse_inputs([], heldout_inputs)]
    if str(out) == "-":
        _write_predictions(sys.stdout, model, description, paths, batch_size, quiet=True)
        return
    with atomic_file(out) as temporary, open(temporary, "w", newline="") as handle:
        count = _write_predictions(handle, model, description, paths, batch_size, quiet)
    err.print(f"{count} predictions written to {out}")


def _write_predictions(handle, model, description: dict, paths: list[Path], batch_size: int, quiet: bool) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from dnanet.data import iter_batches
    from dnanet.infer import predict_batch

    classes = description["classes"]
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    writer.writerow(["id", "predicted", *[f"prob_{name}" for name in classes]])
    count = 0
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, disable=quiet) as bar:
        task = bar.add_task("predicting: 0 records")
        for batch in iter_batches(paths, batch_size):
            probs = predict_batch(model, batch.codes, batch.lengths, description.get("reverse_complement_average", False))
            for record_id, row in zip(batch.ids, probs.numpy()):
                writer.writerow([record_id, classes[int(row.argmax())], *[f"{p:.6f}" for p in row]])
            count += len(batch.ids)
            bar.update(task, description=f"predicting: {count} records")
    return count


@app.command()
@user_errors
def example(out: Path = typer.Argument(Path("ctcf-example"), help="Folder to write the example FASTA files into.")):
    """Copy the bundled CTCF example FASTA files (training and held-out) into a folder."""
    from dnanet.examples import example_path, heldout_inputs, training_inputs

    out.mkdir(parents=True, exist_ok=True)
    for _, path in [*training_inputs(), *heldout_inputs()]:
        shutil.copyfile(path, out / path.name)
    shutil.copyfile(example_path("SOURCE.txt"), out / "SOURCE.txt")
    err.print(f"wrote {out}/bound.fa, background.fa (training) and heldout_bound.fa, heldout_background.fa")


def _version(value: bool) -> None:
    if value:
        print(f"dnanet {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version.")):
    """dnanet: deep learning on DNA sequences (see --help of each command)."""
