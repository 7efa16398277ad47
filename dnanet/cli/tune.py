"""`dnanet tune`: a hyperparameter search (Optuna) over the inputs of `dnanet train`; writes the
best config, the trials table and plots of the search (`dnanet.tune.workflow.run_search`)."""

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
    ThreadsOption,
    app,
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
    ControlOption,
    CountsWeightOption,
    ExcludeOption,
    JitterOption,
    ProfileLossOption,
    SignalDtypeOption,
    SignalOption,
    TargetWidthOption,
)
from dnanet.errors import DnanetError


@app.command()
@user_errors
def tune(
    inputs: List[str] = typer.Argument(
        None, help=INPUTS_HELP + GENOME_INPUTS_HELP, show_default=False
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder of the search: study.db (the Optuna study; run the "
        "same command again to continue it), best_config.yaml, trials.tsv, importances.tsv, "
        "history.png, importances.png.",
    ),
    model: Optional[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model family to tune: cnn, lstm, transformer, ternary_mlp (default: the config's).",
    ),
    trials: int = typer.Option(
        20,
        "--trials",
        "-n",
        min=1,
        help="Finished trials (complete or pruned) the study "
        "should hold; a resumed study runs only the missing ones.",
    ),
    space: Optional[Path] = typer.Option(
        None,
        "--space",
        help="Search space YAML (default: the shipped "
        "configs/search/<model>.yaml; see it for the format).",
    ),
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        "-c",
        help="Base YAML config: every key the space does "
        "not search, the seed and the split (default: configs/<model>.yaml).",
    ),
    epochs: Optional[int] = typer.Option(
        None, help="Override train.epochs of the base config (most epochs per trial)."
    ),
    labels: Optional[Path] = LabelsOption,
    id_column: str = IdColumnOption,
    label_column: List[str] = LabelColumnOption,
    task: str = typer.Option(
        "auto", help="auto, binary, multiclass, multilabel or regression (as dnanet train)."
    ),
    split: Optional[str] = typer.Option(
        None, "--split", help="Override data.split: random or chromosome (as dnanet train)."
    ),
    val_chroms: Optional[str] = typer.Option(
        None, "--val-chroms", help="Override data.val_chroms (as dnanet train)."
    ),
    test_chroms: Optional[str] = typer.Option(
        None, "--test-chroms", help="Override data.test_chroms (as dnanet train)."
    ),
    val: List[str] = typer.Option(
        None,
        "--val",
        metavar="CLASS=PATH",
        show_default=False,
        help="A fixed validation set (as dnanet train): the records trials are scored on.",
    ),
    test: List[str] = typer.Option(
        None,
        "--test",
        metavar="CLASS=PATH",
        show_default=False,
        help="A fixed test set (as dnanet train): kept out of every trial, never scored.",
    ),
    keep_duplicates: bool = typer.Option(
        False, "--keep-duplicates", help="Set data.keep_duplicates (as dnanet train)."
    ),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        min=1,
        help="Trials run at once, each in its own process (torch "
        "threads: --threads each, or the cores shared out).",
    ),
    storage: Optional[str] = typer.Option(
        None,
        "--storage",
        help="Optuna storage URL of a shared study database "
        "(e.g. postgresql://user@host/db, mysql://...; SQLite only on one machine) "
        "instead of OUT/study.db: searches on several machines with the same "
        "--storage and --study-name add trials to one study.",
    ),
    study_name: Optional[str] = typer.Option(
        None,
        "--study-name",
        help="Study name in the database (default: the name of the OUT folder).",
    ),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", min=1, help="Start no new trial after this many seconds (per process)."
    ),
    cache: Optional[Path] = typer.Option(
        None,
        "--cache",
        help="Folder for the sequence store (default: .dnanet-cache beside OUT, as dnanet train).",
    ),
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
):
    """Search hyperparameters of a model family on labelled FASTA files (Optuna: TPE sampler, median
    pruner).

    Inputs, labels, split and signal (--signal coverage) options are those of `dnanet train`. The
    split is made once, from
    the base config's seed; each trial trains the base config with the trial's values on the
    training part and is scored by its lowest validation loss; the test part is never scored
    (train the best config and evaluate it once). The first trial is the base config as it is,
    so the best is never worse on validation than no search. A trial whose validation loss after
    an epoch is worse than the median of earlier trials at that epoch is stopped (pruned). One
    line per finished trial. The study is kept in OUT/study.db: stopped (Ctrl-C, killed), the same
    command continues it. Examples:

      dnanet tune bound=bound.fa background=background.fa --model cnn --trials 30 --out tune/ctcf

      dnanet train bound=bound.fa background=background.fa \\
        -c tune/ctcf/best_config.yaml --out runs/best
    """
    options = dict(locals())  # run_search's keywords are these options' names
    from dnanet.tune.workflow import run_search

    outcome = run_search(**options, reporter=ConsoleReporter())
    if outcome.best_line is not None:
        out_console.print(outcome.best_line, highlight=False, soft_wrap=True)
    for kind, text in outcome.summary:
        print_note(text, kind)
    if outcome.interrupted:
        raise typer.Exit(130)
    if outcome.failure is not None:
        raise DnanetError(outcome.failure)
