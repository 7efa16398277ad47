"""Labelled sequence sets, the seeded split, and batches for training and streaming.

A `SequenceSet` keeps every sequence as uint8 codes back to back in one flat buffer (no padding
in memory, so lengths may differ widely); a batch is cut out and padded to its own longest
sequence (codes layout in dnanet.encode). Streaming batches (`iter_batches`) read FASTA files
record by record, so prediction memory does not grow with file size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from dnanet.encode import BYTE_TO_CODE, pad_flat_codes, sequences_to_codes
from dnanet.errors import DnanetError
from dnanet.read import check_input_file, read_fasta


class LabelledInput(NamedTuple):
    """A FASTA file and the class its records belong to (None: labels come from a table)."""

    label: str | None
    path: Path


@dataclass
class SequenceSet:
    """Sequences as flat uint8 codes with offsets, plus ids and targets.

    ``flat``: uint8 ``(total bases,)``; ``offsets``: int64 ``(N + 1,)``, sequence i is
    ``flat[offsets[i]:offsets[i+1]]``; ``targets``: int64 ``(N,)`` class indices or float32
    ``(N, T)`` (multilabel, regression; see dnanet.tasks).
    """

    ids: list[str]
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
        lengths = self.lengths[indices]
        return pad_flat_codes(self.flat, lengths, self.offsets[indices]), lengths

    def subset(self, indices: np.ndarray) -> "SequenceSet":
        """A new set holding the given sequences, in the given order."""
        codes, lengths = self.codes(indices)
        valid = np.arange(codes.shape[1]) < lengths[:, None]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return SequenceSet([self.ids[i] for i in indices], codes[valid], offsets, self.targets[indices])


@dataclass
class LabelledRecords:
    """Sequences read from labelled files, with their raw labels (one tuple of strings each)."""

    ids: list[str]
    flat: np.ndarray
    offsets: np.ndarray
    labels: list[tuple[str, ...]]
    places: list[tuple[int, int]]  # (input index, header line) of each record, for messages
    inputs: list[LabelledInput]
    provenance: list[dict]

    def where(self, index: int) -> str:
        """'FILE line N' of record `index`."""
        source, line = self.places[index]
        return f"{self.inputs[source].path} line {line}"

    def with_targets(self, targets: np.ndarray) -> SequenceSet:
        return SequenceSet(self.ids, self.flat, self.offsets, targets)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (as stored, compressed or not), for provenance in model.json."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_labelled(inputs: list[LabelledInput], label_table: dict[str, tuple[str, ...]] | None = None) -> LabelledRecords:
    """Read labelled FASTA files (all into memory, as codes).

    A record's label is its input's class (``CLASS=PATH`` or the file name) or, when
    `label_table` is given, its row of that {record id: label values} table
    (`dnanet.read.read_label_table`). The records keep one provenance dict per input file
    (path, class, records, sha256) for model.json.
    """
    for item in inputs:
        check_input_file(item.path)
    ids: list[str] = []
    chunks: list[bytes] = []
    labels: list[tuple[str, ...]] = []
    places: list[tuple[int, int]] = []
    provenance = []
    for source, item in enumerate(inputs):
        count = 0
        for record in read_fasta(item.path):
            labels.append(_label_of(record.id, record.line, item, label_table))
            ids.append(record.id)
            chunks.append(record.sequence)
            places.append((source, record.line))
            count += 1
        provenance.append({"path": str(item.path), "class": item.label, "records": count,
                           "sha256": file_sha256(item.path)})
    flat = np.frombuffer(b"".join(chunks).translate(BYTE_TO_CODE), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)
    return LabelledRecords(ids, flat, offsets, labels, places, list(inputs), provenance)


def _label_of(record_id: str, line: int, item: LabelledInput,
              table: dict[str, tuple[str, ...]] | None) -> tuple[str, ...]:
    if table is None:
        return (item.label if item.label is not None else "",)
    if record_id not in table:
        raise DnanetError(f"{item.path} line {line}: record '{record_id}' has no row in the label table")
    return table[record_id]


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int,
                  strata: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/validation/test index arrays; with `strata` (class labels ``(N,)``) each
    class keeps its share in every part."""
    from sklearn.model_selection import train_test_split

    minimum = 3 if strata is None else max(int(np.ceil(3 / min(val_fraction, test_fraction))) // 2, 3)
    smallest = n if strata is None else int(np.bincount(strata).min())
    if smallest < minimum:
        what = "there are only" if strata is None else "a class has only"
        raise DnanetError(f"{what} {smallest} sequences; a train/validation/test split with these "
                          f"fractions needs at least {minimum}{'' if strata is None else ' per class'}")
    indices = np.arange(n)
    train_val, test = train_test_split(indices, test_size=test_fraction, stratify=strata, random_state=seed)
    relative_val = val_fraction / (1 - test_fraction)
    train, val = train_test_split(train_val, test_size=relative_val, random_state=seed,
                                  stratify=None if strata is None else strata[train_val])
    return np.sort(train), np.sort(val), np.sort(test)


class _Indices(torch.utils.data.Dataset):
    """A dataset of indices: the collate function gathers a whole batch at once (vectorised)."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index


class EpochSampler(Sampler[int]):
    """`count` indices per epoch, drawn without replacement from ``range(size)`` (fresh random
    permutations joined when `count` > `size`), from `generator`: epochs of a fixed number of
    steps (``train.steps_per_epoch``), whatever the size of the data."""

    def __init__(self, size: int, count: int, generator: torch.Generator):
        self.size, self.count, self.generator = size, count, generator

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[int]:
        parts, drawn = [], 0
        while drawn < self.count:
            parts.append(torch.randperm(self.size, generator=self.generator)[: self.count - drawn])
            drawn += len(parts[-1])
        return iter(torch.cat(parts).tolist())


def make_loader(sequences: SequenceSet, batch_size: int, shuffle: bool = False, seed: int = 0,
                sampler: Sampler | None = None, steps: int = 0, pin_memory: bool = False,
                workers: int = 0) -> DataLoader:
    """Batches ``{"codes": uint8 (B, L_max), "lengths": int64 (B,), "targets": (B,) or (B, T)}``.

    Pass a `torch.utils.data.DistributedSampler` as `sampler` to shard across processes. With
    `shuffle` and `steps` > 0, each pass is `steps` batches drawn afresh (`EpochSampler`).
    For a GPU: `pin_memory` puts batches in page-locked memory (asynchronous copies), `workers` > 0
    cuts and pads them in that many forked processes (the order, drawn in this process, is the
    same). Workers are started afresh each pass: persistent ones would draw one seed fewer per pass
    from the order generator, so a resumed run would see other batches than an uninterrupted one.
    """

    def collate(indices: list[int]) -> dict[str, torch.Tensor]:
        codes, lengths = sequences.codes(indices)
        return {"codes": torch.from_numpy(codes), "lengths": torch.from_numpy(lengths),
                "targets": torch.from_numpy(sequences.targets[indices])}

    generator = torch.Generator().manual_seed(seed)
    if shuffle and steps > 0 and sampler is None:
        sampler = EpochSampler(len(sequences), steps * batch_size, generator)
    size = len(sampler) if sampler is not None else len(sequences)
    training = shuffle or sampler is not None
    # A last training batch of one record would be a full optimiser step (and batch-norm statistics)
    # from a single sequence: drop it; a different record is left out each epoch (shuffled order).
    drop_last = training and size > batch_size and size % batch_size == 1
    return DataLoader(_Indices(len(sequences)), batch_size=batch_size, collate_fn=collate, drop_last=drop_last,
                      shuffle=shuffle and sampler is None, sampler=sampler, generator=generator,
                      pin_memory=pin_memory, num_workers=workers,
                      multiprocessing_context="fork" if workers else None)  # fork: workers share the set, no pickling


class Batch(NamedTuple):
    """A streamed batch: record ids, padded codes uint8 ``(B, L_max)``, lengths int64 ``(B,)``,
    and the index of the input file each record came from."""

    ids: list[str]
    codes: np.ndarray
    lengths: np.ndarray
    sources: list[int]


MAX_RECORD_BASES = 1_000_000  # longest record streamed inference takes (the CNN needed ~1.3 GB per Mbp)
BATCH_BASES = 2_000_000  # most padded bases (records x longest record) in one streamed batch


def iter_batches(paths: Sequence[Path], batch_size: int, max_record: int = MAX_RECORD_BASES,
                 max_bases: int = BATCH_BASES) -> Iterator[Batch]:
    """Stream batches of encoded records from FASTA files, in input order (constant memory).

    A batch ends at `batch_size` records or before its padded size (records x longest record)
    would pass `max_bases`, so long records come in smaller batches; a record longer than
    `max_record` is refused with a message naming it (a whole chromosome given by mistake would
    need many gigabytes): cut such sequences into windows first.
    """
    for path in paths:
        check_input_file(path)
    ids: list[str] = []
    sequences: list[bytes] = []
    sources: list[int] = []
    longest = 0
    for source, path in enumerate(paths):
        for record in read_fasta(path):
            if len(record.sequence) > max_record:
                raise DnanetError(
                    f"{path} line {record.line}: record {record.id} has {len(record.sequence):,} bases, more than "
                    f"the {max_record:,} a model reads at once; cut it into windows first (e.g. bedtools "
                    "makewindows + getfasta, or seqkit sliding)")
            if ids and (len(ids) + 1) * max(longest, len(record.sequence)) > max_bases:
                yield Batch(ids, *sequences_to_codes(sequences), sources)
                ids, sequences, sources, longest = [], [], [], 0
            ids.append(record.id)
            sequences.append(record.sequence)
            sources.append(source)
            longest = max(longest, len(record.sequence))
            if len(ids) == batch_size:
                yield Batch(ids, *sequences_to_codes(sequences), sources)
                ids, sequences, sources, longest = [], [], [], 0
    if ids:
        yield Batch(ids, *sequences_to_codes(sequences), sources)
