"""Exact duplicate sequences: counted within a class, across classes and across the split's parts.

A record that is also in training tells nothing about generalisation when it is scored: with
dnanet's own split, 3 of 12 test records of a small real set had an identical sequence in the
training part, some with the opposite label. Every run therefore counts duplicates (`leakage`)
and, unless ``data.keep_duplicates``, leaves out of the held-out parts each validation record
whose sequence is in the training part and each test record whose sequence is in the training or
validation part (validation picks the kept epoch, so it is not unseen either).

Two records are duplicates when their codes are identical (`dnanet.inputs.encode`: case, U/T and the
ambiguity codes are folded as the model sees them) or, when the run averages both strands, when
one is the other's reverse complement. Each record gets a 128-bit BLAKE2b digest of its codes
(for both strands, the smaller of the forward and reverse-complement digests): measured 0.6 s
per 10^6 records of 200 bp on one strand, 1.3 s on both.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dnanet.data.sets import SequenceSet
from dnanet.data.splits import Split, check_parts
from dnanet.inputs.encode import COMPLEMENT_CODES

DIGEST = np.dtype("V16")
_COMPLEMENT = bytes(COMPLEMENT_CODES.tolist()) + bytes(
    range(len(COMPLEMENT_CODES), 256)
)  # codes -> complement codes


def sequence_digests(
    sequences: SequenceSet, both_strands: bool, chunk_bases: int = 1 << 24
) -> np.ndarray:
    """A 16-byte digest per record, ``(N,)`` of dtype V16: equal digests, equal sequences (on
    either strand when `both_strands`). Codes are read `chunk_bases` at a time (whole records)."""
    offsets, count = sequences.offsets, len(sequences)
    digests = bytearray(16 * count)
    blake2b, first = hashlib.blake2b, 0
    while first < count:
        last = int(np.searchsorted(offsets, offsets[first] + chunk_bases, side="right")) - 1
        last = min(max(last, first + 1), count)
        base = int(offsets[first])
        data = np.asarray(sequences.flat[base : int(offsets[last])]).tobytes()
        bounds = (np.asarray(offsets[first : last + 1]) - base).tolist()
        flipped, total = (
            (data.translate(_COMPLEMENT)[::-1], len(data)) if both_strands else (b"", 0)
        )
        at = 16 * first
        for start, end in zip(bounds[:-1], bounds[1:]):
            digest = blake2b(data[start:end], digest_size=16).digest()
            if both_strands:
                other = blake2b(flipped[total - end : total - start], digest_size=16).digest()
                digest = min(digest, other)
            digests[at : at + 16] = digest
            at += 16
        first = last
    return np.frombuffer(bytes(digests), dtype=DIGEST)


def label_keys(targets: np.ndarray) -> np.ndarray:
    """int64 ``(N,)``: equal keys, equal labels (a class index, or a row of multilabel flags or
    regression values). Coverage targets (`dnanet.data.signal.SignalTargets`) are not labels:
    one key for all, so duplicates count as within one class."""
    if not isinstance(targets, np.ndarray):
        return np.zeros(len(targets), dtype=np.int64)
    if targets.ndim == 1:
        return np.asarray(targets, dtype=np.int64)
    return np.unique(targets, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def leakage(
    sequences: SequenceSet, split: Split, both_strands: bool, keep: bool
) -> tuple[Split, dict]:
    """Count duplicates and (unless `keep`) drop the held-out records seen in an earlier part.

    Returns the split with those records left out (or unchanged) and the counts, for model.json:
    ``records``, ``distinct`` sequences, ``within_class`` (records repeating a sequence with the
    same label), ``across_classes`` (distinct sequences found with two or more labels) and
    ``across_classes_records``, ``validation_in_train``, ``test_in_train``,
    ``test_in_validation`` (test records in validation but not in train), ``removed`` per part,
    and ``both_strands``.
    """
    digests = sequence_digests(sequences, both_strands)
    group = np.unique(digests, return_inverse=True)[1].reshape(-1)
    groups = int(group.max(initial=-1)) + 1
    labels = label_keys(sequences.targets)
    pairs = np.unique(
        group * (int(labels.max(initial=0)) + 1) + labels
    )  # distinct (sequence, label)
    labels_per_group = np.bincount(pairs // (int(labels.max(initial=0)) + 1), minlength=groups)
    in_train = np.zeros(groups, dtype=bool)
    in_train[group[split.train]] = True
    in_validation = np.zeros(groups, dtype=bool)
    in_validation[group[split.validation]] = True
    validation_seen = in_train[group[split.validation]]
    test_in_train = in_train[group[split.test]]
    test_in_validation = in_validation[group[split.test]] & ~test_in_train
    counts = {
        "both_strands": bool(both_strands),
        "records": len(group),
        "distinct": groups,
        "within_class": len(group) - len(pairs),
        "across_classes": int((labels_per_group > 1).sum()),
        "across_classes_records": int((labels_per_group[group] > 1).sum()),
        "validation_in_train": int(validation_seen.sum()),
        "test_in_train": int(test_in_train.sum()),
        "test_in_validation": int(test_in_validation.sum()),
        "removed": {"validation": 0, "test": 0},
    }
    if keep:
        return split, counts
    test_seen = test_in_train | test_in_validation
    counts["removed"] = {"validation": int(validation_seen.sum()), "test": int(test_seen.sum())}
    kept = Split(
        split.train,
        split.validation[~validation_seen],
        split.test[~test_seen],
        split.kind,
        split.fixed,
        split.chromosomes,
    )
    check_parts(
        kept,
        after=" left once the records whose sequence is also in an earlier part are removed "
        "(--keep-duplicates keeps them)",
    )
    return kept, counts


def overlap(train: SequenceSet, test: SequenceSet, both_strands: bool) -> int:
    """How many records of `test` have a sequence (on either strand when `both_strands`) that is
    also in `train`: for fixed test files scored outside `leakage`, e.g. by scripts/benchmark.py."""
    return int(
        np.isin(sequence_digests(test, both_strands), sequence_digests(train, both_strands)).sum()
    )
