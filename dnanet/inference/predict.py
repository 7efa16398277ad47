"""Inference: the one batched prediction path that evaluate, predict, embed and motifs share.

`predict_batch` runs a model on a batch of codes in eval mode, under no_grad, optionally
averaging with the reverse-complement strand; the model's train/eval state is restored after.
Results do not depend on batch size (models mask padding; see dnanet.models.layers). On CUDA the
model runs under mixed precision (`dnanet.runtime.precision`: bf16 or fp16 autocast), outputs are
activated in float32; on the CPU it runs in float32.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

import numpy as np
import torch
from torch import nn

from dnanet.data.streaming import Batch, iter_batches
from dnanet.data.tasks import SIGNAL, Task
from dnanet.inputs.encode import reverse_complement
from dnanet.models.ensemble import Ensemble
from dnanet.runtime.precision import Precision, precision_for


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode with gradients off, restoring its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


Activation = Callable[[torch.Tensor], torch.Tensor]


class Rows:
    """Per-batch arrays ``(B, ...)`` copied into one array as they come, grown by doubling (or
    sized once: `capacity`, the number of rows when known).

    Why not a list and one concatenate at the end: each batch's small result, kept alive, sits in
    glibc's heap between the model's large activations, which then cannot reuse the space they
    freed; measured in `dnanet train` on 10^6 records (20,000 validation records, 79 batches of
    256), anonymous memory grew by 200 MB within one validation pass, all of it freed-but-kept
    heap. Copied here, each batch's tensors are freed with the batch."""

    def __init__(self, capacity: int = 0):
        self.capacity, self.array, self.count = capacity, None, 0

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        end = self.count + len(rows)
        if self.array is None or end > len(self.array):
            size = max(end, self.capacity, 2 * (0 if self.array is None else len(self.array)))
            grown = np.empty((size, *rows.shape[1:]), dtype=rows.dtype)
            if self.array is not None:
                grown[: self.count] = self.array[: self.count]
            self.array = grown
        self.array[self.count : end] = rows
        self.count = end

    def result(self) -> np.ndarray | None:
        """The rows so far ``(N, ...)`` (None before the first batch)."""
        return None if self.array is None else self.array[: self.count]


def predict_batch(model: nn.Module, codes, lengths, *args, **options) -> torch.Tensor:
    """Outputs float32 ``(B, C)`` on the CPU for codes ``(B, L)``, lengths ``(B,)``: the mean of
    `predict_members`' members (one for a single model), with its arguments."""
    return predict_members(model, codes, lengths, *args, **options).mean(0)


def predict_members(
    model: nn.Module,
    codes: torch.Tensor | np.ndarray,
    lengths: torch.Tensor | np.ndarray,
    reverse_complement_average: bool = False,
    *,
    activate: Activation,
    precision: Precision | None = None,
    control: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Each member's outputs float32 ``(K, B, C)`` on the CPU for codes ``(B, L)``, lengths
    ``(B,)`` (K = 1 for a single model; an ensemble's members, `dnanet.models.ensemble`, are
    activated one by one, in the first member's units).

    `activate` turns logits into outputs (`dnanet.data.tasks.Task.activate`: probabilities or
    values; it works in float32 whatever the logits' dtype). With `reverse_complement_average`,
    the mean of the forward and reverse-complement strands' outputs. `precision`: the arithmetic
    of the forward pass (default: the ``auto`` choice for the model's device,
    `dnanet.runtime.precision`). `control`: a signal model's control input
    (`dnanet.models.profile`; None: the control's contribution removed), reversed along the bases
    for the reverse strand.
    """
    device = next(model.parameters()).device
    precision = precision or precision_for(device)
    codes = torch.as_tensor(codes).to(device, non_blocking=True)
    lengths = torch.as_tensor(lengths).to(device, non_blocking=True)
    extra, flipped = [], []
    if control is not None:
        control = torch.as_tensor(control).to(device, non_blocking=True)
        extra, flipped = [control], [control.flip(-1) if control.dim() == 3 else control]
    logits_of = model.member_logits if isinstance(model, Ensemble) else _one_member(model)
    with evaluation_mode(model):
        with precision.autocast():
            logits = logits_of(codes, *extra)  # (K, B, C), 16-bit under autocast
            reverse = (
                logits_of(reverse_complement(codes, lengths), *flipped)
                if reverse_complement_average
                else None
            )
        members, batch = logits.shape[:2]
        outputs = activate(logits.cpu().flatten(0, 1))
        if reverse is not None:
            outputs = (outputs + activate_reverse(activate, reverse.cpu().flatten(0, 1))) / 2
    return outputs.reshape(members, batch, *outputs.shape[1:])


def _one_member(model: nn.Module):
    """A single model as an ensemble of one: logits ``(1, B, C)``."""
    return lambda codes, *extra: model(codes, *extra).unsqueeze(0)


def activate_reverse(activate: Activation, logits: torch.Tensor) -> torch.Tensor:
    """The reverse strand's outputs in the forward strand's orientation: `Task.activate` flips a
    profile (``reverse_strand``); any other activation is strand-free."""
    task = getattr(activate, "__self__", None)
    if isinstance(task, Task):
        return activate(logits, reverse_strand=True)
    return activate(logits)


def predict(
    model: nn.Module,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    reverse_complement_average: bool = False,
    *,
    activate: Activation,
    precision: Precision | None = None,
    capacity: int = 0,
) -> np.ndarray:
    """Outputs float32 ``(N, C)`` for all (codes, lengths) batches, or (codes, lengths, control)
    for a signal model with controls, in order (`precision`: see `predict_members`; an ensemble:
    its members' mean; `capacity`: N when known, see `Rows`)."""
    return predict_each(
        model,
        batches,
        reverse_complement_average,
        activate=activate,
        precision=precision,
        capacity=capacity,
    ).mean(0)


def predict_each(
    model: nn.Module,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    reverse_complement_average: bool = False,
    *,
    activate: Activation,
    precision: Precision | None = None,
    capacity: int = 0,
) -> np.ndarray:
    """Each member's outputs float32 ``(K, N, C)`` (K = 1 for a single model) for all batches;
    the arguments are `predict`'s."""
    rows = Rows(capacity)
    for batch in batches:
        members = predict_members(
            model,
            batch[0],
            batch[1],
            reverse_complement_average,
            activate=activate,
            precision=precision,
            control=batch[2] if len(batch) > 2 else None,
        )
        rows.add(members.numpy().transpose(1, 0, 2))  # (B, K, C)
    if rows.result() is None:
        return np.zeros((1, 0, 0), dtype=np.float32)
    return np.ascontiguousarray(rows.result().transpose(1, 0, 2))


def write_predictions(
    handle: TextIO,
    model: nn.Module,
    task: Task,
    paths: list[Path],
    batch_size: int,
    reverse_complement_average: bool,
    progress: Callable[[int], None] | None = None,
    *,
    records: range | None = None,
    header: bool = True,
    observe: Callable[[Batch, np.ndarray], None] | None = None,
    names: bool = False,
) -> int:
    """Stream FASTA records through `model` and write one TSV row per record, in input order
    (columns: id, then `task.prediction_header()`; the header row only with `header`); return the
    number of records. `records`: only these record numbers (a `dnanet.data.streaming.Shard`'s
    block).
    `progress` is called with the number of records written so far after each batch; `observe`
    with each batch (`dnanet.data.streaming.Batch`) and its outputs float32 ``(B, C)`` before its
    rows are written (what else is made of the outputs: a profile run's per-base reads). `names`:
    a ``name`` column after ``id``, each record's BED name (a narrowPeak's peak name; the id
    holds the window's coordinates)."""
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    spread = isinstance(model, Ensemble)
    if header:
        writer.writerow(
            [
                "id",
                *(["name"] if names else []),
                *task.prediction_header(),
                *(spread_header(task) if spread else []),
            ]
        )
    count = 0
    for batch in iter_batches(paths, batch_size, records=records):
        members = predict_members(
            model, batch.codes, batch.lengths, reverse_complement_average, activate=task.activate
        )
        outputs = members.mean(0).numpy()
        if observe is not None:
            observe(batch, outputs)
        spreads = spread_cells(task, members.numpy()) if spread else [[]] * len(batch.ids)
        named = [[name] for name in batch.names] if names else [[]] * len(batch.ids)
        writer.writerows(
            [record_id, *name, *task.prediction_cells(row), *extra]
            for record_id, name, row, extra in zip(batch.ids, named, outputs, spreads)
        )
        count += len(batch.ids)
        if progress is not None:
            progress(count)
    return count


def spread_header(task: Task) -> list[str]:
    """An ensemble's extra prediction columns: ``sd_NAME``, the members' standard deviation of
    each output (a probability, a value, or a signal run's predicted total reads)."""
    return [f"sd_{name}" for name in task.names]


def spread_cells(task: Task, members: np.ndarray) -> list[list[str]]:
    """Members' outputs ``(K, B, C)`` -> per record the cells under `spread_header`."""
    values = members[:, :, : len(task.names)]
    if task.kind in SIGNAL:
        values = np.expm1(values)  # predicted reads, as the prediction columns
    return [[f"{value:.6g}" for value in row] for row in values.std(0)]
