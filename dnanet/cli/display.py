"""What the terminal shows: training (a progress bar on a terminal, one plain line per epoch in a
batch-job log when stderr is not a terminal, and in both a first line with the resolved settings
and a line when early stopping ends the run) and metrics tables. The library reports through
`dnanet.training.loop.TrainingMonitor` and returns plain dicts; terminal code lives here."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dnanet.cli.progress import progress_bar
from dnanet.training.loop import TrainingMonitor


def training_monitor(console: Console, quiet: bool) -> TrainingMonitor:
    """A bar on a terminal, plain lines otherwise; with `quiet`, the settings and stopping lines
    only."""
    if quiet:
        return LineMonitor(console, per_epoch=False)
    return BarMonitor(console) if console.is_terminal else LineMonitor(console)


def settings_line(settings: dict) -> str:
    """'training: model cnn, encoder onehot, ...' from `TrainingMonitor.started`'s settings."""
    return "training: " + ", ".join(f"{key} {value}" for key, value in settings.items())


def epoch_line(record: dict, epochs: int, best_epoch: int) -> str:
    """One epoch's numbers: losses, validation metrics, lr, seconds and the best epoch so far."""
    metrics = "  ".join(
        f"{key.replace('_', ' ')} {value:.4f}"
        for key, value in record.items()
        if key.startswith("val_") and key != "val_loss" and value is not None
    )
    return (
        f"epoch {record['epoch']}/{epochs}  train loss {record['train_loss']:.4f}  val loss "
        f"{record['val_loss']:.4f}  {metrics}  lr {record['lr']:.3g}  {record['seconds']:.1f} s  "
        f"best epoch {best_epoch}"
    )


def duplicates_line(counts: dict) -> str:
    """One line of `dnanet.data.leakage.leakage`'s counts: 'duplicates (both strands): ...'."""
    strands = "both strands" if counts["both_strands"] else "forward strand"
    found = [
        f"{counts['within_class']:,} extra copies within a class" if counts["within_class"] else "",
        f"{counts['across_classes']:,} sequences in two or more classes "
        f"({counts['across_classes_records']:,} records)"
        if counts["across_classes"]
        else "",
    ]
    leaked = {
        "validation": counts["validation_in_train"],
        "test": counts["test_in_train"] + counts["test_in_validation"],
    }
    if any(leaked.values()):
        removed = counts["removed"]
        found.append(
            f"{leaked['validation']:,} validation and {leaked['test']:,} test records also in an "
            "earlier part"
            + (
                ": removed from the held-out parts (--keep-duplicates keeps them)"
                if any(removed.values())
                else ": kept (--keep-duplicates)"
            )
        )
    text = "; ".join(part for part in found if part) or "none"
    return f"duplicates ({strands}, {counts['records']:,} records): {text}"


def stopped_line(epoch: int, best_epoch: int, patience: int) -> str:
    return (
        f"stopped early after epoch {epoch}: no lower validation loss for {patience} epochs; "
        f"kept epoch {best_epoch}"
    )


class LineMonitor(TrainingMonitor):
    """Plain lines, for logs: the settings, one line per epoch (unless not `per_epoch`), the
    stop."""

    def __init__(self, console: Console, per_epoch: bool = True):
        self.console, self.per_epoch, self.epochs = console, per_epoch, 0

    def say(self, line: str) -> None:
        self.console.print(escape(line), highlight=False, soft_wrap=True)

    def started(self, settings: dict) -> None:
        self.epochs = settings.get("epochs", 0)
        self.say(settings_line(settings))

    def duplicates_counted(self, counts: dict) -> None:
        self.say(duplicates_line(counts))

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        if self.per_epoch:
            self.say(epoch_line(record, self.epochs, best_epoch))

    def stopped_early(self, epoch: int, best_epoch: int, patience: int) -> None:
        self.say(stopped_line(epoch, best_epoch, patience))


class BarMonitor(LineMonitor):
    """A rich progress bar over all epochs' steps, with the last epoch's losses beside it."""

    def __init__(self, console: Console):
        super().__init__(console, per_epoch=False)
        self.bar = progress_bar(console, status=True)
        self.task = None

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("training", total=epochs * steps, status="")
        self.bar.update(self.task, description=f"epoch {epoch}/{epochs}")

    def step_done(self) -> None:
        self.bar.update(self.task, advance=1)

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        self.bar.update(
            self.task,
            status=f"train loss {record['train_loss']:.3f}  val loss {record['val_loss']:.3f}"
            f"  best epoch {best_epoch}",
        )

    def finished(self) -> None:
        self.bar.stop()


def metrics_table(metrics: dict, title: str) -> Table:
    """A metrics dict as a rich table: the overall row, then one row per class or target; the
    metrics' ``note`` (classes with no records, `dnanet.training.metrics`) as its caption."""
    if "per_track" in metrics:
        return signal_table(metrics, title)
    regression = "per_target" in metrics
    keys = (
        ["pearson", "spearman", "mse"]
        if regression
        else ["accuracy", "auroc", "auprc", "mcc", "f1"]
    )
    note = metrics.get("note")
    table = Table(title=title, caption=f"note: {note}" if note else None, caption_justify="left")
    table.add_column("target" if regression else "class")
    for key in [*keys, "n"]:
        table.add_column(key, justify="right")
    overall = "all" + (
        f" (positive: {metrics['positive_class']})"
        if "positive_class" in metrics
        else " (mean)"
        if regression
        else " (macro)"
    )
    table.add_row(overall, *[format_value(metrics[key]) for key in keys], str(metrics["n"]))
    for name, values in metrics["per_target" if regression else "per_class"].items():
        table.add_row(
            name,
            *[format_value(values.get(key)) if key in values else "" for key in keys],
            str(values.get("n", "")),
        )
    return table


MEMBER_KEYS = ("accuracy", "auroc", "auprc", "mcc", "f1", "pearson", "spearman", "mse")


def members_table(metrics: dict) -> Table | None:
    """An ensemble's members' overall metrics, one row each (None: not an ensemble's metrics);
    the caption gives the members' mean standard deviation of an output."""
    members = metrics.get("members")
    if not members:
        return None
    first = next(iter(members.values()))
    keys = [key for key in MEMBER_KEYS if isinstance(first.get(key), (int, float))]
    spread = metrics.get("member_sd")
    table = Table(
        title="members, same records",
        caption=f"members' standard deviation of an output, mean: {spread:.4g}"
        if spread is not None
        else None,
        caption_justify="left",
    )
    table.add_column("member")
    for key in keys:
        table.add_column(key, justify="right")
    for name, values in members.items():
        table.add_row(name, *[format_value(values.get(key)) for key in keys])
    return table


SIGNAL_COLUMNS = {
    "pearson": "pearson log counts",
    "spearman": "spearman",
    "mse": "mse",
    "baseline_mse": "mse of mean",
    "jsd": "profile JSD",
    "baseline_jsd": "JSD of mean profile",
    "profile_pearson": "profile pearson",
}


def signal_table(metrics: dict, title: str) -> Table:
    """A counts or profile task's metrics (`dnanet.training.signal_metrics`): the mean over
    tracks, then one row per track, each score beside its baseline's."""
    keys = [key for key in SIGNAL_COLUMNS if key in metrics]
    table = Table(title=title)
    table.add_column("track")
    for key in keys:
        table.add_column(SIGNAL_COLUMNS[key], justify="right")
    table.add_column("n", justify="right")
    table.add_row("all (mean)", *[format_value(metrics[key]) for key in keys], str(metrics["n"]))
    for name, values in metrics["per_track"].items():
        table.add_row(name, *[format_value(values.get(key)) for key in keys], "")
    return table


def format_value(value: float | None) -> str:
    """A metric for a table: 4 decimals, or '-' where undefined."""
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
    )


def calibration_table(report: dict) -> Table:
    """`dnanet evaluate --conformal`'s coverage (`dnanet.inference.calibrated_outputs.
    coverage_report`): the coverage reached overall and per class, label or target beside the
    1 - alpha asked; the temperature and the ECE before and after it in the caption."""
    title = f"conformal coverage (asked: {report['target_coverage']:.4g}, alpha {report['alpha']})"
    caption = [f"note: {report['note']}"] if "note" in report else []
    if "temperature" in report:
        caption.insert(
            0,
            f"temperature {report['temperature']:.3g}; expected calibration error "
            f"{format_value(report['ece_before'])} before, {format_value(report['ece_after'])} "
            "after",
        )
    each = next(report[key] for key in ("per_class", "per_label", "per_target") if key in report)
    size = "interval_width" if "interval_units" in report else None
    if size is not None:
        caption.insert(0, f"interval widths in {report['interval_units']}")
    table = Table(title=title, caption="\n".join(caption) or None, caption_justify="left")
    for column in (
        "",
        "coverage",
        "interval width" if size else "mean set size",
        "n",
        "calibration n",
    ):
        table.add_column(column, justify="right" if column else "left")
    overall = format_value(report.get("mean_set_size"))
    cells = [format_value(report["coverage"]), overall, str(report["n"])]
    table.add_row("all", *cells, str(report["calibration_n"]))
    for name, values in each.items():
        calibration_n = values.get("calibration_n")
        if calibration_n is None:  # multilabel: absent / present
            calibration_n = f"{values['calibration_n_absent']} / {values['calibration_n_present']}"
        width = format_value(values.get(size)) if size else ""
        table.add_row(
            name, format_value(values["coverage"]), width, str(values["n"]), str(calibration_n)
        )
    return table
