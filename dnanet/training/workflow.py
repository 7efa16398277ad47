"""One training run end to end, as `dnanet train` runs it (alone or under torchrun) and as a
notebook's `dnanet.train` runs it: `train_run` starts a run, `resume_run` continues one that was
stopped, from what its checkpoint saved (`dnanet.training.resume`).

Both take the same steps: the inputs are read into the store
(`dnanet.data.labelled.TrainingInputs`), the task is inferred from their labels, the model is
trained with a checkpoint after every epoch (`dnanet.training.experiment.train_model`), the run
folder is written (`write_run`, claimed before the reading so a wrong or busy OUT fails at once)
and, given a `write_report`, its report page.

Nothing is printed. Notes go to the `reporter` as they come (the bundled example used, skipped
intervals, 'N sequences read'), the training's progress to the `monitor`
(`dnanet.training.loop.TrainingMonitor`), and the lines that close a run (the model did not
learn, 'run written to OUT', the report page) come back in `TrainOutcome.summary`, for the caller
to show after the test metrics. A run stopped by Ctrl-C (or SIGTERM, where the caller turns it
into a KeyboardInterrupt) after its first checkpoint raises `TrainingStopped`: its finished epochs
are kept.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import torch

from dnanet.config.run_config import Config, config_from_dict, load_config
from dnanet.data.labelled import CACHE, TrainingInputs
from dnanet.data.signal import SignalSettings, signal_settings
from dnanet.errors import DnanetError
from dnanet.files.outputs import check_output_kind, claimed
from dnanet.inputs.sources import GenomeSettings
from dnanet.progress import Reporter
from dnanet.runs.load import not_learned
from dnanet.runtime import distributed
from dnanet.runtime.device import prepare_device
from dnanet.training import experiment
from dnanet.training.checkpoint import Checkpoint, checkpoint_folder
from dnanet.training.experiment import TrainingResult
from dnanet.training.loop import TrainingMonitor
from dnanet.training.resume import (
    check_unchanged,
    given_with_resume,
    run_invocation,
    unfinished_run,
)
from dnanet.training.tracking import Tracking, tracked

ReportWriter = Callable[..., Path]  # `dnanet.report.page.write_run_report`'s signature


@dataclass(frozen=True)
class TrainOutcome:
    """A finished run: its folder `out`, what `train_model` returned (`result`: test metrics,
    model.json description, per-epoch history, the model), its report page (`report`, or why it
    was not written: `report_warning`), the lines that close the run (`summary`: ``(kind,
    text)`` pairs for after the test metrics; kinds as `dnanet.progress.Reporter.note`), and
    every line the run said (`notes`: the reporter's notes during the run, then the summary).
    `written` is False on a torchrun process other than rank 0, which writes nothing."""

    out: Path
    result: TrainingResult
    written: bool = True
    report: Path | None = None
    report_warning: str | None = None
    summary: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def metrics(self) -> dict:
        """The test split's metrics, as metrics.json holds them."""
        return self.result.test_metrics


class TrainingStopped(KeyboardInterrupt):
    """Training was interrupted after its first checkpoint: the finished epochs are kept, and
    `resume_run` (``dnanet train --resume OUT``) continues it. Its ``__cause__`` is the
    interruption (a KeyboardInterrupt, or the command line's SIGTERM subclass of it)."""

    def __init__(self, out: Path):
        self.out = out
        super().__init__(f"the finished epochs are kept: continue with dnanet train --resume {out}")


@dataclass(frozen=True)
class RunPlan:
    """What a run trains on and with: from the options (a new run) or from its checkpoint (a
    resumed run, whose saved invocation is `resumed`)."""

    out: Path
    config: Config
    checkpoint: Checkpoint
    data: TrainingInputs
    overwrite: bool = False
    resumed: dict | None = None


def train_run(
    inputs: Sequence | None,
    out: Path | str | None,
    *,
    labels: Path | str | None = None,
    id_column: str = "id",
    label_column: Sequence[str] = ("label",),
    task: str = "auto",
    config: Path | str | None = None,
    model: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    precision: str | None = None,
    split: str | None = None,
    val_chroms: str | None = None,
    test_chroms: str | None = None,
    val: Sequence = (),
    test: Sequence = (),
    keep_duplicates: bool = False,
    folds: int | None = None,
    fold: int | None = None,
    overwrite: bool = False,
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
    monitor: TrainingMonitor | None = None,
    write_report: ReportWriter | None = None,
    tracking: Tracking | None = None,
) -> TrainOutcome:
    """Train a new run into the folder `out`; the keywords are `dnanet train`'s options.

    `exclude`: a BED of regions (a blacklist) that no window read from the genome may overlap.
    `signal` (NAME=track.bw, one task output per track) trains on coverage instead of labels
    (`dnanet.data.signal`): `task` counts (default) or profile, over `target_width` bases
    (default: the window), with `jitter`, the `profile_loss` and its lambda (`counts_weight`,
    0: bpnet-lite's mean reads per training window). `control` (NAME=control.bw, NAME a signal
    track): the experiment's control, an input of the model (`dnanet.models.profile`).
    `signal_dtype`: float32, or float16 for a profile store half the size.

    `folds`, `fold`: train member `fold` of a `folds`-fold ensemble (`dnanet.training.folds`
    trains them all and writes the ensemble).

    `inputs` (and `val`, `test`): CLASS=PATH strings or `dnanet.inputs.sources.LabelledInput`s;
    none: the bundled CTCF example. `config`: a YAML config (default: the shipped config of
    `model`), whose seed, data and train keys the other keywords override where given. An
    unfinished run of the same name (its checkpoint) is refused unless `overwrite`.
    `write_report`: `dnanet.report.page.write_run_report`, to write OUT/report.html (None: no
    page). `tracking`: TensorBoard and W&B logging (`dnanet.training.tracking`; None: none)."""
    if out is None:
        raise DnanetError("--out is required (the run folder to create), or --resume OUT")
    out = Path(out)
    data = {
        "split": split,
        "val_chroms": val_chroms,
        "test_chroms": test_chroms,
        "keep_duplicates": True if keep_duplicates else None,
        "folds": folds,
        "fold": fold,
    }
    train = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "precision": precision}
    settings = load_config(config, model, seed=seed, data=data, signal=bool(signal), **train)
    checkpoint = Checkpoint(checkpoint_folder(out))
    if checkpoint.exists() and not overwrite:
        raise DnanetError(
            f"{out}: an unfinished run of this name has a checkpoint; continue it with --resume "
            f"{out}, or pass --overwrite to start afresh"
        )
    plan = RunPlan(
        out,
        settings,
        checkpoint,
        TrainingInputs.from_options(
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
            seed=settings.seed,
            exclude=exclude,
            signal=signal_settings(
                signal,
                task,
                target_width,
                jitter,
                profile_loss,
                counts_weight,
                control,
                signal_dtype,
            ),
        ),
        overwrite,
    )
    return run_plan(plan, device, threads, reporter, monitor, write_report, tracking)


def resume_run(
    out: Path | str,
    *,
    given: Mapping[str, object] | None = None,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
    monitor: TrainingMonitor | None = None,
    write_report: ReportWriter | None = None,
    tracking: Tracking | None = None,
) -> TrainOutcome:
    """Continue the unfinished run `out` from its last finished epoch, with the inputs, labels,
    task, config, store and genome its checkpoint saved; the inputs must be unchanged (SHA-256).
    `given`: the other options of `train_run` as the caller got them (name: value); any that is
    set is refused, for a resumed run takes them all from its checkpoint. `tracking` may differ
    from the first start's: the curves go on at the next epoch."""
    out = Path(out)
    checkpoint, invocation = unfinished_run(out, given_with_resume(given or {}))
    settings = config_from_dict(invocation["config"], f"{checkpoint.folder}/state.json")
    genome = invocation.get("genome") or {}
    plan = RunPlan(
        out,
        settings,
        checkpoint,
        TrainingInputs(
            invocation["inputs"],
            invocation.get("val", []),
            invocation.get("test", []),
            Path(invocation["labels"]) if invocation["labels"] else None,
            invocation["id_column"],
            invocation["label_column"],
            invocation["task"],
            Path(invocation["cache"]) if invocation.get("cache") else out.parent / CACHE,
            GenomeSettings(
                genome.get("genome") and Path(genome["genome"]),
                genome.get("window"),
                genome.get("background_ratio", 1),
                settings.seed,
                exclude=Path(genome["exclude"]) if genome.get("exclude") else None,
            ),
            SignalSettings.from_dict(invocation["signal"]) if invocation.get("signal") else None,
        ),
        resumed=invocation,
    )
    return run_plan(plan, device, threads, reporter, monitor, write_report, tracking)


def run_plan(
    plan: RunPlan,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
    monitor: TrainingMonitor | None = None,
    write_report: ReportWriter | None = None,
    tracking: Tracking | None = None,
) -> TrainOutcome:
    """Read, train and write one run (`train_run`, `resume_run`). Under torchrun every process
    calls this: rank 0 claims OUT, builds the store, speaks to `reporter` and `monitor`, logs to
    `tracking`, and writes; the others open the store it built and train their shards."""
    reporter = reporter if reporter is not None else Reporter()
    first_note = len(reporter.notes)
    check_output_kind(plan.out, folder=True)
    processes, torch_device = distributed.start(prepare_device(threads, device, inference=False))
    main = processes.is_main
    claim = claimed(plan.out, plan.overwrite, folder=True, reporter=reporter)
    config = plan.config.to_dict()
    with (
        claim if main else nullcontext() as output,  # before the long work: fails at once
        _cache_removed_on_failure(plan.data.cache, main),
        tracked(tracking if main else None, plan.out.name, config, monitor) as tracker,
    ):
        speaker = reporter if main else Reporter()  # rank 0 speaks for all
        records, parts, the_task, sequences = _read_inputs(plan, processes, speaker)
        _prepare_checkpoint(plan, records, processes)
        speaker.note(
            f"{len(sequences):,} sequences read"
            + (f"; resuming from {plan.checkpoint.folder}" if plan.resumed else "")
            + (f"; {processes.world_size} processes" if processes.distributed else ""),
            "info",
        )
        result = _train(
            plan, sequences, the_task, records, parts, torch_device, tracker.monitor, processes
        )
        if not main:
            return TrainOutcome(plan.out, result, written=False)
        with output.writing() as folder:
            experiment.write_run(folder, result)
        plan.checkpoint.remove()
        outcome = _finish(plan.out, result, write_report, reporter.texts()[first_note:])
        tracker.end(outcome.report, result.test_metrics)
        return outcome


@contextmanager
def _cache_removed_on_failure(cache: Path, main: bool) -> Iterator[None]:
    """Remove the store folder `cache` (``.dnanet-cache`` beside OUT by default) when the run
    fails and this run made the folder: a failed first run leaves nothing behind. A folder that
    was there before (other runs' stores) is kept, and so is one an interrupted run may resume
    from (`TrainingStopped`)."""
    made_here = main and not cache.exists()
    try:
        yield
    except TrainingStopped:
        raise
    except BaseException:
        if made_here:
            shutil.rmtree(cache, ignore_errors=True)
        raise


def _read_inputs(plan: RunPlan, processes, reporter: Reporter):
    """The records, their parts, the task and the set it trains on
    (`dnanet.data.labelled.TrainingInputs.read_set`): rank 0 builds the stores first, then the
    other processes open them. A resumed run checks its inputs are those it started on."""
    for rank_reads in (processes.is_main, not processes.is_main):
        if rank_reads:
            records, parts, task, sequences = plan.data.read_set(reporter)
        if processes.distributed:
            torch.distributed.barrier()
    if plan.resumed is not None:
        check_unchanged(plan.resumed["provenance"], records.provenance)
    return records, parts, task, sequences


def _prepare_checkpoint(plan: RunPlan, records, processes) -> None:
    """Rank 0 alone writes the checkpoint; a new run removes an old one first (no process may
    see it) and saves how it was started, so that `resume_run` needs nothing else."""
    checkpoint = plan.checkpoint
    checkpoint.write = processes.is_main
    if plan.resumed is not None:
        return
    if processes.is_main:
        checkpoint.remove()
    if processes.distributed:
        torch.distributed.barrier()
    checkpoint.invocation = run_invocation(
        records,
        plan.data.labels,
        plan.data.id_column,
        plan.data.label_column,
        plan.data.task,
        plan.config,
        plan.data.cache,
        plan.data.genome,
        plan.data.signal,
    )


def _train(plan: RunPlan, sequences, task, records, parts, device, monitor, processes):
    """`train_model` with the run's checkpoint; an interruption after a checkpoint was written
    becomes `TrainingStopped`. The process group is left whatever happens."""
    try:
        return experiment.train_model(
            plan.config,
            sequences,
            task,
            records.provenance,
            device,
            monitor if processes.is_main else None,
            plan.checkpoint,
            processes,
            parts=parts,
            where=records.where,
        )
    except KeyboardInterrupt as interruption:
        if plan.checkpoint.exists():
            raise TrainingStopped(plan.out) from interruption
        raise
    finally:
        distributed.stop()


def _finish(
    out: Path, result: TrainingResult, write_report: ReportWriter | None, notes: list[str]
) -> TrainOutcome:
    """The outcome of a written run: its report page (a drawing failure costs a warning, not the
    finished run) and the closing lines."""
    summary = []
    warning = not_learned(result.description, str(out))
    if warning:
        summary.append(("warning", warning))
    learned = result.description["learned"]
    summary.append(("info", f"run written to {out}" + ("" if learned else " (learned: false)")))
    page, report_warning = _write_report(out, result, write_report)
    if page is not None:
        summary.append(("info", f"report: {page} (figures in {page.parent / 'report'})"))
    if report_warning is not None:
        summary.append(("warning", report_warning))
    return TrainOutcome(
        out,
        result,
        report=page,
        report_warning=report_warning,
        summary=tuple(summary),
        notes=(*notes, *(text for _, text in summary)),
    )


def _write_report(
    out: Path, result: TrainingResult, write_report: ReportWriter | None
) -> tuple[Path | None, str | None]:
    """OUT/report.html and its figures: (the page, None), or (None, why it was not written)."""
    if write_report is None:
        return None, None
    try:
        page = write_report(
            out,
            result.description,
            result.test_metrics,
            result.history,
            result.test_targets,
            result.test_outputs,
        )
    except Exception as error:  # noqa: BLE001 (any drawing failure; the run itself is kept)
        return None, f"{out}: report not written ({type(error).__name__}: {error})"
    return Path(page), None
