"""Hyperparameter search (`dnanet tune`): an Optuna study over a `dnanet.tune.search_space`.

Every trial is one `dnanet.training.experiment.train_model` run of the base config with the trial's
values filled in, on the same split (fixed by the base config's seed and data section): it is
scored by its lowest validation loss (the epoch a run keeps) and the test split is never scored.
A TPE sampler (seeded) proposes values; a median pruner stops a trial whose validation loss,
reported after every epoch (`PruningMonitor`, a `dnanet.training.loop.TrainingMonitor`), is worse
than the median of earlier trials at the same epoch. The study lives in a database (SQLite in the
output folder by default), so a search that is stopped continues where it was, and several
processes (or machines, with a shared database) can add trials to it at once.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError

from dnanet.config.run_config import Config
from dnanet.data.sets import SequenceSet
from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.progress import Reporter
from dnanet.training.loop import TrainingMonitor
from dnanet.tune.search_space import SearchSpace, apply_params

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # trials that count towards --trials
PRUNER_STARTUP_TRIALS = 3  # no trial is pruned before this many have completed
PRUNER_WARMUP_EPOCHS = 2  # every trial trains at least this many epochs before it may be pruned
SQLITE_TIMEOUT = 60  # seconds a process waits for another's write to the SQLite study


@dataclass
class TuneData:
    """The records every trial trains on (read once per process): sequences with their targets,
    the task, each input's provenance, fixed parts (int8 ``(N,)`` or None) and `where(i)`."""

    sequences: SequenceSet
    task: Task
    provenance: list[dict]
    parts: np.ndarray | None = None
    where: Callable[[int], str] | None = None


@dataclass(frozen=True)
class Search:
    """What every worker needs to add trials to a study (picklable, for --jobs processes)."""

    base: Config
    space: SearchSpace
    storage: str
    study_name: str
    trials: int
    device: str = "auto"
    threads: int | None = None
    timeout: float | None = None
    shared: bool = False  # --storage: other machines may add trials at the same time
    full_epochs: int | None = None  # the base config's train.epochs when --epochs shortened trials


class PruningMonitor(TrainingMonitor):
    """Reports each epoch's validation loss to an Optuna trial (step = epoch, from 1) and stops
    the training (raises ``optuna.TrialPruned``) when the pruner says so, except after the last
    epoch: a trial that trained to the end is complete."""

    def __init__(self, trial: optuna.Trial):
        self.trial, self.epochs, self.last_epoch = trial, 0, 0

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self.last_epoch = epochs

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        self.epochs = record["epoch"]
        self.trial.set_user_attr(
            "epochs", self.epochs
        )  # kept also when the trial is pruned, stopped or killed
        self.trial.report(record["val_loss"], record["epoch"])
        if record["epoch"] < self.last_epoch and self.trial.should_prune():
            raise optuna.TrialPruned(
                f"val loss {record['val_loss']:.4f} after epoch {record['epoch']}"
            )


def objective(trial: optuna.Trial, search: Search, data: TuneData, device) -> float:
    """Train the trial's config on the fixed split; its value is the lowest validation loss."""
    from dnanet.training.experiment import train_model

    params = search.space.suggest(trial)
    monitor = PruningMonitor(trial)
    try:
        config = apply_params(search.base, params, f"trial {trial.number}")
        result = train_model(
            config,
            data.sequences,
            data.task,
            data.provenance,
            device,
            monitor,
            parts=data.parts,
            where=data.where,
            score_test=False,
        )
    except DnanetError as error:
        trial.set_user_attr("error", str(error))
        raise
    best = min(result.history, key=lambda record: record["val_loss"])
    trial.set_user_attr("best_epoch", best["epoch"])
    for key, value in best.items():
        if key.startswith("val_") and key != "val_loss" and value is not None:
            trial.set_user_attr(key, float(value))
    trial.set_user_attr("learned", bool(result.description["learned"]))
    return float(best["val_loss"])


def storage_of(search: Search) -> optuna.storages.RDBStorage:
    """The study's database; a shared one gets heartbeats, so a trial whose machine died is
    failed."""
    kwargs = (
        {"connect_args": {"timeout": SQLITE_TIMEOUT}} if search.storage.startswith("sqlite") else {}
    )
    heartbeat = {"heartbeat_interval": 60, "grace_period": 180} if search.shared else {}
    try:
        with (
            warnings.catch_warnings()
        ):  # heartbeats are "experimental" since Optuna 2.9: say nothing
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(search.storage, engine_kwargs=kwargs, **heartbeat)
    except (
        SQLAlchemyError,
        ImportError,
    ) as error:  # a bad URL, a missing driver, an unreachable server
        reason = " ".join(str(error).split("(Background on")[0].split())
        raise DnanetError(
            f"--storage {search.storage}: cannot open the study database ({reason})"
        ) from None


def fingerprint(search: Search, data: TuneData) -> dict:
    """What makes trials comparable: the base config, space, inputs (class, records, SHA-256 or
    interval/background settings, part; not the path) and task."""
    inputs = [
        {key: value for key, value in entry.items() if key != "path"} for entry in data.provenance
    ]
    value = {
        "config": search.base.to_dict(),
        "space": search.space.to_dict(),
        "inputs": inputs,
        "task": data.task.kind,
        "classes": list(data.task.names),
    }
    return json.loads(json.dumps(value, default=str))


def open_study(search: Search, data: TuneData) -> optuna.Study:
    """Create the study, or load it when it exists and was started with the same fingerprint."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial says it all
    mine = fingerprint(search, data)
    study = optuna.create_study(
        storage=storage_of(search),
        study_name=search.study_name,
        direction="minimize",
        load_if_exists=True,
    )
    saved = study.user_attrs.get("dnanet")
    if saved is None:
        study.set_user_attr("dnanet", mine)
    elif saved != mine:
        differs = [
            name
            for name in ("config", "space", "inputs", "task", "classes")
            if saved.get(name) != mine.get(name)
        ]
        raise DnanetError(
            f"study '{search.study_name}' in {search.storage} was started with other settings "
            f"(different {', '.join(differs)}); give a new --out (or --study-name) for a new search"
        )
    if (
        not search.shared
    ):  # the output folder is locked: a running trial is left from a killed search
        fail_running(study)
    return study


def enqueue_base(study: optuna.Study, search: Search) -> None:
    """Make the base config itself (each searched key at its base value, where the space holds
    it) the study's next trial, unless it has run, is running or waits: the yardstick every
    search starts from. A base trial that a kill cut off is queued again; one that failed on an
    error of its own (user attr ``error``) is not."""
    base = search.space.base_values(search.base)
    if not base:
        return
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("base_config") and (
            trial.state != TrialState.FAIL or "error" in trial.user_attrs
        ):
            return
    study.enqueue_trial(base, user_attrs={"base_config": True})


def fail_running(study: optuna.Study) -> None:
    """Mark the study's running trials failed (only where no other process can be running them)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def finished_count(study: optuna.Study, by: FrozenTrial | None = None) -> int:
    """Finished trials in the study (with `by`: those finished no later than it, so parallel
    workers number their trials in the order they ended)."""
    finished = study.get_trials(deepcopy=False, states=FINISHED)
    if by is None or by.datetime_complete is None:
        return len(finished)
    return sum(trial.datetime_complete <= by.datetime_complete for trial in finished)


def run_trials(
    search: Search,
    data: TuneData,
    load: Callable[[], TuneData],
    reporter: Reporter,
    jobs: int = 1,
) -> optuna.Study:
    """Add trials until the study has `search.trials` finished (complete or pruned) ones: in this
    process, or shared out among `jobs` spawned processes (each reads the data with `load`, a
    picklable function). Each finished trial is one "info" note to `reporter`, from whichever
    process ran it."""
    study = open_study(search, data)
    remaining = search.trials - finished_count(study)
    if remaining <= 0:
        reporter.note(
            f"the study already has {finished_count(study)} finished trials (--trials "
            f"{search.trials}): no new trial",
            "info",
        )
        return study
    enqueue_base(study, search)  # only when trials will run: a full study gets no waiting trial
    first = len(study.trials)
    if jobs <= 1:
        say = functools.partial(reporter.note, kind="info")
        run_worker(search, None, say, remaining, first, data)
    else:
        try:
            run_workers(search, load, reporter, remaining, first, jobs)
        except KeyboardInterrupt:
            if not search.shared:  # the pool has shut down: a trial still running was cut off
                fail_running(study)
            raise
    return optuna.load_study(study_name=search.study_name, storage=storage_of(search))


def run_workers(
    search: Search,
    load: Callable[[], TuneData],
    reporter: Reporter,
    trials: int,
    first: int,
    jobs: int,
) -> None:
    """`trials` trials shared out among `jobs` spawned processes (numbered from `first` for their
    samplers' seeds). Their trial lines come back through a queue and go to `reporter` here."""
    shares = [trials // jobs + (index < trials % jobs) for index in range(jobs)]
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    lines = context.SimpleQueue()  # put returns once the line is in the pipe: none is lost
    with ProcessPoolExecutor(
        len(shares), mp_context=context, initializer=_send_lines_to, initargs=(lines,)
    ) as pool:
        runs = [
            pool.submit(run_worker, search, load, _say, share, first + index, None)
            for index, share in enumerate(shares)
            if share
        ]
        while not all(run.done() for run in runs):  # the lines of a run that ended are all sent
            wait(runs, timeout=0.2)
            _relay(lines, reporter)
        for run in runs:
            run.result()


_lines = None  # in a --jobs process: the queue its trial lines go to (`_send_lines_to`)


def _send_lines_to(queue) -> None:
    global _lines
    _lines = queue


def _say(line: str) -> None:
    """A --jobs process's trial line, sent to the searching process."""
    _lines.put(line)


def _relay(lines, reporter: Reporter) -> None:
    """The trial lines the --jobs processes have sent so far, as notes to `reporter`."""
    while not lines.empty():
        reporter.note(lines.get(), "info")


def run_worker(
    search: Search,
    load: Callable[[], TuneData] | None,
    say: Callable[[str], None],
    n_trials: int,
    sampler_seed: int,
    data: TuneData | None = None,
) -> None:
    """Run `n_trials` trials of the study (one process's share). The TPE sampler is seeded with the
    base seed plus `sampler_seed` (the trials already in the study, plus the worker's index), so a
    resumed or parallel search does not repeat the first one's proposals."""
    from dnanet.runtime.device import resolve_device
    from dnanet.runtime.threads import use_threads

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial says it all
    use_threads(search.threads)
    data = data if data is not None else load()
    sampler = optuna.samplers.TPESampler(
        seed=search.base.seed + sampler_seed, constant_liar=search.shared or load is not None
    )
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_EPOCHS
    )
    study = optuna.load_study(
        study_name=search.study_name, storage=storage_of(search), sampler=sampler, pruner=pruner
    )
    device = resolve_device(search.device)

    def progress(study: optuna.Study, trial: FrozenTrial) -> None:
        say(trial_line(trial, finished_count(study, trial), search.trials))

    study.optimize(
        lambda trial: objective(trial, search, data, device),
        n_trials=n_trials,
        timeout=search.timeout,
        catch=(DnanetError,),
        gc_after_trial=False,
        callbacks=[optuna.study.MaxTrialsCallback(search.trials, states=FINISHED), progress],
    )


def trial_line(trial: FrozenTrial, done: int, total: int) -> str:
    """'trial 3/20 (#2) lr=0.0012 channels=64 ...: val loss 0.3412 (epoch 5), complete, 12 s'."""
    params = " ".join(
        f"{path.split('.', 1)[1]}={_short(value)}" for path, value in trial.params.items()
    )
    if trial.user_attrs.get("base_config"):
        params = f"(the base config) {params}"
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    if trial.state == TrialState.COMPLETE:
        outcome = (
            f"val loss {trial.value:.4f} (epoch {trial.user_attrs.get('best_epoch')}), complete"
        )
    elif trial.state == TrialState.PRUNED:
        step = trial.last_step
        loss = trial.intermediate_values.get(step) if step is not None else None
        outcome = f"pruned after epoch {step}" + (
            f" (val loss {loss:.4f})" if loss is not None else ""
        )
    else:
        outcome = f"failed: {trial.user_attrs.get('error', 'see the error above')}"
    counted = f"trial {done}/{total}" if trial.state in FINISHED else "trial"
    return f"{counted} (#{trial.number}) {params}: {outcome}, {seconds:.0f} s"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The complete trial with the lowest validation loss (None when no trial completed)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=lambda trial: (trial.value, trial.number)) if complete else None


def default_jobs_threads(jobs: int, threads: int | None) -> int | None:
    """Torch threads per trial process: --threads when given; else, with several jobs, this
    machine's cores shared out (at least one each); one job keeps torch's own choice, as `dnanet
    train` does, so the best config retrains to the same numbers."""
    if threads or jobs <= 1:
        return threads
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    return max(1, cores // jobs)
