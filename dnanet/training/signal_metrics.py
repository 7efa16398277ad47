"""Metrics of signal tasks (counts, profile), each beside the baseline a model must beat.

Counts (both tasks): per track, Pearson and Spearman correlation of observed and predicted
log(1 + reads) per window, and their mean squared error, beside ``baseline_mse``: the error of
predicting every window the training windows' mean (what `dnanet.training.learning_check` calls
not learning). Profile: per window and track, the Jensen-Shannon distance (base 2: 0 identical,
1 disjoint) between the observed reads' distribution over the output bases and the predicted
probabilities, and the Pearson correlation of the two profiles; medians over windows with reads,
beside ``baseline_jsd`` and ``baseline_profile_pearson``: the same for the training windows'
average profile. Averages over tracks are the headline; ``per_track`` holds each.

Profile scores are computed a batch at a time (`window_profile_scores`, then `ProfileScores`
keeps only per-window numbers), so scoring 10^5 held-out windows of 1 kb never holds their
profiles.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from scipy.spatial.distance import jensenshannon

from dnanet.data.tasks import Task

PROFILE_SCORES = ("jsd", "profile_pearson", "baseline_jsd", "baseline_profile_pearson")
SAMPLE = 2_000  # windows whose whole rows `ProfileScores` keeps (the report's figures)


def counts_metrics(observed: np.ndarray, predicted: np.ndarray, baseline: np.ndarray) -> dict:
    """Observed and predicted log(1 + reads) ``(N, T)``; `baseline` ``(T,)`` the training mean.
    Per-track values under ``per_track`` (by index); headline values their means."""
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
    return {"n": int(len(observed)), **_averaged(rows)}


def window_profile_scores(
    counts: np.ndarray, probabilities: np.ndarray, baseline: np.ndarray
) -> dict[str, np.ndarray]:
    """Per window and track ``(N, T)``: the `PROFILE_SCORES` of observed reads ``(N, T, W)``
    against predicted probabilities ``(N, T, W)`` and the training windows' average profile
    ``(T, W)``; NaN where a window has no reads."""
    scores = {key: np.full(counts.shape[:2], np.nan) for key in PROFILE_SCORES}
    for track in range(counts.shape[1]):
        reads = counts[:, track].astype(np.float64)
        has_reads = reads.sum(1) > 0
        reads, guess = reads[has_reads], probabilities[has_reads, track].astype(np.float64)
        average = np.broadcast_to(baseline[track], reads.shape)
        scores["jsd"][has_reads, track] = _jsd(reads, guess)
        scores["profile_pearson"][has_reads, track] = _row_pearson(reads, guess)
        scores["baseline_jsd"][has_reads, track] = _jsd(reads, average)
        scores["baseline_profile_pearson"][has_reads, track] = _row_pearson(reads, average)
    return scores


def profile_metrics(scores: dict[str, np.ndarray]) -> dict:
    """Medians over the windows with reads of each track's `window_profile_scores` ``(N, T)``,
    and their means over tracks."""
    rows = [
        {
            **{key: _median(scores[key][:, track]) for key in PROFILE_SCORES},
            "windows_with_reads": int(np.isfinite(scores["baseline_jsd"][:, track]).sum()),
        }
        for track in range(scores["jsd"].shape[1])
    ]
    return _averaged(rows)


def signal_metrics(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict:
    """metrics.json's signal metrics for flat targets and activated outputs ``(N, K)``."""
    if task.kind == "counts":
        return _named(task, counts_metrics(targets, outputs, np.asarray(task.mean)))
    scores = ProfileScores(task)
    scores.add(torch.as_tensor(outputs), torch.as_tensor(targets))
    return scores.metrics()


class ProfileScores:
    """A profile task's held-out windows scored a batch at a time (`add`): per window only the
    log totals, the `window_profile_scores` and the loss of the model and of the prior (the
    learning check's), plus the whole rows of the first `SAMPLE` windows."""

    def __init__(self, task: Task):
        self.task = task
        tracks, width = len(task.names), task.width
        prior = np.asarray(task.prior) if task.prior else np.full(tracks * (1 + width), 1 / width)
        self.prior = torch.tensor(prior, dtype=torch.float32)
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Activated outputs and flat targets ``(B, K)`` of the next windows."""
        task, tracks = self.task, len(self.task.names)
        shape = (len(targets), tracks, task.width)
        prior = self.prior.expand(len(targets), -1)
        values = {
            "observed": targets[:, :tracks].numpy().copy(),  # a view would keep the batch
            "predicted": outputs[:, :tracks].numpy().copy(),
            "loss": task.record_losses(outputs, targets).numpy(),
            "prior_loss": task.record_losses(prior, targets).numpy(),
            **window_profile_scores(
                targets[:, tracks:].numpy().reshape(shape),
                outputs[:, tracks:].numpy().reshape(shape),
                self.prior[tracks:].numpy().reshape(tracks, task.width),
            ),
        }
        kept = sum(len(part) for part in self.parts.get("sample_targets", []))
        if kept < SAMPLE:
            values["sample_targets"] = targets[: SAMPLE - kept].numpy().copy()
            values["sample_outputs"] = outputs[: SAMPLE - kept].numpy().copy()
        for key, value in values.items():
            self.parts.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> np.ndarray:
        return np.concatenate(self.parts[key]) if key in self.parts else np.zeros(0)

    def __len__(self) -> int:
        return len(self["loss"])

    def metrics(self) -> dict:
        """metrics.json's profile metrics of every window added."""
        result = counts_metrics(
            self["observed"], self["predicted"], self.prior[: len(self.task.names)].numpy()
        )
        per_track = result.pop("per_track")
        profile = profile_metrics({key: self[key] for key in PROFILE_SCORES})
        for index, values in profile.pop("per_track").items():
            per_track[index].update(values)
        return _named(self.task, {**result, **profile, "per_track": per_track})


def _named(task: Task, result: dict) -> dict:
    """``per_track`` keyed by track name."""
    per_track = result.pop("per_track")
    return {**result, "per_track": dict(zip(task.names, per_track.values()))}


def _averaged(rows: list[dict]) -> dict:
    """Per-track score rows -> the mean of each score over tracks where defined, and the rows."""
    result = {}
    for key in rows[0] if rows else ():
        values = [row[key] for row in rows if row[key] is not None]
        result[key] = float(np.mean(values)) if values else None
    result["per_track"] = {index: row for index, row in enumerate(rows)}
    return result


def _jsd(reads: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) of each row's read distribution and probabilities; two
    identical rows score 0 (scipy's rounding can give NaN there)."""
    if len(reads) == 0:
        return np.zeros(0)
    observed = reads / reads.sum(1, keepdims=True)
    with np.errstate(invalid="ignore"):
        distances = jensenshannon(observed, probabilities, axis=1, base=2)
    return np.nan_to_num(distances, nan=0.0)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair (NaN where a row is constant)."""
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    denominator = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(1) / denominator, np.nan)


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None
