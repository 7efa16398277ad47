"""Uncertainty a user can check: temperature scaling and split-conformal prediction sets and
intervals, fitted on held-out records' activated outputs (a run's validation part, or data given
to `dnanet calibrate`) and kept in the run folder's calibration.json.

Everything works on *activated* outputs ``(N, C)`` (`dnanet.data.tasks.Task.activate`:
probabilities, or values in the data's units; log(1 + reads) for counts) and their targets, never
on logits, so an ensemble's mean probabilities calibrate the same way as one model's.

- Temperature: ``p_T ∝ p^(1/T)`` (the softmax of ``log p / T``; a multilabel run's
  ``sigmoid(logit p / T)``, one T for all labels), which for one model is ordinary temperature
  scaling of its logits. T minimises the calibration records' negative log-likelihood (bounded
  search on log T, T in [0.05, 20]). T > 1 softens an overconfident model; the predicted class
  never changes.
- Expected calibration error (ECE): 15 equal-width bins of the top-class confidence (a binary run
  too: the top class, not the positive class), |accuracy - confidence| weighted by the bin's share
  of records; a multilabel run pools every (record, label) pair, confidence max(p, 1 - p).
- Split conformal, Mondrian (per group, so coverage holds within each group): the nonconformity
  score of a calibration record is 1 - p_T(true class), grouped by the true class (classification);
  per label, 1 - p_T(the true status), grouped by label and status (multilabel); |y - ŷ| per
  target (regression, counts in log(1 + reads)). For `alpha` a group's threshold is the
  ``ceil((n + 1)(1 - alpha))``-th smallest of its n scores; when that exceeds n the threshold is
  infinite (every class in the set, an unbounded interval). A new record's set holds each class c
  whose score 1 - p_T(c) is at most class c's threshold, so P(true class in set | class c) >=
  1 - alpha for records exchangeable with the calibration part. T is fitted on the same records;
  a binary or multilabel set does not depend on T (p_T is monotone in p), a multiclass set by one
  fitted parameter only.

Scores are kept sorted, rounded to 6 significant digits, so any alpha can be asked later. A group
of more than `MAX_SCORES` keeps that many evenly spaced order statistics (ranks
``ceil(j n / m)``); a threshold is then the smallest kept score of rank >= the one asked, so
coverage stays at least 1 - alpha and exceeds it by at most about 1 / `MAX_SCORES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, logit, softmax

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.files.json_files import parse_json, read_regular_file

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = "dnanet-calibration"
CALIBRATION_VERSION = 1
ECE_BINS = 15
MAX_SCORES = 20_000  # kept per group; quantiles exact below, within 1 / MAX_SCORES above
TEMPERATURE_RANGE = (0.05, 20.0)
STATUSES = ("absent", "present")  # a multilabel label's two groups, in this order
FILE_LIMIT = 64 << 20  # bytes of calibration.json: 20,000 scores x groups, a few MB at most
_FLOOR = 1e-12  # probabilities are clipped here before logs


@dataclass(frozen=True)
class ScoreGroup:
    """The sorted nonconformity scores of one Mondrian group: `n` calibration records, `scores`
    float64 ``(m,)`` with m = min(n, MAX_SCORES) evenly spaced order statistics."""

    n: int
    scores: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray) -> "ScoreGroup":
        ordered = np.sort(np.asarray(scores, dtype=np.float64))
        n, kept = len(ordered), min(len(ordered), MAX_SCORES)
        ranks = np.ceil(np.arange(1, kept + 1) * n / max(kept, 1)).astype(np.int64)
        return cls(n, np.array([float(f"{value:.6g}") for value in ordered[ranks - 1]]))

    def threshold(self, alpha: float) -> float:
        """The conformal threshold: the ceil((n + 1)(1 - alpha))-th smallest score, or infinity
        when that rank exceeds n (too few records for this alpha)."""
        rank = max(1, math.ceil((self.n + 1) * (1 - alpha) - 1e-9))  # 1e-9: (n+1)(1-a) whole
        if rank > self.n:
            return math.inf
        kept = len(self.scores)
        return float(self.scores[(rank - 1) * kept // self.n])  # smallest kept rank >= `rank`

    def to_dict(self) -> dict:
        return {"n": self.n, "scores": self.scores.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "ScoreGroup":
        scores = np.asarray(data["scores"], dtype=np.float64)
        n = int(data["n"])
        if scores.ndim != 1 or len(scores) > n or (n > 0 and len(scores) == 0):
            raise ValueError("n")
        if not np.isfinite(scores).all() or (np.diff(scores) < 0).any():
            raise ValueError("scores")
        return cls(n, scores)


@dataclass(frozen=True)
class Calibration:
    """What calibration.json holds: the task's `kind` and output `names` it was fitted for, the
    `temperature` (1 for regression and counts), the calibration records' ECE before and after
    temperature scaling (None: not a classification run, or no records), and per output its
    Mondrian groups (`groups[i]`: one `ScoreGroup`, or a multilabel label's (absent, present)).
    `source` says which records: 'validation', 'held-out inputs', 'out-of-fold validation'."""

    kind: str
    names: list[str]
    temperature: float
    ece_before: float | None
    ece_after: float | None
    groups: list[tuple[ScoreGroup, ...]]
    source: str = "validation"

    @property
    def n(self) -> int:
        """Calibration records: all classes' groups together, or one output's groups."""
        if self.kind in ("binary", "multiclass"):
            return sum(pair[0].n for pair in self.groups)
        return sum(group.n for group in self.groups[0]) if self.groups else 0

    def thresholds(self, alpha: float) -> np.ndarray:
        """Each group's threshold for `alpha`: ``(C,)``, or ``(C, 2)`` (absent, present) for a
        multilabel run."""
        check_alpha(alpha)
        values = np.array([[group.threshold(alpha) for group in pair] for pair in self.groups])
        return values if self.kind == "multilabel" else values[:, 0]

    def unbounded(self, alpha: float) -> list[str]:
        """The groups with too few records for `alpha` (their threshold is infinite), with n."""
        return [
            f"{name}{'' if len(pair) == 1 else ' ' + status} ({group.n})"
            for name, pair in zip(self.names, self.groups)
            for status, group in zip(STATUSES, pair)
            if math.isinf(group.threshold(alpha))
        ]

    def to_dict(self) -> dict:
        return {
            "format": CALIBRATION_FORMAT,
            "format_version": CALIBRATION_VERSION,
            "kind": self.kind,
            "names": self.names,
            "source": self.source,
            "n": self.n,
            "temperature": round(self.temperature, 6),
            "ece_bins": ECE_BINS,
            "ece_before": _rounded(self.ece_before),
            "ece_after": _rounded(self.ece_after),
            "score": SCORE_TEXT[self.kind],
            "groups": {
                name: (
                    {status: group.to_dict() for status, group in zip(STATUSES, pair)}
                    if self.kind == "multilabel"
                    else pair[0].to_dict()
                )
                for name, pair in zip(self.names, self.groups)
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        kind, names = data["kind"], [str(name) for name in data["names"]]
        entries = [data["groups"][name] for name in names]
        groups = [
            tuple(ScoreGroup.from_dict(entry[status]) for status in STATUSES)
            if kind == "multilabel"
            else (ScoreGroup.from_dict(entry),)
            for entry in entries
        ]
        temperature = float(data["temperature"])
        if kind not in SCORE_TEXT:
            raise ValueError("kind")
        if not TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1]:
            raise ValueError("temperature")
        ece = [_optional_float(data[key]) for key in ("ece_before", "ece_after")]
        return cls(kind, names, temperature, *ece, groups, str(data.get("source", "")))


SCORE_TEXT = {
    "binary": "1 - p_T(true class), grouped by the true class",
    "multiclass": "1 - p_T(true class), grouped by the true class",
    "multilabel": "1 - p_T(the label's true status), grouped by label and status",
    "regression": "|y - prediction| per target",
    "counts": "|log(1 + reads) - prediction| per track",
}


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise DnanetError(f"--conformal {alpha}: ALPHA must be between 0 and 1 (e.g. 0.1)")


# --- temperature scaling and calibration error -----------------------------------------------


def temperature_scaled(kind: str, outputs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``(N, C)`` at `temperature`: softmax(log p / T) for binary and multiclass,
    sigmoid(logit p / T) per label for multilabel; other kinds' values unchanged."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if kind in ("binary", "multiclass"):
        return softmax(np.log(np.clip(outputs, _FLOOR, 1)) / temperature, axis=1)
    if kind == "multilabel":
        return expit(logit(np.clip(outputs, _FLOOR, 1 - _FLOOR)) / temperature)
    return outputs


def apply_temperature(task: Task, outputs: np.ndarray, calibration: Calibration) -> np.ndarray:
    """`task`'s activated outputs ``(N, C)`` at the calibration's temperature (float64)."""
    check_matches(calibration, task)
    return temperature_scaled(task.kind, outputs, calibration.temperature)


def negative_log_likelihood(kind: str, outputs: np.ndarray, targets: np.ndarray, T: float) -> float:
    """Mean NLL of `targets` under the outputs at temperature `T` (per label for multilabel)."""
    if kind == "multilabel":
        z = logit(np.clip(outputs, _FLOOR, 1 - _FLOOR)) / T
        return float(np.mean(targets * np.logaddexp(0, -z) + (1 - targets) * np.logaddexp(0, z)))
    log_p = log_softmax(np.log(np.clip(outputs, _FLOOR, 1)) / T, axis=1)
    return float(-np.mean(log_p[np.arange(len(targets)), targets]))


def fit_temperature(kind: str, outputs: np.ndarray, targets: np.ndarray) -> float:
    """The T in `TEMPERATURE_RANGE` of least negative log-likelihood (1 without records)."""
    if len(targets) == 0:
        return 1.0
    outputs = np.asarray(outputs, dtype=np.float64)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(kind, outputs, targets, math.exp(log_t)),
        bounds=tuple(math.log(t) for t in TEMPERATURE_RANGE),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(math.exp(found.x))


def expected_calibration_error(
    kind: str, outputs: np.ndarray, targets: np.ndarray, bins: int = ECE_BINS
) -> float | None:
    """ECE of probabilities ``(N, C)``: top-class confidence (binary too) in `bins` equal-width
    bins; multilabel: every (record, label) pair, confidence max(p, 1 - p). None without
    records."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if kind == "multilabel":
        confidence = np.maximum(outputs, 1 - outputs).ravel()
        correct = ((outputs >= 0.5) == (np.asarray(targets) >= 0.5)).ravel()
    else:
        confidence = outputs.max(1)
        correct = outputs.argmax(1) == np.asarray(targets)
    if len(confidence) == 0:
        return None
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)  # (a, b] bins
    gap = np.bincount(which, weights=correct - confidence, minlength=bins)
    return float(np.abs(gap).sum() / len(confidence))


# --- fitting --------------------------------------------------------------------------------


def fit_calibration(
    task: Task, outputs: np.ndarray, targets: np.ndarray, source: str = "validation"
) -> Calibration:
    """Temperature, ECE before and after, and the Mondrian conformal scores of held-out records:
    activated `outputs` ``(N, C)`` and `targets` (class indices ``(N,)``, 0/1 ``(N, C)``, or
    values ``(N, T)``, as `Task.encode` gives them). An ensemble calls this with its members'
    pooled out-of-fold validation outputs and ``source='out-of-fold validation'``."""
    if task.kind not in SCORE_TEXT:
        raise DnanetError(
            f"a {task.kind} run has no calibration: conformal intervals are for classification, "
            "regression and counts runs"
        )
    outputs = np.asarray(outputs, dtype=np.float64)
    targets = np.asarray(targets)
    if task.kind not in ("binary", "multiclass", "multilabel"):
        residuals = np.abs(targets - outputs)
        groups = [(ScoreGroup.of(residuals[:, j]),) for j in range(len(task.names))]
        return Calibration(task.kind, list(task.names), 1.0, None, None, groups, source)
    temperature = fit_temperature(task.kind, outputs, targets)
    scaled = temperature_scaled(task.kind, outputs, temperature)
    before = expected_calibration_error(task.kind, outputs, targets)
    after = expected_calibration_error(task.kind, scaled, targets)
    if task.kind == "multilabel":
        present = targets >= 0.5
        groups = [
            (ScoreGroup.of(scaled[~present[:, j], j]), ScoreGroup.of(1 - scaled[present[:, j], j]))
            for j in range(len(task.names))
        ]
    else:
        true_p = scaled[np.arange(len(targets)), targets]
        groups = [(ScoreGroup.of(1 - true_p[targets == c]),) for c in range(len(task.names))]
    return Calibration(task.kind, list(task.names), temperature, before, after, groups, source)


# --- sets, intervals, coverage -------------------------------------------------------------


def conformal_sets(calibration: Calibration, outputs: np.ndarray, alpha: float) -> np.ndarray:
    """Prediction sets of activated (not yet temperature-scaled) probabilities ``(N, C)`` at
    level `alpha`: bool ``(N, C)``, class c in record i's set; a multilabel run's ``(N, C, 2)``,
    (absent, present) in label c's set."""
    thresholds = calibration.thresholds(alpha)
    scaled = temperature_scaled(calibration.kind, outputs, calibration.temperature)
    if calibration.kind == "multilabel":
        return np.stack([scaled <= thresholds[:, 0], 1 - scaled <= thresholds[:, 1]], axis=-1)
    return 1 - scaled <= thresholds


def conformal_intervals(
    calibration: Calibration, outputs: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) ``(N, T)`` around regression or counts outputs ``(N, T)`` at level `alpha`, in
    the outputs' units (counts: log(1 + reads)); ±inf where a target's threshold is."""
    if calibration.kind not in ("regression", "counts"):
        raise DnanetError(f"a {calibration.kind} run has prediction sets, not intervals")
    half = calibration.thresholds(alpha)
    outputs = np.asarray(outputs, dtype=np.float64)
    return outputs - half, outputs + half


def set_coverage(sets: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Whether each record's true class is in its set, bool ``(N,)``; multilabel: whether each
    label's true status is, ``(N, C)``."""
    if sets.ndim == 3:
        return np.take_along_axis(sets, (targets >= 0.5).astype(np.int64)[..., None], -1)[..., 0]
    return sets[np.arange(len(targets)), targets]


def interval_coverage(low: np.ndarray, high: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Whether each target lies in its interval, bool ``(N, T)``."""
    return (low <= targets) & (targets <= high)


def check_matches(calibration: Calibration, task: Task, where: str = CALIBRATION_FILE) -> None:
    """Refuse a calibration fitted for another task (a calibration.json copied between runs)."""
    if calibration.kind != task.kind or calibration.names != list(task.names):
        raise DnanetError(
            f"{where}: fitted for a {calibration.kind} run with outputs "
            f"{', '.join(calibration.names)}, not this {task.kind} run's "
            f"{', '.join(task.names)}; make a new one with `dnanet calibrate`"
        )


# --- the file -------------------------------------------------------------------------------


def write_calibration(path: Path, calibration: Calibration) -> None:
    """calibration.json at `path` (compact: the scores are most of it)."""
    import json

    text = json.dumps(calibration.to_dict(), allow_nan=False, separators=(",", ":"))
    Path(path).write_text(text + "\n", encoding="utf-8")


def read_calibration(folder: Path, task: Task) -> Calibration:
    """The run folder's calibration.json, checked against the run's `task`. A run without one
    (trained before calibration existed, or a profile run) gets an error naming `dnanet
    calibrate`."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.exists():
        raise DnanetError(
            f"{folder}: no {CALIBRATION_FILE} (a run trained before calibration, or a profile "
            f"run); fit one on held-out labelled data: dnanet calibrate {folder} CLASS=FILE ..."
        )
    data = parse_json(read_regular_file(path, FILE_LIMIT), path)
    try:
        if data.get("format") != CALIBRATION_FORMAT:
            raise ValueError("format")
        calibration = Calibration.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DnanetError(
            f"{path}: not a dnanet calibration (key {str(error).strip(chr(39))}); "
            "make a new one with `dnanet calibrate --overwrite`"
        ) from None
    check_matches(calibration, task, str(path))
    return calibration
