"""The files `dnanet attribute` writes, in the array layout TF-MoDISco (modisco-lite) reads.

``NAME.npz`` (uncompressed) holds:

- ``arr_0``: attributions float32 ``(N, 4, L)``, hypothetical (`dnanet.interpret.attribution`); the
  name modisco's CLI reads
- ``deltas``: ISM only: output(mutant) - output(sequence) float32 ``(N, 4, L)``, 0 at the
  reference base
- ``reference``: the output of each unchanged record float32 ``(N,)`` (so a mutant's output is
  reference + delta)
- ``baseline``, ``summation_error``: deepliftshap and integrated_gradients only, float32
  ``(N,)``: the mean output of each record's shuffled references, and the summation check's
  error: the sum of the record's contributions (``arr_0`` times its one-hot) minus (reference -
  baseline)
- ``ids``, ``lengths``: record ids (unicode) and lengths int64 ``(N,)``, in input order
- ``method``, ``target``, ``output``: strings: the method, the target's name (class, label,
  regression target or track), what is explained: ``log_odds``, ``value``, ``log_counts`` (a
  signal run's predicted log(1 + reads)) or ``profile`` (``--profile``)
- ``strands``, ``region``: int64: 2 when both strands were averaged, else 1; ``[start, end)``
  attributed

``NAME.ohe.npz`` (compressed) holds ``arr_0``: the one-hot sequences float32 ``(N, 4, L)``.
Records shorter than the longest, L, are padded with zero columns. Then

    modisco motifs -s NAME.ohe.npz -a NAME.npz -n 2000 -w L

Sharded (`--shard K/N`): each shard's file holds its block of the records, padded to the L of the
whole input, so the per-record arrays (``arr_0``, ``deltas``, ``reference``, ``baseline``,
``summation_error``, ``ids``, ``lengths`` and the one-hot ``arr_0``) of the shards concatenate
along axis 0, in shard order, into the unsharded file's; the other members are equal. Under
torchrun each process fills its block in a part folder and rank 0 streams the parts into the one
file (`merge_parts`).

Arrays are filled in .npy files memory-mapped in a temporary folder beside the output and packed
into the archives at the end, so memory holds one batch whatever N x L; the disk needs about
twice the output's size meanwhile (`check_disk` refuses up front when it is not free). Nothing
here is pickled: every array loads with ``np.load`` as it is.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from numpy.lib.format import (
    open_memmap,
    read_array_header_1_0,
    read_array_header_2_0,
    read_magic,
    write_array,
    write_array_header_1_0,
)

from dnanet.data.streaming import iter_batches
from dnanet.errors import DnanetError
from dnanet.inputs.encode import one_hot
from dnanet.inputs.sources import input_name, input_records
from dnanet.interpret.attribution import Attributions, Objective, attribute

ATTRIBUTIONS_KEY = "arr_0"  # modisco's CLI reads arr_0 of each .npz
CHECK_KEYS = ("baseline", "summation_error")  # the summation check's (N,) arrays


def sequences_path(out: Path) -> Path:
    """The one-hot file beside attributions file `out`: ``attr.npz`` -> ``attr.ohe.npz``."""
    return out.with_name(out.name[: -len(".npz")] + ".ohe.npz")


@dataclass
class Layout:
    """Every record's id, length int64 ``(N,)``, input (index into `paths`: FASTA paths or
    `dnanet.inputs.sources` inputs such as BED intervals) and line, read once before any model runs:
    the output's shape, and a check of every record."""

    paths: list
    ids: list[str]
    lengths: np.ndarray
    sources: np.ndarray  # int32 (N,)
    lines: np.ndarray  # int64 (N,)

    @property
    def longest(self) -> int:
        return int(self.lengths.max(initial=0))

    def place(self, index: int) -> str:
        """'FILE line N: record ID' of record `index`."""
        return (
            f"{input_name(self.paths[self.sources[index]])} line {self.lines[index]}: "
            f"record {self.ids[index]}"
        )


def read_layout(paths: list) -> Layout:
    """The `Layout` of FASTA files, or of any `dnanet.inputs.sources` input (BED intervals read from
    a genome: one record per window); every record is validated here, so a bad file fails first."""
    ids, lengths, sources, lines = [], [], [], []
    for source, path in enumerate(paths):
        for record in input_records(path):
            ids.append(record.id)
            lengths.append(len(record.sequence))
            sources.append(source)
            lines.append(record.line)
    return Layout(
        list(paths),
        ids,
        np.array(lengths, dtype=np.int64),
        np.array(sources, dtype=np.int32),
        np.array(lines, dtype=np.int64),
    )


def check_region(layout: Layout, region: tuple[int, int] | None) -> None:
    """Refuse a region that runs past the end of a record, naming the shortest such record."""
    if region is None or not len(layout.lengths):
        return
    shortest = int(np.argmin(layout.lengths))
    if layout.lengths[shortest] < region[1]:
        raise DnanetError(
            f"--region {region[0]}:{region[1]}: {layout.place(shortest)} has only "
            f"{layout.lengths[shortest]:,} bases; every record must reach the region's end"
        )


def check_profile_width(layout: Layout, width: int) -> None:
    """Refuse records shorter than a profile run's `width` output bases (0: no profile), naming
    the shortest: the profile head reads at least that many."""
    if not width or not len(layout.lengths):
        return
    shortest = int(np.argmin(layout.lengths))
    if layout.lengths[shortest] < width:
        raise DnanetError(
            f"{layout.place(shortest)} has only {layout.lengths[shortest]:,} bases; this profile "
            f"run predicts {width} bases, so every record must be at least {width} long (BED "
            "intervals: read them with a --window that long)"
        )


def output_bytes(n: int, length: int, deltas: bool) -> int:
    """Bytes of the (N, 4, L) float32 arrays: attributions, one-hot, and ISM's deltas."""
    return n * 4 * length * 4 * (3 if deltas else 2)


def check_disk(out: Path, n: int, length: int, deltas: bool) -> None:
    """Refuse up front when the disk `out` goes to has not twice the arrays' size free
    (temporary + archives)."""
    folder = next(parent for parent in out.absolute().parents if parent.exists())
    needed = 2 * output_bytes(n, length, deltas)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DnanetError(
            f"{folder}: {n:,} records x {length:,} bases need about {needed / 1e9:.1f} GB of disk "
            f"for the (N, 4, L) arrays while they are written, and {free / 1e9:.1f} GB is free; "
            "attribute fewer records at a time, or shorter ones (--region still writes full length)"
        )


def array_names(deltas: bool) -> list[str]:
    """The (N, 4, L) arrays of a file's records (ISM's `deltas` too)."""
    return [ATTRIBUTIONS_KEY, "sequences"] + (["deltas"] if deltas else [])


def scalar_names(checked: bool) -> list[str]:
    """The (N,) arrays of a file's records (the summation check's too, when `checked`)."""
    return ["reference"] + (list(CHECK_KEYS) if checked else [])


class AttributionArrays:
    """The (N, 4, L) arrays, memory-mapped as .npy files in `folder`, filled batch by batch
    (`folder` None: plain arrays in memory, for `dnanet.interpret.attribution_workflow.
    attribute_arrays`; those are never flushed or saved)."""

    def __init__(
        self, folder: Path | None, n: int, length: int, deltas: bool, checked: bool = False
    ):
        """`deltas`: ISM's deltas are kept; `checked`: the summation check's per-record
        ``baseline`` and ``summation_error`` are (deepliftshap, integrated_gradients)."""
        self.folder = folder
        names = array_names(deltas)
        self.arrays = {
            name: (
                np.zeros((n, 4, length), np.float32)
                if folder is None
                else open_memmap(folder / f"{name}.npy", "w+", np.float32, (n, 4, length))
            )
            for name in names
        }
        self.scalars = {name: np.zeros(n, dtype=np.float32) for name in scalar_names(checked)}
        self.reference = self.scalars["reference"]

    @property
    def names(self) -> list[str]:
        """The per-record arrays of the file: the (N, 4, L) ones, then the (N,) ones."""
        return list(self.arrays) + list(self.scalars)

    def add(self, start: int, one_hot: np.ndarray, result: Attributions) -> None:
        """Rows ``start..start+B`` from one batch: one-hot ``(B, 4, L_batch)`` and its
        attributions."""
        rows, width = slice(start, start + len(one_hot)), one_hot.shape[2]
        self.arrays["sequences"][rows, :, :width] = one_hot
        self.arrays[ATTRIBUTIONS_KEY][rows, :, :width] = result.values.detach().cpu().numpy()
        if result.deltas is not None:
            self.arrays["deltas"][rows, :, :width] = result.deltas.detach().cpu().numpy()
        self.reference[rows] = result.reference.detach().cpu().numpy()
        for name in CHECK_KEYS:
            if name in self.scalars:
                self.scalars[name][rows] = getattr(result, name).detach().cpu().numpy()

    def rows(self, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the attributions and one-hot sequences of some records ``(K, 4, L)`` each."""
        return np.array(self.arrays[ATTRIBUTIONS_KEY][indices]), np.array(
            self.arrays["sequences"][indices]
        )

    def flush(self) -> None:
        """Write the arrays (and the (N,) ones: ``reference.npy``, ...) out to their files in
        `folder`."""
        for array in self.arrays.values():
            array.flush()
        for name, values in self.scalars.items():
            np.save(self.folder / f"{name}.npy", values)

    def save(self, out: Path, sequences_out: Path, metadata: dict[str, np.ndarray]) -> None:
        """Pack the attributions file (arrays + `metadata` + reference) into `out` and the one-hot
        sequences into `sequences_out` (module docstring), copying the .npy files a block at a
        time."""
        self.flush()
        merge_parts([self.folder], self.names, out, sequences_out, metadata)
        self.arrays.clear()


def merge_parts(
    folders: list[Path],
    names: Iterable[str],
    out: Path,
    sequences_out: Path,
    metadata: dict[str, np.ndarray],
) -> None:
    """Pack the .npy files of `AttributionArrays` folders (blocks of records, in order; `names`:
    the arrays each holds, `AttributionArrays.names`) into the two archives, each array the
    folders' blocks laid end to end along axis 0, streamed a block at a time (memory stays flat)."""
    names = [name for name in names if name != "sequences"]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name in names:
            _concatenated(archive, f"{name}.npy", [folder / f"{name}.npy" for folder in folders])
        for name, array in metadata.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                write_array(handle, np.asarray(array), allow_pickle=False)
    with zipfile.ZipFile(
        sequences_out, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1
    ) as archive:
        _concatenated(
            archive, f"{ATTRIBUTIONS_KEY}.npy", [folder / "sequences.npy" for folder in folders]
        )


def _concatenated(archive: zipfile.ZipFile, member: str, parts: list[Path]) -> None:
    """One .npy member of `archive`: the C-order float32 arrays in `parts` joined along axis 0."""
    headers = []
    for part in parts:
        with open(part, "rb") as handle:
            version = read_magic(handle)
            shape, _, dtype = (
                read_array_header_1_0 if version == (1, 0) else read_array_header_2_0
            )(handle)
            headers.append((shape, handle.tell()))
    shape = (sum(shape[0] for shape, _ in headers), *headers[0][0][1:])
    with archive.open(member, "w", force_zip64=True) as target:
        write_array_header_1_0(
            target,
            {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape},
        )
        for part, (_, offset) in zip(parts, headers):
            with open(part, "rb") as source:
                source.seek(offset)
                shutil.copyfileobj(source, target, 1 << 20)


def attribute_records(
    arrays: AttributionArrays,
    model: torch.nn.Module,
    paths: list,
    method: str,
    objective: Objective,
    strands: int = 1,
    region: tuple[int, int] | None = None,
    batch_size: int = 128,
    progress: Callable[[int], None] = lambda done: None,
    records: range | None = None,
    references: int = 20,
    seed: int = 0,
) -> int:
    """Stream the records of `paths` (in order; only the record numbers in `records`, a shard's
    block, when given) through `dnanet.interpret.attribution.attribute` into `arrays` (row 0 = the
    first record streamed); return the number of records. ISM takes a few records at a time (about
    `batch_size` mutants of each batch per pass); `progress` gets the records done after each
    batch. `references`, `seed`: the shuffled references of deepliftshap and
    integrated_gradients (`dnanet.interpret.deeplift`)."""
    device = next(model.parameters()).device
    width = region[1] - region[0] if region else max(1, arrays.arrays["sequences"].shape[2])
    per_batch = max(1, batch_size // (3 * width)) if method == "ism" else batch_size
    done = 0
    for batch in iter_batches(paths, per_batch, records=records):
        codes = torch.from_numpy(batch.codes)
        result = attribute(
            model,
            codes.to(device),
            torch.from_numpy(batch.lengths),
            method,
            objective,
            strands,
            region,
            batch_size,
            references,
            seed,
        )
        arrays.add(done, one_hot(codes).numpy(), result)
        done += len(batch.ids)
        progress(done)
    return done
