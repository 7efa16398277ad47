"""Labelled sequence sets, the seeded split, and batches for training and streaming.

A `SequenceSet` keeps every sequence as uint8 codes back to back in one flat buffer (no padding
in memory, so lengths may differ widely); a batch is cut out and padded to its own longest
sequence (codes layout in dnanet.encode). Streaming batches (`iter_batches`) read FASTA files
record by record, so prediction memory does not grow with file size; a `Shard` of them (one
contiguous block of the records) is what one job of an array, or one torchrun process, predicts.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from dnanet.encode import pad_flat_codes, sequences_to_codes
from dnanet.errors import DnanetError
from dnanet.read import FastaRecord, check_input_file, open_binary
from dnanet.sources import check_input, input_count, input_name, input_records


@dataclass
class SequenceSet:
    """Sequences as flat uint8 codes with offsets, plus ids and targets.

    ``flat``: uint8 ``(total bases,)``; ``offsets``: int64 ``(N + 1,)``, sequence i is
    ``flat[offsets[i]:offsets[i+1]]``; ``targets``: int64 ``(N,)`` class indices or float32
    ``(N, T)`` (multilabel, regression; see dnanet.tasks).
    """

    ids: Sequence[
        str
    ]  # a list, or `dnanet.records.RecordIds` (UTF-8 bytes, memory-mapped from a store)
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

    def subset(self, indices: np.ndarray) -> "SequenceSet":
        """A new set holding the given sequences, in the given order."""
        codes, lengths = self.codes(indices)
        valid = np.arange(codes.shape[1]) < lengths[:, None]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return SequenceSet(
            [self.ids[i] for i in indices], codes[valid], offsets, self.targets[indices]
        )


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


class _Indices(torch.utils.data.Dataset):
    """A dataset of indices: the collate function gathers a whole batch at once (vectorised)."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index


class TrainingSampler(Sampler[int]):
    """Training order: `count` positions of ``range(size)`` per pass (default `size`), drawn
    without replacement (fresh random permutations joined when `count` > `size`: epochs of a
    fixed number of steps, ``train.steps_per_epoch``), from `generator`.

    With `lengths` (int64 ``(size,)``) that differ enough that random batches would spend 10% or
    more of their work on padding, the order is length-bucketed (`bucket_by_length`): each batch
    holds sequences of similar lengths, and batches come in random order.
    """

    def __init__(
        self,
        size: int,
        count: int,
        generator: torch.Generator,
        batch_size: int = 1,
        lengths: np.ndarray | None = None,
    ):
        self.size, self.count, self.generator, self.batch_size = size, count, generator, batch_size
        self.lengths = (
            lengths
            if lengths is not None and padding_overhead(lengths, batch_size) >= 0.10
            else None
        )

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[int]:
        parts, drawn = [], 0
        while drawn < self.count:
            parts.append(torch.randperm(self.size, generator=self.generator)[: self.count - drawn])
            drawn += len(parts[-1])
        if (
            self.count == self.size
        ):  # torch's RandomSampler, used before, drew one more: keep runs' order
            torch.randperm(self.size, generator=self.generator)
        order = torch.cat(parts).numpy()
        if self.lengths is not None:
            order = bucket_by_length(order, self.lengths, self.batch_size, self.generator)
        return iter(order.tolist())


def bucket_by_length(
    order: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    generator: torch.Generator,
    pool_batches: int = 50,
) -> np.ndarray:
    """Reorder positions `order` ``(n,)`` so that each run of `batch_size` holds similar lengths:
    pools of `pool_batches` batches (in `order`'s random order) are sorted by length and cut into
    batches; the full batches are shuffled, a short last batch stays last. Sorting within pools
    rather than globally keeps every batch a random draw from its length range."""
    pool = pool_batches * batch_size
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    last = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return np.concatenate(shuffled + last) if batches or last else order


def padding_overhead(lengths: np.ndarray, batch_size: int, sample: int = 100) -> float:
    """The share of a randomly batched epoch's padded positions that are padding (0 for equal
    lengths), estimated from `sample` random batches of `lengths`."""
    if len(lengths) < 2 or lengths.min() == lengths.max():
        return 0.0
    rows = np.random.default_rng(0).choice(len(lengths), (sample, min(batch_size, len(lengths))))
    batches = lengths[rows]
    return float(1 - batches.sum() / (batches.max(1) * batches.shape[1]).sum())


def inference_batch_size(batch_size: int, longest: int) -> int:
    """`batch_size` cut so that a batch holds at most `BATCH_BASES` padded bases."""
    return max(1, min(batch_size, BATCH_BASES // max(longest, 1)))


def make_loader(
    sequences: SequenceSet,
    batch_size: int,
    indices: np.ndarray | None = None,
    shuffle: bool = False,
    seed: int = 0,
    sampler: Sampler | None = None,
    steps: int = 0,
    pin_memory: bool = False,
    workers: int = 0,
) -> DataLoader:
    """Batches ``{"codes": uint8 (B, L_max), "lengths": int64 (B,), "targets": (B,) or (B, T)}`` of
    the sequences at `indices` (default: all), which the data set's positions 0, 1, ... stand for.

    Training (`shuffle`): a `TrainingSampler` (each pass `steps` batches drawn afresh when `steps`
    > 0; length-bucketed when lengths differ). Pass a `torch.utils.data.DistributedSampler` as
    `sampler` to shard across processes. Otherwise batches come in order, cut to at most
    `BATCH_BASES` padded bases (`inference_batch_size`).
    For a GPU: `pin_memory` puts batches in page-locked memory (asynchronous copies), `workers` > 0
    cuts and pads them in that many forked processes (the order, drawn in this process, is the
    same). Workers are started afresh each pass: persistent ones would draw one seed fewer per pass
    from the order generator, so a resumed run would see other batches than an uninterrupted one.
    """
    rows = np.arange(len(sequences)) if indices is None else np.asarray(indices, dtype=np.int64)

    def collate(positions: list[int]) -> dict[str, torch.Tensor]:
        chosen = rows[positions]
        codes, lengths = sequences.codes(chosen)
        return {
            "codes": torch.from_numpy(codes),
            "lengths": torch.from_numpy(lengths),
            "targets": torch.from_numpy(np.ascontiguousarray(sequences.targets[chosen])),
        }

    generator = torch.Generator().manual_seed(seed)
    if shuffle and sampler is None:
        sampler = TrainingSampler(
            len(rows),
            steps * batch_size if steps > 0 else len(rows),
            generator,
            batch_size,
            sequences.lengths[rows],
        )
    training = sampler is not None
    if not training and len(rows):
        batch_size = inference_batch_size(batch_size, int(sequences.lengths[rows].max()))
    size = len(sampler) if training else len(rows)
    # A last training batch of one record would be a full optimiser step (and batch-norm statistics)
    # from a single sequence: drop it; a different record is left out each epoch (shuffled order).
    drop_last = training and size > batch_size and size % batch_size == 1
    return DataLoader(
        _Indices(len(rows)),
        batch_size=batch_size,
        collate_fn=collate,
        drop_last=drop_last,
        sampler=sampler,
        generator=generator,
        pin_memory=pin_memory,
        num_workers=workers,
        multiprocessing_context="fork" if workers else None,
    )  # fork: workers share the set, no pickling


def code_batches(
    sequences: SequenceSet, batch_size: int, indices: np.ndarray | None = None, **loading
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(codes uint8 ``(B, L_max)``, lengths int64 ``(B,)``) of each in-order `make_loader` batch
    of the sequences at `indices` (default: all): what `dnanet.infer.predict` reads. `loading`:
    `make_loader`'s ``pin_memory`` and ``workers``."""
    return (
        (batch["codes"], batch["lengths"])
        for batch in make_loader(sequences, batch_size, indices, **loading)
    )


class Batch(NamedTuple):
    """A streamed batch: record ids, padded codes uint8 ``(B, L_max)``, lengths int64 ``(B,)``,
    and the index of the input file each record came from."""

    ids: list[str]
    codes: np.ndarray
    lengths: np.ndarray
    sources: list[int]


MAX_RECORD_BASES = (
    1_000_000  # longest record streamed inference takes (the CNN needed ~1.3 GB per Mbp)
)
# Most padded bases (records x longest record) in one inference batch: a CNN layer's activations
# (128 channels, float32) then stay under 32 MiB, the largest block glibc's malloc keeps for reuse
# (`dnanet.cli.common.keep_freed_memory`); bigger blocks are mapped fresh from the kernel each
# batch. Measured: predicting 4,000 x 1 kbp, batch 256 took 18.4 s (9.2 s in the kernel), batch 64
# 8.8 s (0.2 s). Results do not depend on the batch size.
BATCH_BASES = 65_536


def iter_batches(
    paths: Sequence,
    batch_size: int,
    max_record: int = MAX_RECORD_BASES,
    max_bases: int = BATCH_BASES,
    records: range | None = None,
) -> Iterator[Batch]:
    """Stream batches of encoded records from FASTA files, in input order (constant memory).
    `paths`: FASTA paths, or `dnanet.records.LabelledInput`s of any kind (`dnanet.sources`: BED
    intervals read from a genome, generated backgrounds).

    A batch ends at `batch_size` records or before its padded size (records x longest record)
    would pass `max_bases`, so long records come in smaller batches; a record longer than
    `max_record` is refused with a message naming it (a whole chromosome given by mistake would
    need many gigabytes): cut such sequences into windows first. With `records` (a range of
    0-based record numbers counted across all files in order, e.g. `Shard.records`), only those
    records are batched; reading stops after the last of them.
    """
    for path in paths:
        check_input(path)
    ids: list[str] = []
    sequences: list[bytes] = []
    sources: list[int] = []
    longest = 0
    for source, record in _records_in(paths, records):
        path = input_name(paths[source])
        if len(record.sequence) > max_record:
            raise DnanetError(
                f"{path} line {record.line}: record {record.id} has "
                f"{len(record.sequence):,} bases, more than "
                f"the {max_record:,} a model reads at once; cut it into windows first "
                "(e.g. bedtools "
                "makewindows + getfasta, or seqkit sliding)"
            )
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


def _records_in(paths: Sequence, records: range | None) -> Iterator[tuple[int, FastaRecord]]:
    """(input index, record) for every record of `paths`, in order, whose 0-based number across
    all files is in `records` (all when None); stops reading after the last of them."""
    if records is not None and not records:
        return
    number = 0
    for source, path in enumerate(paths):
        for record in input_records(path):
            if records is None or number >= records.start:
                yield source, record
            number += 1
            if records is not None and number == records.stop:
                return  # the next record (perhaps another shard's bad one) is never parsed


def count_records(paths: Sequence, block: int = 1 << 20) -> list[int]:
    """Records per FASTA file (lines starting with '>', as `dnanet.read.read_fasta` counts them),
    read in blocks of `block` bytes without parsing: the pass that lets every shard know the
    total before predicting. Plain or gzip files; the records themselves are validated when read.
    BED inputs and generated backgrounds (`dnanet.sources`) count the records they yield."""
    counts = []
    for path in paths:
        known = input_count(path)
        if known is not None:
            counts.append(known)
            continue
        path = check_input_file(getattr(path, "path", path))
        count, previous = 0, b"\n"
        with open_binary(path) as handle:
            try:
                for chunk in iter(lambda: handle.read(block), b""):
                    count += chunk.count(b"\n>") + (previous == b"\n" and chunk[:1] == b">")
                    previous = chunk[-1:]
            except (EOFError, zlib.error, gzip.BadGzipFile) as error:
                raise DnanetError(f"{path}: truncated or corrupt gzip file ({error})") from None
        if not count:
            raise DnanetError(f"{path}: no FASTA records (no line starts with '>')")
        counts.append(count)
    return counts


class Shard(NamedTuple):
    """Shard `index` (0-based) of `count`: one contiguous block of the input records, numbered
    0.. across all input files in order. Of T records, shard k holds numbers
    ``k * T // count`` up to (not including) ``(k + 1) * T // count``: blocks differ by at most
    one record, and the shards' outputs laid end to end in shard order are the records in input
    order (so a job array's outputs concatenate with `cat`). Written ``K/N`` with K from 1."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"K/N"`` (1 <= K <= N, e.g. ``"3/10"``, or ``$SLURM_ARRAY_TASK_ID/10`` with an array
        1-10)."""
        match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise DnanetError(
                f"--shard '{text}': expected K/N with 1 <= K <= N, e.g. 3/10 for the third of "
                "ten shards"
            )
        return cls(int(match[1]) - 1, int(match[2]))

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    @property
    def first(self) -> bool:
        return self.index == 0

    def records(self, total: int) -> range:
        """The record numbers of this shard among `total` records."""
        return range(self.index * total // self.count, (self.index + 1) * total // self.count)
