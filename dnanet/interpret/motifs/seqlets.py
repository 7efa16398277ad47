"""Seqlets: the high-scoring windows of a class's sequences.

Scores live in a flat float32 buffer aligned with the sequences' flat codes (sequence i is
``flat[offsets[i]:offsets[i+1]]``), so sequences of any length cost no padding. A window's
score is the sum of its bases' scores; each sequence gives its best windows, greedily, that do
not overlap, and a window is kept when its score beats the ``quantile`` of the best windows of
the background sequences (the other classes, or shuffles) — a null made by the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnanet.inputs.encode import PAD


@dataclass
class Seqlets:
    """Windows ``[start, start + width)`` of sequences ``sequence`` (int64 ``(S,)`` each)."""

    sequence: np.ndarray
    start: np.ndarray
    score: np.ndarray
    width: int

    def __len__(self) -> int:
        return len(self.sequence)


def best_windows(scores: np.ndarray, width: int, count: int) -> list[tuple[int, float]]:
    """Scores ``(L,)`` -> up to `count` non-overlapping (start, window sum) pairs, best first."""
    width = min(width, len(scores))
    if width < 1:
        return []
    sums = np.convolve(scores, np.ones(width, dtype=np.float32), mode="valid")  # (L - width + 1,)
    picks = []
    for _ in range(count):
        start = int(np.argmax(sums))
        if not np.isfinite(sums[start]):
            break
        picks.append((start, float(sums[start])))
        sums[max(0, start - width + 1) : start + width] = -np.inf
    return picks


def null_threshold(
    scores: np.ndarray, offsets: np.ndarray, indices: np.ndarray, width: int, quantile: float
) -> float:
    """The `quantile` of the best window score of each background sequence ``indices``."""
    best = [
        w[0][1]
        for i in indices
        if (w := best_windows(scores[offsets[i] : offsets[i + 1]], width, 1))
    ]
    return float(np.quantile(best, quantile)) if best else 0.0


def find_seqlets(
    scores: np.ndarray,
    offsets: np.ndarray,
    indices: np.ndarray,
    width: int,
    per_sequence: int,
    threshold: float,
) -> Seqlets:
    """Windows of sequences ``indices`` scoring above `threshold` (and above 0), at most
    `per_sequence` each."""
    found = [
        (i, start, score)
        for i in indices
        for start, score in best_windows(scores[offsets[i] : offsets[i + 1]], width, per_sequence)
        if score > max(threshold, 0.0)
    ]
    sequence, start, score = (np.array(column) for column in zip(*found)) if found else ([], [], [])
    return Seqlets(
        np.asarray(sequence, dtype=np.int64),
        np.asarray(start, dtype=np.int64),
        np.asarray(score, dtype=np.float32),
        width,
    )


def cut_regions(
    flat: np.ndarray, offsets: np.ndarray, sequence: np.ndarray, start: np.ndarray, width: int
) -> np.ndarray:
    """Codes uint8 ``(S, width)`` of windows that may run past either end (filled with PAD)."""
    regions = np.full((len(sequence), width), PAD, dtype=np.uint8)
    lengths = offsets[sequence + 1] - offsets[sequence]
    for row, (i, s, n) in enumerate(zip(sequence, start, lengths)):
        lo, hi = max(0, s), min(n, s + width)
        if hi > lo:
            regions[row, lo - s : hi - s] = flat[offsets[i] + lo : offsets[i] + hi]
    return regions
