"""`dnanet tune`: a hyperparameter search (Optuna) over the inputs of `dnanet train`; writes the
best config, the trials table and plots of the search (`dnanet.tune.study`, `dnanet.tune.report`)."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from dnanet.cli.report import ConsoleReporter
from dnanet.cli.common import (
    INPUTS_HELP,
    DeviceOption,
    IdColumnOption,
    LabelColumnOption,
    LabelsOption,
    ThreadsOption,
    app,
    err,
    sigterm_as_interrupt,
    user_errors,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    GenomeOption,
    WindowOption,
    genome_settings,
)
from dnanet.data.labelled import read_training_inputs
from dnanet.errors import DnanetError
from dnanet.runtime.threads import use_threads

STUDY_FILE = "study.db"


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
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
):
    """Search hyperparameters of a model family on labelled FASTA files (Optuna: TPE sampler, median
    pruner).

    Inputs, labels and split options are those of `dnanet train`. The split is made once, from
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
    from dnanet.config.run_config import load_config
    from dnanet.tune.search_space import load_space
    from dnanet.tune.study import Search, default_jobs_threads, run_search, storage_of
    from dnanet.tune.report import write_report

    data_overrides = {
        "split": split,
        "val_chroms": val_chroms,
        "test_chroms": test_chroms,
        "keep_duplicates": True if keep_duplicates else None,
    }
    base = load_config(config, model, data=data_overrides, epochs=epochs)
    search_space = load_space(space, base)
    if out.exists() and not out.is_dir():
        raise DnanetError(f"{out}: exists and is not a folder")
    search = Search(
        base,
        search_space,
        storage or f"sqlite:///{(out / STUDY_FILE).resolve()}",
        study_name or out.resolve().name,
        trials,
        device,
        default_jobs_threads(jobs, threads),
        timeout,
        shared=storage is not None,
    )
    if storage is not None:
        storage_of(search)  # a bad URL or an unreachable server fails before the inputs are read
    use_threads(threads)
    load = functools.partial(
        load_data,
        inputs or [],
        val or [],
        test or [],
        labels,
        id_column,
        list(label_column),
        task,
        cache or out.parent / ".dnanet-cache",
        genome,
        window,
        background_ratio,
        base.seed,
    )
    data = load(notes=True)
    err.print(
        f"{len(data.sequences):,} sequences read; tuning {base.model['name']} over "
        f"{len(search_space.parameters)} parameters ({search_space.source}); {trials} "
        f"trial{'s' if trials > 1 else ''}, {jobs} at a time",
        highlight=False,
        soft_wrap=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    interrupted = False
    with _search_lock(out, storage is None):
        try:
            with sigterm_as_interrupt():
                study = run_search(search, data, load, say, jobs)
        except KeyboardInterrupt:
            import optuna

            interrupted = True
            study = optuna.load_study(study_name=search.study_name, storage=storage_of(search))
        report = write_report(study, base, search_space, out, search.threads)
    _print_summary(report, out)
    if interrupted:
        err.print(
            "interrupted; the finished trials are kept in the study: the same command continues it",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
    if report["best"] is None:
        raise DnanetError(
            f"no trial completed; each failed trial's error is in {out / 'trials.tsv'}"
        )


def load_data(
    inputs: list[str],
    val: list[str],
    test: list[str],
    labels: Optional[Path],
    id_column: str,
    label_column: list[str],
    task: str,
    cache: Path,
    genome: Optional[Path],
    window: Optional[int],
    background_ratio: int,
    seed: int,
    notes: bool = False,
):
    """Read the inputs exactly as `dnanet train` does (the same store, task and targets) ->
    TuneData. Top-level so that --jobs processes can call it; only the first call (`notes`) prints
    notes."""
    from dnanet.examples import training_inputs
    from dnanet.data.tasks import infer_task
    from dnanet.tune.study import TuneData

    err.quiet = not notes
    records, parts = read_training_inputs(
        inputs,
        val,
        test,
        labels,
        id_column,
        label_column,
        training_inputs,
        cache,
        genome=genome_settings(genome, window, background_ratio, seed),
        reporter=ConsoleReporter(),
    )
    err.quiet = False
    the_task = infer_task(
        records.label_values, label_column if labels is not None else ["class"], task
    )
    sequences = records.with_targets(records.targets(the_task.encode))
    return TuneData(sequences, the_task, records.provenance, parts, records.where)


def say(line: str) -> None:
    """One progress line on stderr (also from --jobs processes)."""
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _search_lock(out: Path, local: bool) -> Iterator[None]:
    """Hold OUT/.tune.lock while searching: one `dnanet tune` per folder (use --jobs for more trials
    at once), so a trial left running in OUT/study.db is known to be from a killed search."""
    if not local:
        yield
        return
    import fcntl

    with open(out / ".tune.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DnanetError(
                f"{out}: another dnanet tune is searching in this folder; wait for it, or add "
                "trials at once with --jobs"
            ) from None
        yield


def _print_summary(report: dict, out: Path) -> None:
    from dnanet.cli.common import out_console

    best = report["best"]
    if best is not None:
        metrics = "".join(
            f", {key.replace('_', ' ')} {value:.4f}"
            for key, value in best.user_attrs.items()
            if key.startswith("val_")
        )
        params = ", ".join(
            f"{path} {value:.4g}" if isinstance(value, float) else f"{path} {value}"
            for path, value in best.params.items()
        )
        out_console.print(
            f"best trial #{best.number}: val loss {best.value:.4f} at epoch "
            f"{best.user_attrs.get('best_epoch')}{metrics}; {params}",
            highlight=False,
            soft_wrap=True,
        )
    for note in report["notes"]:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    err.print(f"written to {out}: {', '.join(report['files'])}", highlight=False, soft_wrap=True)
