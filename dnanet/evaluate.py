"""Classification metrics (scikit-learn), overall and per class, with the keys of metrics.json.

Binary tasks: the *positive* class is the first class (the first FASTA file given, or the first
label seen); ``auroc``, ``auprc`` and ``f1`` are for that class. Multiclass tasks: ``auroc``,
``auprc`` and ``f1`` are macro averages of one-vs-rest values. ``per_class`` always holds each
class's one-vs-rest ``auroc``, ``auprc``, ``f1``, ``precision``, ``recall`` and ``n``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm


def classification_metrics(labels: np.ndarray, probs: np.ndarray, class_names: list[str]) -> dict:
    """Metrics for true labels int ``(N,)`` and probabilities ``(N, C)``; undefined values
    (e.g. AUROC when only one class is present) are ``None``."""
    predicted = probs.argmax(1)
    per_class = {name: _one_vs_rest(labels == i, probs[:, i], predicted == i) for i, name in enumerate(class_names)}
    result = {
        "n": int(len(labels)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "mcc": float(skm.matthews_corrcoef(labels, predicted)) if len(labels) else None,
    }
    if len(class_names) == 2:
        positive = per_class[class_names[0]]
        result.update(auroc=positive["auroc"], auprc=positive["auprc"], f1=positive["f1"],
                      positive_class=class_names[0])
    else:
        for key in ("auroc", "auprc", "f1"):
            values = [c[key] for c in per_class.values() if c[key] is not None]
            result[key] = float(np.mean(values)) if values else None
    result["per_class"] = per_class
    return result


def _one_vs_rest(truth: np.ndarray, score: np.ndarray, predicted: np.ndarray) -> dict:
    both = 0 < truth.sum() < len(truth)
    return {
        "n": int(truth.sum()),
        "auroc": float(skm.roc_auc_score(truth, score)) if both else None,
        "auprc": float(skm.average_precision_score(truth, score)) if both else None,
        "f1": float(skm.f1_score(truth, predicted, zero_division=0)),
        "precision": float(skm.precision_score(truth, predicted, zero_division=0)),
        "recall": float(skm.recall_score(truth, predicted, zero_division=0)),
    }


def format_value(value: float | None) -> str:
    """A metric for a table: 4 decimals, or '-' where undefined."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
