"""Did the model learn anything? A model that learned nothing must never pass for a result.

The kept model's validation loss is compared, record by record, with the loss of a model that
knows only the training split's prior: its class frequencies (binary, multiclass), each label's
prevalence (multilabel) or its mean (regression). The run counts as learned when the mean
per-record improvement is both material (at least ``MIN_IMPROVEMENT`` of the prior's loss) and
beyond sampling noise (at least ``MIN_Z`` standard errors of the paired differences). A model
that gives every validation record the same answer (one class, one label set, one value) has
collapsed and is flagged the same way, whatever its loss.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from dnanet.data.tasks import Task

MIN_IMPROVEMENT = 0.01  # of the prior's loss
MIN_Z = 3.0  # standard errors (one-sided p ~ 0.001)
ADVICE = (
    "try more epochs or a lower --lr, another --model, or check that the classes really differ "
    "(not the same FASTA twice, enough records per class)"
)


@dataclass(frozen=True)
class LearningCheck:
    """The verdict (``learned``), the numbers behind it, and a one-line reason when it failed."""

    learned: bool
    val_loss: float
    prior_loss: float
    improvement: float  # (prior_loss - val_loss) / prior_loss
    z: float
    collapsed: bool
    message: str

    def to_dict(self) -> dict:
        return {
            key: (round(value, 6) if isinstance(value, float) else value)
            for key, value in asdict(self).items()
        }


def prior_outputs(task: Task, train_targets: np.ndarray, n: int) -> torch.Tensor:
    """What a model that knows only the training split's prior answers for each of `n` records
    ``(n, C)``."""
    if task.is_classification:
        counts = np.bincount(train_targets, minlength=task.n_outputs) + 0.5
        row = counts / counts.sum()
    elif task.kind == "profile":  # mean log counts and average profile (`Task.with_statistics`)
        row = np.asarray(task.prior, dtype=np.float64)
    else:
        row = np.asarray(train_targets, dtype=np.float64).mean(0)
    return torch.tensor(row, dtype=torch.float32).expand(n, task.n_outputs).clone()


def collapsed_answer(task: Task, outputs: torch.Tensor) -> str | None:
    """The one answer a model gives every record, described, or None when its answers vary."""
    if len(outputs) < 2:
        return None
    if task.is_classification:
        predicted = outputs.argmax(1)
        return (
            f"class '{task.names[int(predicted[0])]}'"
            if bool((predicted == predicted[0]).all())
            else None
        )
    if task.kind == "multilabel":
        predicted = outputs >= 0.5
        if bool((predicted == predicted[0]).all()):
            labels = [name for name, on in zip(task.names, predicted[0].tolist()) if on]
            return f"the label set '{';'.join(labels) or '(none)'}'"
        return None
    if task.kind == "profile":
        totals = outputs[:, : len(task.names)]
        return "the same total counts" if bool((totals.std(0) < 1e-3).all()) else None
    spread = (outputs / torch.tensor(task.std)).std(0)  # in training standard deviations
    return "the same value" if bool((spread < 1e-3).all()) else None


def check_learning(
    task: Task, train_targets: np.ndarray, val_outputs: torch.Tensor, val_targets: torch.Tensor
) -> LearningCheck:
    """Compare the kept model's validation outputs ``(N, C)`` (activated) with the prior's."""
    model_loss = task.record_losses(val_outputs, val_targets).numpy()
    prior_loss = task.record_losses(
        prior_outputs(task, train_targets, len(val_targets)), val_targets
    ).numpy()
    return check_losses(task, model_loss, prior_loss, collapsed_answer(task, val_outputs))


def check_losses(
    task: Task, model_loss: np.ndarray, prior_loss: np.ndarray, same: str | None
) -> LearningCheck:
    """The verdict from each validation record's loss ``(N,)`` under the model and the prior, and
    the one answer the model gives every record (`collapsed_answer`; None: its answers vary)."""
    gain = prior_loss - model_loss
    mean_prior, mean_gain = float(prior_loss.mean()), float(gain.mean())
    standard_error = float(gain.std(ddof=1) / math.sqrt(len(gain))) if len(gain) > 1 else math.inf
    z = mean_gain / standard_error if standard_error > 0 else (1e6 if mean_gain > 0 else 0.0)
    z = min(z, 1e6)  # finite, for JSON
    improvement = mean_gain / mean_prior if mean_prior > 0 else 0.0
    reasons = []
    if not (improvement >= MIN_IMPROVEMENT and z >= MIN_Z):
        baseline = {
            "regression": "always predicting the training mean",
            "counts": "always predicting the training windows' mean log counts",
            "profile": "predicting the training windows' mean counts and average profile",
            "multilabel": "predicting each label's training frequency",
        }.get(task.kind, "predicting the training class frequencies")
        reasons.append(
            f"validation loss {model_loss.mean():.4f} is not clearly below {mean_prior:.4f}, the "
            f"loss of {baseline} (improvement {improvement:.1%}, {z:.1f} standard errors)"
        )
    if same is not None:
        reasons.append(f"it predicts {same} for every validation record")
    message = "; ".join(reasons) + (f"; {ADVICE}" if reasons else "")
    return LearningCheck(
        not reasons, float(model_loss.mean()), mean_prior, improvement, z, same is not None, message
    )
