"""Metrics of signal tasks (counts, profile), each beside the baseline a model must beat.

Counts (both tasks): per track, Pearson and Spearman correlation of observed and predicted
log(1 + reads) per window, and their mean squared error, beside ``baseline_mse``: the error of
predicting every window the training windows' mean (what `dnanet.training.learning_check` calls
not learning). Profile: per window and track, the Jensen-Shannon distance (base 2: 0 identical,
1 disjoint) between the observed reads' distribution over the output bases and the predicted
probabilities, and the Pearson correlation of the two profiles; medians over windows with reads,
beside ``baseline_jsd`` and ``baseline_profile_pearson``: the same for the training windows'
average profile. Averages over tracks are the headline; ``per_track`` holds each.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from dnanet.data.tasks import Task


def counts_metrics(observed: np.ndarray, predicted: np.ndarray, baseline: np.ndarray) -> dict:
    """Observed and predicted log(1 + reads) ``(N, T)``; `baseline` ``(T,)`` the training mean.
    Per-track values are lists in track order; headline values their means."""
    rows = []
    for track in range(observed.shape[1]):
        truth, guess = observed[:, track].astype(np.float64), predicted[:, track].astype(np.float64)
        varied = len(truth) > 1 and truth.std() > 0 and guess.std() > 0
        rows.append(
            {
                "pearson": float(stats.pearsonr(truth, guess)[0]) if varied else None,
                "spearman": float(stats.spearmanr(truth, guess)[0]) if varied else None,
                "mse": float(np.mean((truth - guess) ** 2)),
                "baseline_mse": float(np.mean((truth - baseline[track]) ** 2)),
            }
        )
    return _averaged(rows)


def profile_metrics(counts: np.ndarray, probabilities: np.ndarray, baseline: np.ndarray) -> dict:
    """Observed reads ``(N, T, W)``, predicted probabilities ``(N, T, W)`` and the training
    windows' average profile ``(T, W)`` -> JSD and profile Pearson per track (medians over the
    windows with reads), with the baseline's."""
    rows = []
    for track in range(counts.shape[1]):
        reads = counts[:, track].astype(np.float64)
        has_reads = reads.sum(1) > 0
        reads, guess = reads[has_reads], probabilities[has_reads, track].astype(np.float64)
        average = np.broadcast_to(baseline[track], reads.shape)
        rows.append(
            {
                "jsd": _median(_jsd(reads, guess)),
                "profile_pearson": _median(_row_pearson(reads, guess)),
                "baseline_jsd": _median(_jsd(reads, average)),
                "baseline_profile_pearson": _median(_row_pearson(reads, average)),
                "windows_with_reads": int(has_reads.sum()),
            }
        )
    return _averaged(rows)


def signal_metrics(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict:
    """metrics.json's signal metrics for flat targets and activated outputs ``(N, K)``."""
    tracks = len(task.names)
    if task.kind == "counts":
        result = counts_metrics(targets, outputs, np.asarray(task.mean))
    else:
        prior = np.asarray(task.prior) if task.prior else np.zeros(tracks * (1 + task.width))
        result = counts_metrics(targets[:, :tracks], outputs[:, :tracks], prior[:tracks])
        shape = (len(targets), tracks, task.width)
        per_track = result.pop("per_track")
        profile = profile_metrics(
            targets[:, tracks:].reshape(shape),
            outputs[:, tracks:].reshape(shape),
            prior[tracks:].reshape(tracks, task.width),
        )
        for name, scores in zip(per_track, profile.pop("per_track").values()):
            per_track[name].update(scores)
        result.update(profile, per_track=per_track)
    named = result.pop("per_track")
    return {
        "n": int(len(targets)),
        **result,
        "per_track": dict(zip(task.names, named.values())),
    }


def _averaged(rows: list[dict]) -> dict:
    """Per-track score rows -> the mean of each score over tracks where defined, and the rows."""
    result = {}
    for key in rows[0] if rows else ():
        values = [row[key] for row in rows if row[key] is not None]
        result[key] = float(np.mean(values)) if values else None
    result["per_track"] = {index: row for index, row in enumerate(rows)}
    return result


def _jsd(reads: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) of each row's read distribution and probabilities."""
    if len(reads) == 0:
        return np.zeros(0)
    observed = reads / reads.sum(1, keepdims=True)
    return jensenshannon(observed, probabilities, axis=1, base=2)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair (NaN where a row is constant)."""
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    denominator = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(1) / denominator, np.nan)


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None
