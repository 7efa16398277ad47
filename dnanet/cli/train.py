"""`dnanet train`: read the inputs into the store, train, write the run folder; `--resume`
continues one (`dnanet.training.workflow`: `train_run`, `resume_run`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli.common import (
    INPUTS_HELP,
    DeviceOption,
    IdColumnOption,
    LabelColumnOption,
    LabelsOption,
    Terminated,
    ThreadsOption,
    app,
    err,
    out_console,
    user_errors,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    GenomeOption,
    WindowOption,
)
from dnanet.cli.report import ConsoleReporter, print_note
from dnanet.cli.train_options import (
    BatchSizeOption,
    CacheOption,
    ConfigOption,
    ControlOption,
    CountsWeightOption,
    EpochsOption,
    ExcludeOption,
    FoldOption,
    FoldsOption,
    JitterOption,
    KeepDuplicatesOption,
    LrOption,
    ModelOption,
    OutOption,
    OverwriteRunOption,
    PrecisionOption,
    ProfileLossOption,
    QuietOption,
    RequireAllFoldsOption,
    ResumeOption,
    SeedOption,
    SignalDtypeOption,
    SignalOption,
    SplitOption,
    TargetWidthOption,
    TaskOption,
    TensorboardOption,
    TestChromsOption,
    TestOption,
    ValChromsOption,
    ValOption,
    WandbOption,
)
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
    folds: Optional[int] = FoldsOption,
    fold: Optional[int] = FoldOption,
    require_all_folds: bool = RequireAllFoldsOption,
    overwrite: bool = OverwriteRunOption,
    resume: Optional[Path] = ResumeOption,
    cache: Optional[Path] = CacheOption,
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = WindowOption,
    background_ratio: int = BackgroundRatioOption,
    exclude: Optional[Path] = ExcludeOption,
    signal: List[str] = SignalOption,
    control: List[str] = ControlOption,
    target_width: Optional[int] = TargetWidthOption,
    jitter: int = JitterOption,
    profile_loss: str = ProfileLossOption,
    counts_weight: float = CountsWeightOption,
    signal_dtype: str = SignalDtypeOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    tensorboard: Optional[Path] = TensorboardOption,
    wandb: Optional[str] = WandbOption,
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

      dnanet train peaks=peaks.narrowPeak background=gc-matched --genome hg38.fa --window 1000 \\
        --signal chip=chip.bw --task profile --jitter 64 --split chromosome --out runs/signal

      dnanet train bound.fa background.fa --folds 5 --out runs/ensemble

      dnanet train bound.fa background.fa --out runs/ctcf --tensorboard tb/ctcf --wandb dna

    Generated backgrounds are seeded by the config's seed.
    """
    options = dict(locals())  # train_run's keywords are these options' names
    from dnanet.cli.display import members_table, metrics_table, training_monitor
    from dnanet.report import page
    from dnanet.training.tracking import Tracking
    from dnanet.training.workflow import TrainingStopped

    err.quiet = os.environ.get("RANK", "0") != "0"  # under torchrun rank 0 speaks for all
    for name in ("resume", "device", "threads", "quiet", "tensorboard", "wandb"):
        del options[name]
    run = dict(
        device=device,
        threads=threads,
        reporter=ConsoleReporter(quiet),
        monitor=training_monitor(err, quiet),
        write_report=page.write_run_report,
        tracking=Tracking.of(tensorboard, wandb),
    )
    try:
        outcome = _train_or_resume(options, resume, run)
    except TrainingStopped as stopped:
        terminated = isinstance(stopped.__cause__, Terminated)
        err.print(
            f"{'terminated (SIGTERM)' if terminated else 'interrupted'}; {stopped}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(143 if terminated else 130)
    if not outcome.written:  # a torchrun process other than rank 0
        return
    metrics = outcome.metrics
    if "n" in metrics:  # (an unfinished ensemble, or a profile ensemble's, has no test table)
        title = "ensemble, " if "members" in metrics else ""
        out_console.print(metrics_table(metrics, f"{title}test split ({metrics['n']} sequences)"))
        if members_table(metrics) is not None:
            out_console.print(members_table(metrics))
    for kind, text in outcome.summary:
        print_note(text, kind)


def _train_or_resume(options: dict, resume: Optional[Path], run: dict):
    """A new run, an unfinished one continued, or with --folds an ensemble
    (`dnanet.training.folds`)."""
    from dnanet.training.folds import is_unfinished_ensemble, resume_folds, train_folds
    from dnanet.training.workflow import resume_run, train_run

    folds, fold = options.pop("folds"), options.pop("fold")
    require_all = options.pop("require_all_folds")
    if resume is not None and is_unfinished_ensemble(resume):
        return resume_folds(resume, given=options, require_all=require_all, **run)
    if resume is not None:
        return resume_run(resume, given=options, **run)
    if folds is None:
        if fold is not None or require_all:
            raise DnanetError("--fold and --require-all-folds go with --folds K")
        return train_run(**options, **run)
    return train_folds(folds=folds, fold=fold, require_all=require_all, **options, **run)
