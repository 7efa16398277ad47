"""Labelled sequence sets and the seeded train/validation/test split.

A `SequenceSet` keeps every sequence as uint8 codes back to back in one flat buffer (no padding
in memory, so lengths may differ widely); a batch is cut out and padded to its own longest
sequence (codes layout in dnanet.inputs.encode). Batches of a set for training and prediction come
from `dnanet.data.loaders`; batches streamed from FASTA files record by record from
`dnanet.data.streaming`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.encode import pad_flat_codes

GATHER_BASES = 1 << 20  # bases `SequenceSet.subset` copies at once (int64 positions: 8 MB)


@dataclass
class SequenceSet:
    """Sequences as flat uint8 codes with offsets, plus ids and targets.

    ``flat``: uint8 ``(total bases,)``; ``offsets``: int64 ``(N + 1,)``, sequence i is
    ``flat[offsets[i]:offsets[i+1]]``; ``targets``: int64 ``(N,)`` class indices or float32
    ``(N, T)`` (multilabel, regression; see dnanet.data.tasks).
    """

    ids: Sequence[
        str
    ]  # a list, or `dnanet.data.store.RecordIds` (UTF-8 bytes, memory-mapped from a store)
    flat: np.ndarray
    offsets: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def codes(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Padded codes uint8 ``(B, L_max)`` and lengths int64 ``(B,)`` of the given sequences."""
        indices = np.asarray(indices, dtype=np.int64)
        starts = self.offsets[indices]
        lengths = self.offsets[indices + 1] - starts
        return pad_flat_codes(self.flat, lengths, starts), lengths

    def batch(self, indices: np.ndarray, jitter: bool = False) -> dict[str, np.ndarray]:
        """A loader's batch of the given sequences: ``codes`` (padded, ``(B, L_max)``),
        ``lengths`` ``(B,)`` and ``targets``. `jitter`: a training batch
        (`dnanet.data.signal.SignalSet` cuts its windows at random shifts; here it changes
        nothing)."""
        codes, lengths = self.codes(indices)
        return {
            "codes": codes,
            "lengths": lengths,
            "targets": np.ascontiguousarray(self.targets[indices]),
        }

    def subset(self, indices: np.ndarray) -> "SequenceSet":
        """A new set holding the given sequences, in the given order: their codes are copied
        back to back (no padding), `GATHER_BASES` bases at a time."""
        indices = np.asarray(indices, dtype=np.int64)
        starts = self.offsets[indices]
        lengths = self.offsets[indices + 1] - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.empty(int(offsets[-1]), dtype=np.uint8)
        first = 0
        while first < len(indices):  # whole records, about GATHER_BASES bases at a time
            last = int(np.searchsorted(offsets, offsets[first] + GATHER_BASES, side="right")) - 1
            last = min(max(last, first + 1), len(indices))
            shift = np.repeat(starts[first:last] - offsets[first:last], lengths[first:last])
            flat[offsets[first] : offsets[last]] = self.flat[
                np.arange(offsets[first], offsets[last]) + shift
            ]
            first = last
        return SequenceSet([self.ids[i] for i in indices], flat, offsets, self.targets[indices])


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/validation/test index arrays; with `strata` (class labels ``(N,)``) each
    class keeps its share in every part."""
    from sklearn.model_selection import train_test_split

    minimum = (
        3 if strata is None else max(int(np.ceil(3 / min(val_fraction, test_fraction))) // 2, 3)
    )
    smallest = n if strata is None else int(np.bincount(strata).min())
    if smallest < minimum:
        what = "there are only" if strata is None else "a class has only"
        raise DnanetError(
            f"{what} {smallest} sequences; a train/validation/test split with these "
            f"fractions needs at least {minimum}{'' if strata is None else ' per class'}"
        )
    indices = np.arange(n)
    train_val, test = train_test_split(
        indices, test_size=test_fraction, stratify=strata, random_state=seed
    )
    relative_val = val_fraction / (1 - test_fraction)
    train, val = train_test_split(
        train_val,
        test_size=relative_val,
        random_state=seed,
        stratify=None if strata is None else strata[train_val],
    )
    return np.sort(train), np.sort(val), np.sort(test)
