"""A hyperparameter search end to end, as `dnanet tune` runs it: the base config and the search
space, the inputs read exactly as `dnanet train` reads them (`load_tune_data`), the study run
under the output folder's lock (`dnanet.tune.study`), and its files written from the study
(`dnanet.tune.report`: best_config.yaml, trials.tsv, importances.tsv, the plots), also after an
interrupted search.

Nothing is printed: the notes while it runs ('N sequences read; tuning ...', one line per
finished trial, from every --jobs process) go to the `reporter`; the lines that close the search
come back in `SearchOutcome` (`best_line`, `summary`), for the caller to show. The --jobs
processes read the data with `load_tune_data` from a picklable `TrainingInputs`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import optuna
from optuna.trial import FrozenTrial

from dnanet.config.run_config import load_config
from dnanet.data.labelled import TrainingInputs
from dnanet.data.signal import signal_settings
from dnanet.errors import DnanetError
from dnanet.progress import Reporter
from dnanet.runtime.threads import use_threads
from dnanet.tune.report import write_report
from dnanet.tune.search_space import load_space
from dnanet.tune.study import Search, TuneData, default_jobs_threads, run_trials, storage_of

STUDY_FILE = "study.db"
LOCK_FILE = ".tune.lock"
INTERRUPTED = (
    "interrupted; the finished trials are kept in the study: the same command continues it"
)


def load_tune_data(inputs: TrainingInputs, reporter: Reporter | None = None) -> TuneData:
    """Read the inputs exactly as `dnanet train` does (the same store, task and targets). The
    reading's notes go to `reporter` (None: dropped, as in the --jobs processes)."""
    records, parts, task, sequences = inputs.read_set(reporter)
    return TuneData(sequences, task, records.provenance, parts, records.where)


@dataclass(frozen=True)
class SearchOutcome:
    """A search that ran (or was interrupted: `interrupted`): the study, its best complete trial
    (None when no trial completed), the files written into `out`, the lines that close the search
    (`summary`: ``(kind, text)`` pairs, kinds as `dnanet.progress.Reporter.note`, for after
    `best_line`), and every line the search said (`notes`)."""

    out: Path
    study: optuna.Study
    best: FrozenTrial | None
    files: tuple[str, ...]
    interrupted: bool = False
    summary: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def best_line(self) -> str | None:
        """'best trial #3: val loss 0.4123 at epoch 5, val auroc 0.8812; train.lr 0.0031, ...'
        (None without a complete trial)."""
        best = self.best
        if best is None:
            return None
        metrics = "".join(
            f", {key.replace('_', ' ')} {value:.4f}"
            for key, value in best.user_attrs.items()
            if key.startswith("val_")
        )
        params = ", ".join(
            f"{path} {value:.4g}" if isinstance(value, float) else f"{path} {value}"
            for path, value in best.params.items()
        )
        return (
            f"best trial #{best.number}: val loss {best.value:.4f} at epoch "
            f"{best.user_attrs.get('best_epoch')}{metrics}; {params}"
        )

    @property
    def failure(self) -> str | None:
        """Why a search that ran to its end gave no best config (None when it gave one, or was
        interrupted)."""
        if self.best is not None or self.interrupted:
            return None
        return f"no trial completed; each failed trial's error is in {self.out / 'trials.tsv'}"


def run_search(
    inputs: Sequence | None,
    out: Path | str,
    *,
    model: str | None = None,
    trials: int = 20,
    space: Path | str | None = None,
    config: Path | str | None = None,
    epochs: int | None = None,
    labels: Path | str | None = None,
    id_column: str = "id",
    label_column: Sequence[str] = ("label",),
    task: str = "auto",
    split: str | None = None,
    val_chroms: str | None = None,
    test_chroms: str | None = None,
    val: Sequence = (),
    test: Sequence = (),
    keep_duplicates: bool = False,
    jobs: int = 1,
    storage: str | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    cache: Path | str | None = None,
    genome: Path | str | None = None,
    window: int | None = None,
    background_ratio: int = 1,
    exclude: Path | str | None = None,
    signal: Sequence[str] = (),
    control: Sequence[str] = (),
    target_width: int | None = None,
    jitter: int = 0,
    profile_loss: str = "multinomial",
    counts_weight: float = 0.0,
    signal_dtype: str = "float32",
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> SearchOutcome:
    """Search hyperparameters of a model family into the folder `out` (OUT/study.db, or the
    `storage` database shared with other searches); the keywords are `dnanet tune`'s options.
    A study of the same name continues where it was. Ctrl-C stops the search, writes what the
    study holds and returns (`interrupted`)."""
    reporter = reporter if reporter is not None else Reporter()
    first_note = len(reporter.notes)
    out = Path(out)
    data = {
        "split": split,
        "val_chroms": val_chroms,
        "test_chroms": test_chroms,
        "keep_duplicates": True if keep_duplicates else None,
    }
    base = load_config(config, model, data=data, signal=bool(signal), epochs=epochs)
    full = load_config(config, model, data=data, signal=bool(signal)) if epochs else base
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
        full_epochs=full.train.epochs if full.train.epochs != base.train.epochs else None,
    )
    if storage is not None:
        storage_of(search)  # a bad URL or an unreachable server fails before the inputs are read
    use_threads(threads)
    reading = TrainingInputs.from_options(
        out,
        inputs=inputs,
        val=val,
        test=test,
        labels=labels,
        id_column=id_column,
        label_column=label_column,
        task=task,
        cache=cache,
        genome=genome,
        window=window,
        background_ratio=background_ratio,
        seed=base.seed,
        exclude=exclude,
        signal=signal_settings(
            signal, task, target_width, jitter, profile_loss, counts_weight, control, signal_dtype
        ),
    )
    return _search_and_write(search, reading, out, jobs, reporter, first_note)


def _search_and_write(
    search: Search,
    reading: TrainingInputs,
    out: Path,
    jobs: int,
    reporter: Reporter,
    first_note: int,
) -> SearchOutcome:
    """Read the data, run the trials under OUT's lock and write the study's files (also when
    Ctrl-C stopped the trials)."""
    data = load_tune_data(reading, reporter)
    trials, space = search.trials, search.space
    reporter.note(
        f"{len(data.sequences):,} sequences read; tuning {search.base.model['name']} over "
        f"{len(space.parameters)} parameters ({space.source}); {trials} "
        f"trial{'s' if trials > 1 else ''}, {jobs} at a time",
        "info",
    )
    out.mkdir(parents=True, exist_ok=True)
    with search_lock(out, not search.shared):
        try:
            load = functools.partial(load_tune_data, reading)  # what each --jobs process reads
            study, interrupted = run_trials(search, data, load, reporter, jobs), False
        except KeyboardInterrupt:
            study = optuna.load_study(study_name=search.study_name, storage=storage_of(search))
            interrupted = True
        report = write_report(
            study, search.base, space, out, search.threads, full_epochs=search.full_epochs
        )
    summary = [("note", note) for note in report["notes"]]
    summary.append(("info", f"written to {out}: {', '.join(report['files'])}"))
    if interrupted:
        summary.append(("info", INTERRUPTED))
    return SearchOutcome(
        out,
        study,
        report["best"],
        tuple(report["files"]),
        interrupted,
        tuple(summary),
        (*reporter.texts()[first_note:], *(text for _, text in summary)),
    )


@contextlib.contextmanager
def search_lock(out: Path, local: bool) -> Iterator[None]:
    """Hold OUT/.tune.lock while searching (`local`: the study is OUT/study.db): one search per
    folder (use --jobs for more trials at once), so a trial left running in OUT/study.db is known
    to be from a killed search."""
    if not local:
        yield
        return
    with open(out / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DnanetError(
                f"{out}: another dnanet tune is searching in this folder; wait for it, or add "
                "trials at once with --jobs"
            ) from None
        yield
