"""Metrics (scikit-learn, scipy) for every task type, with the keys of metrics.json.

Binary tasks: the *positive* class is the first class (the first FASTA file given, or the first
label seen); ``auroc``, ``auprc`` and ``f1`` are for that class. Multiclass tasks: ``auroc``,
``auprc`` and ``f1`` are macro averages of one-vs-rest values. ``per_class`` always holds each
class's one-vs-rest ``auroc``, ``auprc``, ``f1``, ``precision``, ``recall`` and ``n``.
Multilabel tasks: the same keys, each label scored on its own (threshold 0.5), macro-averaged;
``accuracy`` is the mean per-label accuracy and ``exact_match`` the share of records with every
label right. Regression: ``pearson``, ``spearman``, ``mse`` and ``n``, averaged over targets,
with ``per_target`` values. Counts and profile tasks: `dnanet.training.signal_metrics`.

A class (or label) with no records in the evaluated set has ``n: 0``: its AUROC, AUPRC, recall,
F1 (and for a label MCC) are undefined (``None``), and it is left out of *every* macro average
alike, so the averages are over the same classes; ``note`` then says which classes were left out.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from dnanet.data.tasks import SIGNAL, Task
from dnanet.training.signal_metrics import signal_metrics

HEADLINE = {
    "binary": ("accuracy", "auroc"),
    "multiclass": ("accuracy", "auroc"),
    "multilabel": ("accuracy", "auroc"),
    "regression": ("pearson", "mse"),
    "counts": ("pearson", "mse"),
    "profile": ("pearson", "jsd"),
}
"""The metrics recorded per epoch in history.csv (as val_<name>) for each task kind."""


def task_metrics(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict:
    """Metrics of `outputs` (``activate``d, ``(N, C)``) against `targets` for the task's kind."""
    if task.is_classification:
        return classification_metrics(targets, outputs, task.names)
    if task.kind == "multilabel":
        return multilabel_metrics(targets, outputs, task.names)
    if task.kind in SIGNAL:
        return signal_metrics(task, targets, outputs)
    return regression_metrics(targets, outputs, task.names)


def multilabel_metrics(targets: np.ndarray, probs: np.ndarray, names: list[str]) -> dict:
    """Per-label one-vs-rest scores, macro-averaged, for 0/1 targets and probabilities
    ``(N, C)``."""
    predicted = probs >= 0.5
    per_class = {
        name: {
            **_one_vs_rest(targets[:, i] > 0.5, probs[:, i], predicted[:, i]),
            "accuracy": float(np.mean(predicted[:, i] == (targets[:, i] > 0.5))),
            "mcc": float(skm.matthews_corrcoef(targets[:, i] > 0.5, predicted[:, i])),
        }
        for i, name in enumerate(names)
    }
    for scores in per_class.values():
        if scores["n"] == 0:
            scores["mcc"] = (
                None  # no positives: the correlation is undefined (scikit-learn returns 0)
            )
    result = {
        "n": int(len(targets)),
        "exact_match": float(np.mean((predicted == (targets > 0.5)).all(1))),
    }
    result.update(_macro_averages(per_class, ("accuracy", "auroc", "auprc", "mcc", "f1")))
    result["per_class"] = per_class
    return _with_absent_note(result, "label")


def regression_metrics(targets: np.ndarray, values: np.ndarray, names: list[str]) -> dict:
    """Pearson and Spearman correlation and MSE per target ``(N, T)``, and their means."""
    per_target = {}
    for i, name in enumerate(names):
        truth, guess = targets[:, i].astype(np.float64), values[:, i].astype(np.float64)
        varied = len(truth) > 1 and truth.std() > 0 and guess.std() > 0
        per_target[name] = {
            "pearson": float(stats.pearsonr(truth, guess)[0]) if varied else None,
            "spearman": float(stats.spearmanr(truth, guess)[0]) if varied else None,
            "mse": float(np.mean((truth - guess) ** 2)),
        }
    result: dict = {"n": int(len(targets))}
    for key in ("pearson", "spearman", "mse"):
        scores = [t[key] for t in per_target.values() if t[key] is not None]
        result[key] = float(np.mean(scores)) if scores else None
    result["per_target"] = per_target
    return result


def classification_metrics(labels: np.ndarray, probs: np.ndarray, class_names: list[str]) -> dict:
    """Metrics for true labels int ``(N,)`` and probabilities ``(N, C)``; undefined values
    (e.g. AUROC when only one class is present) are ``None``."""
    predicted = probs.argmax(1)
    per_class = {
        name: _one_vs_rest(labels == i, probs[:, i], predicted == i)
        for i, name in enumerate(class_names)
    }
    result = {
        "n": int(len(labels)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "mcc": float(skm.matthews_corrcoef(labels, predicted)) if len(labels) else None,
    }
    if len(class_names) == 2:
        positive = per_class[class_names[0]]
        result.update(
            auroc=positive["auroc"],
            auprc=positive["auprc"],
            f1=positive["f1"],
            positive_class=class_names[0],
        )
    else:
        result.update(_macro_averages(per_class, ("auroc", "auprc", "f1")))
    result["per_class"] = per_class
    return _with_absent_note(result, "class")


def _macro_averages(per_class: dict[str, dict], keys: tuple[str, ...]) -> dict:
    """The mean of each key over the classes present (``n`` > 0) where it is defined; ``None`` if
    none."""
    present = [scores for scores in per_class.values() if scores["n"] > 0]
    averages = {}
    for key in keys:
        values = [scores[key] for scores in present if scores[key] is not None]
        averages[key] = float(np.mean(values)) if values else None
    return averages


def _with_absent_note(result: dict, what: str) -> dict:
    """Add ``note`` naming the classes (`what`: "class" or "label") with no records, if any."""
    absent = [name for name, scores in result["per_class"].items() if scores["n"] == 0]
    if len(absent) == 1:
        result["note"] = (
            f"no records of {what} {absent[0]} here (n: 0): its AUROC, AUPRC, recall and F1 are "
            "undefined and it is left out of every macro average"
        )
    elif absent:
        plural = "classes" if what == "class" else "labels"
        result["note"] = (
            f"no records of {plural} {', '.join(absent)} here (n: 0): their AUROC, AUPRC, recall "
            "and F1 are undefined and they are left out of every macro average"
        )
    return result


def _one_vs_rest(truth: np.ndarray, score: np.ndarray, predicted: np.ndarray) -> dict:
    """One class against the rest: truth and predicted bool ``(N,)``, score float ``(N,)``. With no
    records of the class (``n`` 0), recall and F1 are undefined (``None``), like AUROC and AUPRC;
    precision stays defined (0 when the class was predicted: every such prediction is wrong)."""
    both = 0 < truth.sum() < len(truth)
    present = bool(truth.any())
    return {
        "n": int(truth.sum()),
        "auroc": float(skm.roc_auc_score(truth, score)) if both else None,
        "auprc": float(skm.average_precision_score(truth, score)) if both else None,
        "f1": float(skm.f1_score(truth, predicted, zero_division=0)) if present else None,
        "precision": float(skm.precision_score(truth, predicted, zero_division=0)),
        "recall": float(skm.recall_score(truth, predicted, zero_division=0)) if present else None,
    }
