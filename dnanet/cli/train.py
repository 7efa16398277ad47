"""`dnanet train`: read the inputs into the store, train, write the run folder; `--resume`
continues one."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli import choices
from dnanet.cli.common import (
    INPUTS_HELP,
    DeviceOption,
    IdColumnOption,
    LabelColumnOption,
    LabelsOption,
    Terminated,
    ThreadsOption,
    app,
    claim_output,
    err,
    out_console,
    read_training_inputs,
    setup_torch,
    sigterm_as_interrupt,
    user_errors,
    warn_if_not_learned,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    GenomeOption,
    WindowOption,
    genome_settings,
)
from dnanet.errors import DnanetError


@app.command()
@user_errors
def train(
    inputs: List[str] = typer.Argument(
        None, help=INPUTS_HELP + GENOME_INPUTS_HELP, show_default=False
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        "-o",
        help="Run folder to create: model, metrics.json, history.csv. Required unless --resume.",
    ),
    labels: Optional[Path] = LabelsOption,
    id_column: str = IdColumnOption,
    label_column: List[str] = LabelColumnOption,
    task: str = typer.Option(
        "auto",
        help="auto, binary, multiclass, multilabel or regression. auto: several label "
        "columns or 'a;b' labels -> multilabel; a numeric column that is not all whole numbers "
        "(or has > 20 values) -> regression; else one class per label.",
        autocompletion=choices.TASKS,
    ),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="YAML config (default: configs/<model>.yaml)."
    ),
    model: Optional[str] = typer.Option(
        None,
        "--model",
        "-m",
        autocompletion=choices.MODELS,
        help="Model family: its "
        "shipped config (configs/<model>.yaml); with --config, replaces that config's "
        "model section when it names another model.",
    ),
    epochs: Optional[int] = typer.Option(None, help="Override train.epochs."),
    seed: Optional[int] = typer.Option(None, help="Override seed."),
    batch_size: Optional[int] = typer.Option(None, help="Override train.batch_size."),
    lr: Optional[float] = typer.Option(None, help="Override train.lr."),
    precision: Optional[str] = typer.Option(
        None,
        help="Override train.precision: auto (float32 on a CPU; CUDA: "
        "bf16 mixed precision where the GPU has it, else fp16), fp32, bf16 or fp16.",
        autocompletion=choices.PRECISIONS,
    ),
    split: Optional[str] = typer.Option(
        None,
        "--split",
        help="Override data.split: random (seeded, stratified by "
        "class: data.val_fraction and data.test_fraction of the inputs) or chromosome "
        "(whole chromosomes held out, --val-chroms and --test-chroms, so no held-out "
        "window overlaps a training window; record ids must be chrom:start-end, e.g. "
        "chr2:1000-1200 or chr2:1000-1200(+), as bedtools getfasta writes).",
    ),
    val_chroms: Optional[str] = typer.Option(
        None,
        "--val-chroms",
        help="Override data.val_chroms, comma-separated "
        "(default chr10): the validation chromosomes of --split chromosome "
        "('chr' optional: 10 matches chr10).",
    ),
    test_chroms: Optional[str] = typer.Option(
        None,
        "--test-chroms",
        help="Override data.test_chroms, comma-separated "
        "(default chr8,chr9): the test chromosomes of --split chromosome.",
    ),
    val: List[str] = typer.Option(
        None,
        "--val",
        metavar="CLASS=PATH",
        show_default=False,
        help="A fixed validation "
        "set: FASTA files like the inputs (repeat per class; PATH alone with --labels). It "
        "replaces the validation part drawn from the inputs (data.val_fraction may be 0).",
    ),
    test: List[str] = typer.Option(
        None,
        "--test",
        metavar="CLASS=PATH",
        show_default=False,
        help="A fixed test set, "
        "as --val: metrics.json scores exactly these records (less duplicates of training "
        "records); data.test_fraction may be 0. A 'split' column (train, validation, test) "
        "in the --labels table fixes parts the same way.",
    ),
    keep_duplicates: bool = typer.Option(
        False,
        "--keep-duplicates",
        help="Set data.keep_duplicates: keep held-out "
        "records whose sequence (either strand when the run averages strands) is also "
        "in training (test: or validation). By default they are removed; the counts "
        "are printed and kept in model.json either way.",
    ),
    overwrite: bool = typer.Option(
        False, help="Replace an existing run folder (and an unfinished run's checkpoint)."
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Continue the unfinished run OUT from its last "
        "finished epoch (a run killed or stopped; its inputs, labels and config "
        "come from the checkpoint: give no FASTA, --labels or config options).",
    ),
    cache: Optional[Path] = typer.Option(
        None,
        "--cache",
        help="Folder for the sequence store (default: "
        ".dnanet-cache beside OUT). The inputs are read once into a memory-mapped "
        "store there, named by their SHA-256, so memory does not grow with the data "
        "and a later run on the same inputs skips reading; delete it to free disk.",
    ),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = WindowOption,
    background_ratio: int = BackgroundRatioOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Train a model on labelled FASTA files and write a run folder.

    Sequences are split into train / validation / test: at random (seeded; stratified by class),
    by chromosome (--split chromosome), or as given (--val, --test). Exact duplicate sequences
    are counted within and across classes and parts (one line; model.json "duplicates"), and
    held-out records already in training are left out unless --keep-duplicates. The model with
    the lowest validation loss is kept and scored on the test split (metrics.json). After every
    epoch a checkpoint is written to a hidden folder beside OUT (.OUT.checkpoint), so a run that
    is killed continues with `dnanet train --resume OUT`. Examples:

      dnanet train bound.fa background.fa --model cnn --out runs/ctcf

      dnanet train peaks=peaks.fa bg=shuffled.fa --split chromosome --test-chroms chr8,chr9 \\
        --out runs/chr

      dnanet train bound=peaks.narrowPeak background=gc-matched --genome hg38.fa --window 200 \\
        --out runs/peaks

    Generated backgrounds are seeded by the config's seed.
    """
    import torch

    from dnanet import distributed
    from dnanet.checkpoint import Checkpoint, checkpoint_folder
    from dnanet.cli.display import metrics_table, training_monitor
    from dnanet.config import config_from_dict, load_config
    from dnanet.examples import training_inputs
    from dnanet.experiment import train_model, write_run
    from dnanet.outputs import check_output_kind
    from dnanet.tasks import infer_task

    if resume is not None:
        given = [
            name
            for name, value in (
                ("FASTA inputs", inputs),
                ("--out", out),
                ("--labels", labels),
                ("--config", config),
                ("--model", model),
                ("--epochs", epochs),
                ("--seed", seed),
                ("--batch-size", batch_size),
                ("--lr", lr),
                ("--cache", cache),
                ("--precision", precision),
                ("--split", split),
                ("--val-chroms", val_chroms),
                ("--test-chroms", test_chroms),
                ("--val", val),
                ("--test", test),
                ("--keep-duplicates", keep_duplicates),
                ("--genome", genome),
                ("--window", window),
                ("--background-ratio", background_ratio != 1),
            )
            if value
        ]
        out, checkpoint, invocation = resume, *_unfinished_run(resume, given)
        inputs, labels = invocation["inputs"], invocation["labels"] and Path(invocation["labels"])
        val, test = invocation.get("val", []), invocation.get("test", [])
        id_column, label_column, task = (
            invocation["id_column"],
            invocation["label_column"],
            invocation["task"],
        )
        cfg = config_from_dict(invocation["config"], f"{checkpoint.folder}/state.json")
        cache = Path(invocation["cache"]) if invocation.get("cache") else None
        saved = invocation.get("genome") or {}
        genome, window = saved.get("genome") and Path(saved["genome"]), saved.get("window")
        background_ratio = saved.get("background_ratio", 1)
    else:
        if out is None:
            raise DnanetError("--out is required (the run folder to create), or --resume OUT")
        data = {
            "split": split,
            "val_chroms": val_chroms,
            "test_chroms": test_chroms,
            "keep_duplicates": True if keep_duplicates else None,
        }
        cfg = load_config(
            config,
            model,
            seed=seed,
            data=data,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            precision=precision,
        )
        checkpoint = Checkpoint(checkpoint_folder(out))
        if checkpoint.exists() and not overwrite:
            raise DnanetError(
                f"{out}: an unfinished run of this name has a checkpoint; "
                "continue it with --resume "
                f"{out}, or pass --overwrite to start afresh"
            )
    check_output_kind(out, folder=True)
    cache = cache or out.parent / ".dnanet-cache"
    processes, torch_device = distributed.start(setup_torch(threads, device, inference=False))
    main = processes.is_main
    output = (
        claim_output(out, overwrite, folder=True) if main else None
    )  # before training: fails at once
    err.quiet = (
        not main
    )  # rank 0 speaks for all (the same inputs give every rank the same messages)
    for rank_reads in (main, not main):  # rank 0 builds the store, then the others open it
        if rank_reads:
            records, parts = read_training_inputs(
                inputs,
                val or [],
                test or [],
                labels,
                id_column,
                label_column,
                training_inputs,
                cache,
                genome=genome_settings(genome, window, background_ratio, cfg.seed),
            )
        if processes.distributed:
            torch.distributed.barrier()
    checkpoint.write = main
    if resume is not None:
        _check_unchanged(invocation["provenance"], records.provenance)
    else:
        if main:
            checkpoint.remove()
        if processes.distributed:
            torch.distributed.barrier()  # no process may see the old checkpoint
        checkpoint.invocation = _invocation(
            records,
            labels,
            id_column,
            label_column,
            task,
            cfg,
            cache,
            genome_settings(genome, window, background_ratio, cfg.seed),
        )
        checkpoint.invocation.update(
            val=[_absolute(given) for given in val or []],
            test=[_absolute(given) for given in test or []],
        )
    the_task = infer_task(
        records.label_values, label_column if labels is not None else ["class"], task
    )
    sequences = records.with_targets(records.targets(the_task.encode))
    if main:
        err.print(
            f"{len(sequences):,} sequences read"
            + (f"; resuming from {checkpoint.folder}" if resume else "")
            + (f"; {processes.world_size} processes" if processes.distributed else ""),
            highlight=False,
        )
    try:
        with sigterm_as_interrupt():
            result = train_model(
                cfg,
                sequences,
                the_task,
                records.provenance,
                torch_device,
                training_monitor(err, quiet) if main else None,
                checkpoint,
                processes,
                parts=parts,
                where=records.where,
            )
    except KeyboardInterrupt as interruption:
        if checkpoint.exists():
            terminated = isinstance(interruption, Terminated)
            if main:
                err.print(
                    f"{'terminated (SIGTERM)' if terminated else 'interrupted'}; "
                    "the finished epochs are kept: "
                    f"continue with dnanet train --resume {out}",
                    highlight=False,
                    soft_wrap=True,
                )
            raise typer.Exit(143 if terminated else 130)
        raise
    finally:
        distributed.stop()
    if not main:
        return
    with output.writing() as folder:
        write_run(folder, result)
    checkpoint.remove()
    out_console.print(
        metrics_table(result.test_metrics, f"test split ({result.test_metrics['n']} sequences)")
    )
    warn_if_not_learned(result.description, str(out))
    err.print(
        f"run written to {out}" + ("" if result.description["learned"] else " (learned: false)"),
        soft_wrap=True,
    )
    _write_report(out, result)


def _write_report(out: Path, result) -> None:
    """RUN/report.html and its figures (`dnanet.report`). The run is already written: a report
    that fails costs a one-line warning, not the finished training."""
    from rich.markup import escape

    from dnanet.report import write_run_report

    try:
        page = write_run_report(
            out,
            result.description,
            result.test_metrics,
            result.history,
            result.test_targets,
            result.test_outputs,
        )
    except Exception as error:  # noqa: BLE001 (any drawing failure; the run itself is kept)
        err.print(
            f"[yellow]warning:[/yellow] {escape(str(out))}: report not written "
            f"({type(error).__name__}: {escape(str(error))})",
            highlight=False,
            soft_wrap=True,
        )
        return
    err.print(
        f"report: {escape(str(page))} (figures in {escape(str(page.parent / 'report'))})",
        highlight=False,
        soft_wrap=True,
    )


def _unfinished_run(out: Path, given: list[str]):
    """`--resume OUT`: (its checkpoint, the invocation saved with it); nothing else may be given."""
    from dnanet.checkpoint import Checkpoint, checkpoint_folder

    if given:
        raise DnanetError(
            f"--resume takes its inputs and settings from the checkpoint; drop {', '.join(given)}"
        )
    checkpoint = Checkpoint(checkpoint_folder(out))
    if not checkpoint.exists():
        raise DnanetError(
            f"{out}: no unfinished run to resume (no checkpoint in {checkpoint.folder})"
        )
    return checkpoint, checkpoint.read_invocation()


def _invocation(
    records,
    labels: Optional[Path],
    id_column: str,
    label_column: List[str],
    task: str,
    cfg,
    cache: Path,
    genome,
) -> dict:
    """How a run was started, saved with its checkpoint so that `--resume OUT` needs nothing else:
    the inputs (absolute paths, with their classes), label-table options, task, full config, the
    store folder, the genome settings, and each input's SHA-256 (`records.provenance`)."""
    from dnanet.sources import input_argument

    training = [
        item
        for item, entry in zip(records.inputs, records.provenance)
        if entry.get("part", "train") == "train"
    ]  # --val and --test files are saved apart
    return {
        "inputs": [input_argument(item) for item in training],
        "genome": genome.to_dict(),
        "labels": str(labels.resolve()) if labels is not None else None,
        "id_column": id_column,
        "label_column": list(label_column),
        "task": task,
        "config": cfg.to_dict(),
        "cache": str(cache.resolve()),
        "provenance": records.provenance,
    }


def _absolute(argument: str) -> str:
    """A --val/--test argument (CLASS=PATH or PATH) with its path made absolute, for --resume (a
    generated background, CLASS=gc-matched, stays as it is)."""
    from dnanet.sources import BACKGROUND_KINDS

    label, sep, path = argument.partition("=")
    if not sep or Path(argument).exists():
        return str(Path(argument).resolve())
    return f"{label}={path if path in BACKGROUND_KINDS else Path(path).resolve()}"


def _check_unchanged(saved: list[dict], now: list[dict]) -> None:
    """A resumed run must read the same inputs: compare each file's SHA-256 (and genome) with the
    checkpoint's."""
    for before, after in zip(saved, now):
        if before.get("sha256") != after.get("sha256"):
            raise DnanetError(
                f"{after.get('path')}: changed since the run was started (SHA-256 differs); "
                "train afresh with --overwrite"
            )
        if before.get("genome") != after.get("genome"):
            raise DnanetError(
                f"{(after.get('genome') or {}).get('path')}: the genome changed since the run was "
                "started (size, time or index differ); train afresh with --overwrite"
            )
