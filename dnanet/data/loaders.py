"""Batches of an in-memory `SequenceSet` for training and prediction (`make_loader`).

Training draws a seeded order (`TrainingSampler`), length-bucketed when lengths differ enough that
random batches would waste work on padding; prediction batches come in order, cut to at most
`BATCH_BASES` padded bases. Each batch is cut out of the set's flat codes and padded to its own
longest sequence by the collate function, vectorised over the whole batch.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from dnanet.data.sets import SequenceSet

# Most padded bases (records x longest record) in one inference batch: a CNN layer's activations
# (128 channels, float32) then stay under 32 MiB, the largest block glibc's malloc keeps for reuse
# (`dnanet.runtime.device.keep_freed_memory`); bigger blocks are mapped fresh from the kernel each
# batch. Measured: predicting 4,000 x 1 kbp, batch 256 took 18.4 s (9.2 s in the kernel), batch 64
# 8.8 s (0.2 s). Results do not depend on the batch size.
BATCH_BASES = 65_536


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
        return _positions(order)


def _positions(order: np.ndarray, chunk: int = 1 << 16) -> Iterator[int]:
    """The ints of `order` one by one, made `chunk` at a time: a pass over 10^6 records as one
    list of Python ints would hold ~36 MB for the whole epoch."""
    for start in range(0, len(order), chunk):
        yield from order[start : start + chunk].tolist()


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
    """Batches ``{"codes": uint8 (B, L_max), "lengths": int64 (B,), "targets": (B,) or (B, T)}``
    (and ``control`` for a `dnanet.data.signal.SignalSet` with control tracks) of
    the sequences at `indices` (default: all), which the data set's positions 0, 1, ... stand for.

    Training (`shuffle`, or a `sampler`): a `TrainingSampler` (each pass `steps` batches drawn
    afresh when `steps` > 0; length-bucketed when lengths differ). Pass a
    `torch.utils.data.DistributedSampler` as `sampler` to shard across processes. Otherwise batches
    come in order, cut to at most `BATCH_BASES` padded bases (`inference_batch_size`).
    For a GPU: `pin_memory` puts batches in page-locked memory (asynchronous copies), `workers` > 0
    cuts and pads them in that many forked processes (the order, drawn in this process, is the
    same). A training batch of a `dnanet.data.signal.SignalSet` is cut at random shifts (jitter).
    Workers are started afresh each pass: persistent ones would draw one seed fewer per pass
    from the order generator, so a resumed run would see other batches than an uninterrupted one.
    """
    rows = np.arange(len(sequences)) if indices is None else np.asarray(indices, dtype=np.int64)

    training = shuffle or sampler is not None

    def collate(positions: list[int]) -> dict[str, torch.Tensor]:
        batch = sequences.batch(rows[positions], jitter=training)
        return {name: torch.from_numpy(values) for name, values in batch.items()}

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
    """(codes uint8 ``(B, L_max)``, lengths int64 ``(B,)``, and a signal set's control input when
    it has control tracks) of each in-order `make_loader` batch of the sequences at `indices`
    (default: all): what `dnanet.inference.predict.predict` reads. `loading`: `make_loader`'s
    ``pin_memory`` and ``workers``."""
    return (
        (batch["codes"], batch["lengths"], *([batch["control"]] if "control" in batch else []))
        for batch in make_loader(sequences, batch_size, indices, **loading)
    )
