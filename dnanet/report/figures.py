"""The figures of a prediction report (`dnanet.report.page`): which PNGs predictions against truth
get (ROC, precision-recall, confusion, calibration; regression: predicted vs true; signal runs:
predicted vs observed log(1 + reads) and, for profiles, example windows' reads per base), drawn
with `dnanet.report.plots` and `dnanet.report.signal_plots`, each with the title and caption the
page shows under it. Apart from the page so that what a figure says sits next to the code that
draws it; the names of the signal metrics, shared by the page's table and the history figure, are
here too (`SIGNAL_METRICS`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet.data.signal_task import split_flat
from dnanet.data.tasks import SIGNAL, Task
from dnanet.report import plots, signal_plots

LOG_READS = "log(1 + reads)"


@dataclass(frozen=True)
class SignalMetric:
    """A signal metric of metrics.json (`dnanet.training.signal_metrics`): its `key`, the key of
    its `baseline` (None: a constant prediction has no correlation to compare), its `label` in
    words, and whether `higher` is better."""

    key: str
    baseline: str | None
    label: str
    higher: bool


SIGNAL_METRICS = (
    SignalMetric("pearson", None, f"Pearson r of {LOG_READS} per window", True),
    SignalMetric("spearman", None, f"Spearman rho of {LOG_READS} per window", True),
    SignalMetric("mse", "baseline_mse", f"mean squared error of {LOG_READS}", False),
    SignalMetric("jsd", "baseline_jsd", "Jensen-Shannon distance of profiles (median)", False),
    SignalMetric(
        "profile_pearson",
        "baseline_profile_pearson",
        "Pearson r of profiles (median)",
        True,
    ),
)
HISTORY_LABELS = {
    "counts": {"pearson": f"Pearson r, {LOG_READS}", "mse": f"MSE, {LOG_READS}"},
    "profile": {"pearson": f"Pearson r, {LOG_READS}", "jsd": "median JSD of profiles"},
}
"""The y-axis labels of the history figure's validation metrics (`plots.plot_history`), by kind."""


@dataclass(frozen=True)
class Figure:
    """A PNG of the report (`file`, relative to the page's figure folder) and its words."""

    file: str
    title: str
    caption: str


def one_vs_rest(
    task: Task, targets: np.ndarray, outputs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The curve columns of a classification or multilabel task: truth bool ``(N, K)``, scores
    ``(N, K)`` and K names. Binary: the positive (first) class alone, as metrics.json scores it;
    multiclass: every class against the rest; multilabel: every label on its own."""
    if task.kind == "multilabel":
        return targets > 0.5, outputs, list(task.names)
    truth = targets[:, None] == np.arange(task.n_outputs)[None, :]
    if task.kind == "binary":
        return truth[:, :1], outputs[:, :1], [task.names[0]]
    return truth, outputs, list(task.names)


def prediction_figures(
    task: Task, targets: np.ndarray, outputs: np.ndarray, folder: Path, subject: str
) -> list[Figure]:
    """Draw the figures of predictions `outputs` (``activate``d, ``(N, C)``) against `targets`
    into `folder`: regression, predicted vs true; otherwise ROC, precision-recall, confusion
    matrix and calibration; signal tasks, `signal_figures`. `subject` names the records in titles
    (e.g. 'test split')."""
    if task.kind in SIGNAL:
        return signal_figures(task, targets, outputs, folder, subject)
    if task.kind == "regression":
        plots.plot_predicted_vs_true(
            targets,
            outputs,
            task.names,
            folder / "predicted_vs_true.png",
            f"Predicted vs true, {subject}",
        )
        return [
            Figure(
                "predicted_vs_true.png",
                "Predicted vs true",
                "Each record's prediction against its true value, one panel per target, "
                "in the data's "
                "units; the dotted line is a perfect prediction.",
            )
        ]
    truth, scores, names = one_vs_rest(task, targets, outputs)
    which = (
        f"the positive class, {names[0]}"
        if task.kind == "binary"
        else "each class against the rest"
        if task.is_classification
        else "each label on its own"
    )
    plots.plot_roc(truth, scores, names, folder / "roc.png", f"ROC, {subject}")
    plots.plot_precision_recall(
        truth, scores, names, folder / "precision_recall.png", f"Precision-recall, {subject}"
    )
    if task.is_classification:
        plots.plot_confusion(
            targets,
            outputs.argmax(1),
            task.names,
            folder / "confusion.png",
            f"Confusion matrix, {subject}",
        )
        confusion = (
            "True class (rows) against predicted class, the most probable (columns); "
            "counts of records."
        )
    else:
        plots.plot_label_confusions(
            targets > 0.5,
            outputs >= 0.5,
            task.names,
            folder / "confusion.png",
            f"Confusion matrix per label, {subject}",
        )
        confusion = (
            "Per label: true (rows) against predicted at probability 0.5 (columns); "
            "counts of records."
        )
    plots.plot_calibration(
        truth, scores, names, folder / "calibration.png", f"Calibration, {subject}"
    )
    return [
        Figure(
            "roc.png",
            "ROC curve",
            f"True against false positive rate for {which}; AUROC in the legend.",
        ),
        Figure(
            "precision_recall.png",
            "Precision-recall curve",
            f"Precision against recall for {which}; AUPRC (average precision) in the legend; "
            "dotted: the "
            "share of positives, what a random model reaches.",
        ),
        Figure("confusion.png", "Confusion matrix", confusion),
        Figure(
            "calibration.png",
            "Calibration",
            "Observed share of positives against mean predicted probability, "
            f"{plots.CALIBRATION_BINS} "
            f"equal-width bins, for {which}; a calibrated model follows the dotted diagonal. "
            "Below: records "
            "per bin.",
        ),
    ]


def signal_figures(
    task: Task, targets: np.ndarray, outputs: np.ndarray, folder: Path, subject: str
) -> list[Figure]:
    """Draw a counts or profile run's figures into `folder` from its flat `targets` and activated
    `outputs` (counts ``(N, T)``; profile ``(N, T + T*W)``, see `dnanet.data.signal_task`):
    predicted vs observed log(1 + reads) per track, and for a profile task the reads per base of
    example windows (`signal_plots.example_windows`)."""
    tracks = len(task.names)
    baseline = list(task.mean if task.kind == "counts" else task.prior[:tracks]) or None
    plots.plot_predicted_vs_true(
        targets[:, :tracks],
        outputs[:, :tracks],
        task.names,
        folder / "log_counts.png",
        f"Predicted vs observed {LOG_READS} per window, {subject}",
        quantity=LOG_READS,
        baseline=baseline,
    )
    figures = [
        Figure(
            "log_counts.png",
            "Predicted vs observed reads per window",
            f"Each window's predicted against observed {LOG_READS} over the target width, one "
            "panel per track, Pearson r and mean squared error in its title; dotted: a perfect "
            "prediction; dashed: the baseline, the training windows' mean, predicted for every "
            "window.",
        )
    ]
    if task.kind == "profile":
        figures.append(_profile_figure(task, targets, outputs, folder, subject))
    return figures


def _profile_figure(
    task: Task, targets: np.ndarray, outputs: np.ndarray, folder: Path, subject: str
) -> Figure:
    """The example windows' reads per base, observed and predicted (expm1(predicted log total) x
    predicted probability; a log total below 0, which no window has, as 0 reads), drawn to
    profile_examples.png."""
    tracks = len(task.names)
    _, observed = split_flat(targets, tracks, task.width)
    totals, probabilities = split_flat(outputs, tracks, task.width)
    chosen = signal_plots.example_windows(observed.sum((1, 2)))
    rows = [row for row, _ in chosen]
    predicted = np.expm1(np.maximum(totals[rows], 0))[:, :, None] * probabilities[rows]
    signal_plots.plot_profile_examples(
        observed[rows],
        predicted,
        task.names,
        [f"window {row + 1}, {why}" for row, why in chosen],
        folder / "profile_examples.png",
        f"Reads per base of example windows, {subject}",
    )
    drawn = (
        f" (the first {signal_plots.MAX_PROFILE_TRACKS} tracks)"
        if tracks > signal_plots.MAX_PROFILE_TRACKS
        else ""
    )
    return Figure(
        "profile_examples.png",
        "Example windows",
        f"Reads per base over the target width of the {signal_plots.MOST_READS} windows with the "
        f"most reads and {signal_plots.TYPICAL} near the median (window: its row in the "
        f"split), one column per track{drawn}: grey, observed; line, predicted (the predicted "
        "total x the predicted profile).",
    )
