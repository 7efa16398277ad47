"""`dnanet train`: read the inputs into the store, train, write the run folder; `--resume`
continues one."""

from __future__ import annotations

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
    Terminated,
    ThreadsOption,
    app,
    claim_output,
    err,
    out_console,
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
from dnanet.data.labelled import read_training_inputs
from dnanet.cli.train_options import (
    BatchSizeOption,
    CacheOption,
    ConfigOption,
    EpochsOption,
    KeepDuplicatesOption,
    LrOption,
    ModelOption,
    OutOption,
    OverwriteRunOption,
    PrecisionOption,
    QuietOption,
    ResumeOption,
    SeedOption,
    SplitOption,
    TaskOption,
    TestChromsOption,
    TestOption,
    ValChromsOption,
    ValOption,
)
from dnanet.training.resume import absolute_input, check_unchanged, run_invocation, unfinished_run
from dnanet.errors import DnanetError


@app.command()
@user_errors
def train(
    inputs: List[str] = typer.Argument(
        None, help=INPUTS_HELP + GENOME_INPUTS_HELP, show_default=False
    ),
    out: Optional[Path] = OutOption,
    labels: Optional[Path] = LabelsOption,
    id_column: str = IdColumnOption,
    label_column: List[str] = LabelColumnOption,
    task: str = TaskOption,
    config: Optional[Path] = ConfigOption,
    model: Optional[str] = ModelOption,
    epochs: Optional[int] = EpochsOption,
    seed: Optional[int] = SeedOption,
    batch_size: Optional[int] = BatchSizeOption,
    lr: Optional[float] = LrOption,
    precision: Optional[str] = PrecisionOption,
    split: Optional[str] = SplitOption,
    val_chroms: Optional[str] = ValChromsOption,
    test_chroms: Optional[str] = TestChromsOption,
    val: List[str] = ValOption,
    test: List[str] = TestOption,
    keep_duplicates: bool = KeepDuplicatesOption,
    overwrite: bool = OverwriteRunOption,
    resume: Optional[Path] = ResumeOption,
    cache: Optional[Path] = CacheOption,
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = WindowOption,
    background_ratio: int = BackgroundRatioOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
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

    from dnanet.runtime import distributed
    from dnanet.training.checkpoint import Checkpoint, checkpoint_folder
    from dnanet.cli.display import metrics_table, training_monitor
    from dnanet.config.run_config import config_from_dict, load_config
    from dnanet.examples import training_inputs
    from dnanet.training.experiment import train_model, write_run
    from dnanet.files.outputs import check_output_kind
    from dnanet.data.tasks import infer_task

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
        out, checkpoint, invocation = resume, *unfinished_run(resume, given)
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
                reporter=ConsoleReporter(),
            )
        if processes.distributed:
            torch.distributed.barrier()
    checkpoint.write = main
    if resume is not None:
        check_unchanged(invocation["provenance"], records.provenance)
    else:
        if main:
            checkpoint.remove()
        if processes.distributed:
            torch.distributed.barrier()  # no process may see the old checkpoint
        checkpoint.invocation = run_invocation(
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
            val=[absolute_input(given) for given in val or []],
            test=[absolute_input(given) for given in test or []],
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
    """RUN/report.html and its figures (`dnanet.report.page`). The run is already written: a report
    that fails costs a one-line warning, not the finished training."""
    from rich.markup import escape

    from dnanet.report.page import write_run_report

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
