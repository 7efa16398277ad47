"""The figures of a prediction report (`dnanet.report.page`): which PNGs predictions against truth
get (ROC, precision-recall, confusion, calibration; regression: predicted vs true), drawn with
`dnanet.report.plots`, each with the title and caption the page shows under it. Apart from the
page so that what a figure says sits next to the code that draws it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet.data.tasks import Task
from dnanet.report import plots


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
    matrix and calibration. `subject` names the records in titles (e.g. 'test split')."""
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
