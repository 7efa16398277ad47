"""Embeddings: one vector per sequence from a trained model, streamed to analysts' formats.

Representations (``layer``):

- ``embedding`` (default): ``model.embed(codes)``, the trunk output that feeds the head. CNN
  and LSTM: the dense layer after masked mean+max pooling (``hidden`` values); transformer: the
  [CLS] output, or the mean of the tokens, as the model was trained (``d_model`` values; long
  sequences: the length-weighted mean over windows).
- ``tokens``: the per-position output of the trunk's last sequence layer (CNN: last conv block;
  LSTM: both directions of the last layer; transformer: the last encoder layer's tokens), pooled
  over each sequence's valid positions by ``pool``: ``mean``, ``max`` or, for a transformer
  trained with ``pooling: cls``, ``cls`` (its [CLS] vector, before the head).

Vectors are computed in batches, in eval mode, forward strand only; they do not depend on the
batch size (models mask padding). On CUDA under mixed precision (`dnanet.runtime.precision`),
returned as float32.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from dnanet.data.streaming import Batch
from dnanet.errors import DnanetError
from dnanet.inference.predict import evaluation_mode
from dnanet.inputs.bed import parse_record_id
from dnanet.models.ensemble import COMBINE, Ensemble
from dnanet.models.layers import masked_mean_max
from dnanet.runtime.precision import precision_for

LAYERS = ("embedding", "tokens")
POOLS = ("mean", "max", "cls")


def check_representation(model: nn.Module, layer: str, pool: str | None) -> None:
    """Raise a DnanetError if this model cannot give the asked representation."""
    if layer not in LAYERS:
        raise DnanetError(f"unknown --layer '{layer}'; valid: {', '.join(LAYERS)}")
    if pool is not None and pool not in POOLS:
        raise DnanetError(f"unknown --pool '{pool}'; valid: {', '.join(POOLS)}")
    if layer == "embedding" and pool is not None:
        raise DnanetError(
            "--pool applies to --layer tokens; the default embedding layer is pooled by the "
            "model itself"
        )
    if layer == "tokens" and not getattr(model, "has_positions", True):
        raise DnanetError(
            f"--layer tokens: this {type(model).__name__} model has no per-position features "
            "(it reads k-mer counts of the whole sequence); use --layer embedding"
        )
    if pool == "cls" and getattr(model, "pooling", None) != "cls":
        raise DnanetError(
            "--pool cls needs a transformer trained with 'pooling: cls' (it has a [CLS] token)"
        )


def combine_members(model: nn.Module, members: str | None) -> None:
    """An ensemble's vectors: its members' side by side (``concat``, K x D values) or their mean
    (``mean``, D values); `members` None keeps the ensemble's own setting (concat)."""
    if members is None:
        return
    if not isinstance(model, Ensemble):
        raise DnanetError(
            "--members applies to an ensemble (dnanet train --folds); this run is one model"
        )
    if members not in COMBINE:
        raise DnanetError(f"unknown --members '{members}'; valid: {', '.join(COMBINE)}")
    model.combine = members


def represent(
    model: nn.Module, codes: torch.Tensor, layer: str = "embedding", pool: str | None = None
) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> vectors float32 ``(B, D)`` (see the module docstring)."""
    if layer == "embedding" or pool == "cls":
        return model.embed(codes)
    x, mask = model.features(codes)  # (B, C, W), (B, W)
    mean, maximum = masked_mean_max(x, mask).split(x.shape[1], dim=1)  # (B, C) each
    return maximum if pool == "max" else mean


def iter_embeddings(
    model: nn.Module, batches: Iterator[Batch], layer: str = "embedding", pool: str | None = None
) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, vectors float32 ``(B, D)``) per streamed batch, in input order."""
    check_representation(model, layer, pool)
    device = next(model.parameters()).device
    precision = precision_for(device)
    for batch in batches:
        with evaluation_mode(model), precision.autocast():
            vectors = represent(
                model, torch.from_numpy(batch.codes).to(device), layer, pool or "mean"
            )
        yield batch.ids, vectors.float().cpu().numpy()


FORMATS = (".parquet", ".npy", ".tsv")


def ids_path(path: Path) -> Path:
    """Where `.npy` output keeps its record ids: ``NAME.npy`` -> ``NAME.ids.txt``, one per line."""
    return path.with_suffix(".ids.txt")


def check_output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DnanetError(
            f"{path}: unknown output format '{suffix}'; use one of {', '.join(FORMATS)}"
        )
    return suffix


def write_embeddings(
    path: Path,
    temporary: Path,
    chunks: Iterator[tuple[list[str], np.ndarray]],
    ids_temporary: Path | None = None,
    on_chunk=None,
    header: bool = True,
    labels: "RecordColumns | None" = None,
) -> int:
    """Stream (ids, vectors ``(B, D)``) chunks into `temporary` in the format of `path`'s suffix
    (.parquet: ``id`` + ``dim_0..`` float32 columns; .npy: an ``(N, D)`` float32 array, with the
    ids one per line in `ids_temporary`; .tsv: ``id`` + ``dim_0..``, the header row only with
    `header`, so that shards concatenate). Memory holds one chunk at a time. `on_chunk(ids,
    vectors)` sees every chunk (progress, plot sampling). Returns N. An empty chunk (no ids,
    vectors ``(0, D)``) still sets the width: a shard without records gets a file without rows.
    `labels` (.parquet and .tsv): the columns between ``id`` and the vectors, ``class`` and a
    genome window's ``chrom start end strand`` (`RecordColumns`)."""
    fmt = check_output_format(path)
    if fmt == ".npy":
        writer = _NpyWriter(temporary, ids_temporary)
    else:
        writer = _ParquetWriter(temporary) if fmt == ".parquet" else _TsvWriter(temporary, header)
    count = 0
    try:
        for ids, vectors in chunks:
            if labels is not None and fmt != ".npy":
                writer.labels = labels.columns(ids)
            writer.write(ids, vectors)
            count += len(ids)
            if on_chunk is not None:
                on_chunk(ids, vectors)
    finally:
        writer.close()
    return count


def _columns(width: int) -> list[str]:
    return [f"dim_{i}" for i in range(width)]


class RecordColumns:
    """The columns an embedding table has per record besides its id and vector: ``class`` (the
    class of the input file the record came from, as `dnanet train` names it) and, where the
    inputs are genome windows (BED intervals, generated backgrounds), ``chrom start end strand``
    (0-based, half-open; read from the window's id, `dnanet.inputs.bed.parse_record_id`). Rows
    that are not genome windows get empty coordinates. `classes()` gives the current chunk's
    classes (the input of each of its records)."""

    def __init__(self, classes, coordinates: bool):
        self.classes, self.coordinates = classes, coordinates

    def columns(self, ids: list[str]) -> dict[str, list]:
        classes = list(self.classes())[: len(ids)]
        values = {"class": classes + [None] * (len(ids) - len(classes))}
        if self.coordinates:
            places = [parse_record_id(record_id) for record_id in ids]
            for index, name in enumerate(("chrom", "start", "end", "strand")):
                values[name] = [place[index] if place else None for place in places]
        return values


_LABEL_TYPES = {"class": "string", "chrom": "string", "start": "int64", "end": "int64"}


class _ParquetWriter:
    def __init__(self, path: Path):
        self.path, self.writer, self.labels = path, None, {}

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [
            pa.array(ids, pa.string()),
            *[pa.array(v, _LABEL_TYPES.get(k, "string")) for k, v in self.labels.items()],
            *[pa.array(vectors[:, i]) for i in range(vectors.shape[1])],
        ]
        names = ["id", *self.labels, *_columns(vectors.shape[1])]
        table = pa.Table.from_arrays(arrays, names=names)
        if self.writer is None:
            self.writer = pq.ParquetWriter(str(self.path), table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _NpyWriter:
    """Rows go to a raw side file; closing writes the .npy header for the final shape, then the
    rows."""

    def __init__(self, path: Path, ids: Path):
        self.path, self.rows, self.width = path, 0, 0
        self.raw = open(path.with_suffix(".rows"), "wb")
        self.ids = open(ids, "w", encoding="utf-8")

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        self.raw.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
        self.ids.writelines(f"{record_id}\n" for record_id in ids)
        self.rows, self.width = self.rows + len(ids), vectors.shape[1]

    def close(self) -> None:
        self.raw.close()
        self.ids.close()
        if not os.path.exists(self.raw.name):
            return
        with open(self.path, "wb") as out, open(self.raw.name, "rb") as rows:
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.width)}
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(rows, out, 1 << 20)
        os.remove(self.raw.name)


class _TsvWriter:
    def __init__(self, path: Path, header: bool = True):
        self.handle, self.header_written = open(path, "w", encoding="utf-8"), not header
        self.labels: dict[str, list] = {}

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        if not self.header_written:
            names = ["id", *self.labels, *_columns(vectors.shape[1])]
            self.handle.write("\t".join(names) + "\n")
            self.header_written = True
        labels = zip(*self.labels.values()) if self.labels else ([] for _ in ids)
        self.handle.writelines(
            "\t".join([i, *("" if v is None else str(v) for v in cells)])
            + "\t"
            + "\t".join(f"{v:.7g}" for v in row)
            + "\n"
            for i, cells, row in zip(ids, labels, vectors)
        )

    def close(self) -> None:
        self.handle.close()
