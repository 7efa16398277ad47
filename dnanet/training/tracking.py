"""Experiment tracking: a run's epochs, figures, config and test metrics sent to TensorBoard
(``dnanet train --tensorboard DIR``) and Weights & Biases (``--wandb PROJECT``) as it trains.

Each epoch logs the row history.csv gets (`dnanet.training.loop.fit`'s record: train_loss,
val_loss, the task's validation metrics, lr, seconds), under history.csv's column names, at step
= epoch. When the run is written, its report's figures (the PNGs of RUN/report/, drawn by
`dnanet.report.page`) follow as images at the last epoch's step, with the test metrics
(``test/<name>``, metrics.json's numbers) and the config (TensorBoard: a text and the hparams
dashboard; W&B: the run's config).

Neither package is needed to run dnanet: each is imported only when a run asks for it, and a
missing one is a one-line `DnanetError` saying what to install. `Tracker` is the
`TrainingMonitor` the run trains with: it logs each epoch, then passes every call on to the
monitor it wraps (the command line's progress display), so the loop itself knows nothing of it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dnanet.errors import DnanetError
from dnanet.training.loop import TrainingMonitor


@dataclass(frozen=True)
class Tracking:
    """Where a run logs: `tensorboard`, the folder of its TensorBoard event files; `wandb`, the
    W&B project of its run; `group`, the W&B group (an ensemble's name: its members' runs
    together). Either may be None."""

    tensorboard: Path | None = None
    wandb: str | None = None
    group: str | None = None

    @classmethod
    def of(cls, tensorboard: Path | str | None, wandb: str | None) -> Tracking | None:
        """The tracking that `--tensorboard` and `--wandb` ask for; None when neither is given."""
        if tensorboard is None and not wandb:
            return None
        return cls(Path(tensorboard) if tensorboard is not None else None, wandb or None)

    def for_member(self, ensemble: Path, fold: int) -> Tracking:
        """Member `fold` of the ensemble `ensemble`: TensorBoard in DIR/fold_I, its W&B run in
        the ensemble's group."""
        folder = self.tensorboard / f"fold_{fold}" if self.tensorboard is not None else None
        return Tracking(folder, self.wandb, Path(ensemble).name)


class Sink:
    """One tracking service: where `Tracker` sends a run's numbers and figures."""

    def epoch(self, record: dict) -> None:
        """An epoch's history record: its numbers at step ``record['epoch']``."""

    def end(self, figures: list[Path], metrics: dict, step: int) -> None:
        """The run is written: its report's PNGs and test metrics, at `step` (the last epoch)."""

    def close(self, failed: bool) -> None:
        """Flush and let go (`failed`: the run ended with an error or an interruption)."""


class Tracker(TrainingMonitor):
    """The monitor a tracked run trains with: each finished epoch goes to every sink, then each
    call goes on to `inner` (None: nothing is shown)."""

    def __init__(self, sinks: list[Sink], inner: TrainingMonitor | None):
        self.sinks, self.given = sinks, inner
        self.inner = inner if inner is not None else TrainingMonitor()
        self.last_epoch = 0

    @property
    def monitor(self) -> TrainingMonitor | None:
        """What training reports to: this tracker, or the monitor given alone (None: none) when
        nothing is tracked."""
        return self if self.sinks else self.given

    def started(self, settings: dict) -> None:
        self.inner.started(settings)

    def duplicates_counted(self, counts: dict) -> None:
        self.inner.duplicates_counted(counts)

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self.inner.epoch_started(epoch, epochs, steps)

    def step_done(self) -> None:
        self.inner.step_done()

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        for sink in self.sinks:
            sink.epoch(record)
        self.last_epoch = record["epoch"]
        self.inner.epoch_done(record, best_epoch)

    def stopped_early(self, epoch: int, best_epoch: int, patience: int) -> None:
        self.inner.stopped_early(epoch, best_epoch, patience)

    def finished(self) -> None:
        self.inner.finished()

    def end(self, report: Path | None, metrics: dict) -> None:
        """The written run's figures (the PNGs beside its `report` page, in RUN/report/; none
        when no page was written) and its test `metrics`."""
        figures = sorted((report.parent / "report").glob("*.png")) if report is not None else []
        for sink in self.sinks:
            sink.end(figures, metrics, self.last_epoch)


@contextmanager
def tracked(
    tracking: Tracking | None, name: str, config: dict, monitor: TrainingMonitor | None
) -> Iterator[Tracker]:
    """A `Tracker` for the run `name` (its folder's name) trained with `config` (the config as a
    dict), logging where `tracking` says (None: nowhere; its ``monitor`` is then `monitor`
    itself). The sinks are closed on the way out, marked failed when an exception leaves."""
    sinks: list[Sink] = []
    try:
        if tracking is not None and tracking.tensorboard is not None:
            sinks.append(TensorBoardSink(tracking.tensorboard, config))
        if tracking is not None and tracking.wandb:
            sinks.append(WandbSink(tracking.wandb, name, tracking.group, config))
        yield Tracker(sinks, monitor)
    except BaseException:
        for sink in sinks:
            sink.close(failed=True)
        raise
    for sink in sinks:
        sink.close(failed=False)


def _missing(package: str, option: str) -> DnanetError:
    return DnanetError(
        f"{option} needs the {package} package, which is not installed: pip install {package} "
        "(or pip install 'dnanet[tracking]')"
    )


def numbers(values: dict, prefix: str = "") -> dict[str, float]:
    """The plain numbers of `values` (not bools, not nested), named `prefix` + key."""
    return {
        prefix + key: float(value)
        for key, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def flat_config(config: dict, prefix: str = "") -> dict[str, object]:
    """The config's settings one level deep, ``train.lr``-style keys; values the hparams
    dashboard takes (numbers, strings, bools; anything else written as text)."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            plain = isinstance(value, (int, float, str, bool))
            flat[prefix + key] = value if plain else json.dumps(value)
    return flat


class TensorBoardSink(Sink):
    """Event files in `folder` (`torch.utils.tensorboard.SummaryWriter`): scalars per epoch,
    the config as text at step 0, and at the end the figures, test metrics and hparams."""

    def __init__(self, folder: Path, config: dict):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _missing("tensorboard", "--tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(folder))
        self.config = config
        text = json.dumps(config, indent=2)
        self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)  # preformatted

    def epoch(self, record: dict) -> None:
        step = record["epoch"]
        for tag, value in numbers({k: v for k, v in record.items() if k != "epoch"}).items():
            self.writer.add_scalar(tag, value, step)

    def end(self, figures: list[Path], metrics: dict, step: int) -> None:
        from matplotlib.image import imread
        from torch.utils.tensorboard.summary import hparams

        for path in figures:
            pixels = imread(path)[..., :3]  # float (H, W, 3 or 4) in [0, 1]; alpha dropped
            self.writer.add_image(f"figures/{path.stem}", pixels, step, dataformats="HWC")
        tested = numbers(metrics, "test/")
        for tag, value in tested.items():
            self.writer.add_scalar(tag, value, step)
        for summary in hparams(flat_config(self.config), tested):
            self.writer.file_writer.add_summary(summary)  # this run's folder, not a new one

    def close(self, failed: bool) -> None:
        self.writer.close()


class WandbSink(Sink):
    """A W&B run named `name` in `project` (and `group`), its config the run's: history rows
    logged at step = epoch, then the figures as images and the test metrics in its summary.
    ``WANDB_MODE=offline`` keeps it on disk (in WANDB_DIR) for ``wandb sync``."""

    def __init__(self, project: str, name: str, group: str | None, config: dict):
        try:
            import wandb
        except ImportError:
            raise _missing("wandb", "--wandb") from None
        self.wandb = wandb
        run_name = f"{group}/{name}" if group else name
        try:
            self.run = wandb.init(
                project=project,
                name=run_name,
                group=group,
                config=config,
                settings=wandb.Settings(console="off"),  # dnanet's progress is not the run's
            )
        except wandb.errors.Error as error:
            raise DnanetError(
                f"--wandb {project}: W&B did not start ({str(error).splitlines()[0]}); run "
                "`wandb login`, or set WANDB_MODE=offline to keep the run on disk"
            ) from None

    def epoch(self, record: dict) -> None:
        self.run.log(numbers(record), step=record["epoch"])

    def end(self, figures: list[Path], metrics: dict, step: int) -> None:
        images = {
            f"figures/{path.stem}": self.wandb.Image(str(path), caption=path.stem)
            for path in figures
        }
        if images:
            self.run.log(images, step=step)
        self.run.summary.update(numbers(metrics, "test/"))

    def close(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)
