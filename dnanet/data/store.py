"""Labelled records: FASTA inputs read once into flat uint8 codes, in memory or in an on-disk store.

`read_labelled` streams every input record by record into the layout `dnanet.data.sets.SequenceSet`
uses (codes back to back + offsets), with each record's id, raw label and place (file, line).
With a `store` folder it writes them there instead of holding them, and training reads them back
memory-mapped, so a run's memory does not grow with the data (10^6 records of 200 bp are 200 MB
of codes on disk, paged in as batches need them):

    STORE/codes.u8        uint8 (total bases,)   all sequences' codes, back to back
    STORE/offsets.npy     int64 (N + 1,)         record i is codes[offsets[i]:offsets[i+1]]
    STORE/ids.u8          uint8 (id bytes,)      UTF-8 ids back to back
    STORE/id_offsets.npy  int64 (N + 1,)
    STORE/labels.npy      int32 (N,)             index into the distinct labels (manifest)
    STORE/places.npy      int64 (N, 2)           (input index, header line) of each record
    STORE/manifest.json   format, key, distinct labels, each label's first record, provenance

A store is named by `store_key`, the SHA-256 of its inputs' bytes and of the settings it
depends on, so a later run on the same inputs reuses it (`open_or_build_store`); it is written
under a temporary name and renamed into place, so a killed run never leaves half a store.
"""

from __future__ import annotations

import array
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.digest import file_sha256
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.inputs.record_ids import identical_repeats
from dnanet.inputs.sources import (
    LabelledInput,
    check_input,
    input_key,
    input_provenance,
    input_records,
)

STORE_FORMAT = 1
LabelTable = dict[str, tuple[str, ...]]


class RecordIds(Sequence[str]):
    """Record ids kept as UTF-8 bytes back to back (``blob``) with offsets ``(N + 1,)``: a list of
    10^6 Python strings costs ~70 MB, these bytes ~10 MB (memory-mapped from a store)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self.blob, self.offsets = blob, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        return bytes(self.blob[self.offsets[index] : self.offsets[index + 1]]).decode("utf-8")

    def __eq__(self, other) -> bool:
        return list(self) == list(other)


@dataclass
class LabelledRecords:
    """Sequences read from labelled files, with their raw labels.

    ``flat`` uint8 and ``offsets`` int64 ``(N + 1,)`` as in `dnanet.data.sets.SequenceSet`;
    ``label_values``: the distinct raw labels (one tuple of strings each) in order of first
    appearance; ``label_index`` int32 ``(N,)``: each record's label; ``places`` int64 ``(N, 2)``:
    (input index, header line) of each record, for messages.
    """

    ids: Sequence[str]
    flat: np.ndarray
    offsets: np.ndarray
    label_values: list[tuple[str, ...]]
    label_index: np.ndarray
    places: np.ndarray
    inputs: list[LabelledInput]
    provenance: list[dict]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def labels(self) -> list[tuple[str, ...]]:
        """Every record's raw label (a list as long as the data: for small sets and tests)."""
        return [self.label_values[i] for i in self.label_index]

    def where(self, index: int) -> str:
        """'FILE line N' of record `index`."""
        source, line = self.places[index]
        return f"{self.inputs[source].path} line {line}"

    def targets(
        self, encode: Callable[[list[tuple[str, ...]], Callable[[int], str]], np.ndarray]
    ) -> np.ndarray:
        """Targets of every record from `encode` (`dnanet.data.tasks.Task.encode`), which sees each
        distinct label once: an error names the first record that has the label."""
        first = np.full(len(self.label_values), -1, dtype=np.int64)
        seen = np.unique(self.label_index, return_index=True)
        first[seen[0]] = seen[1]
        return encode(self.label_values, lambda value: self.where(int(first[value])))[
            self.label_index
        ]

    def with_targets(self, targets: np.ndarray):
        from dnanet.data.sets import SequenceSet

        return SequenceSet(self.ids, self.flat, self.offsets, targets)


def read_labelled(
    inputs: list[LabelledInput], label_table: LabelTable | None = None
) -> LabelledRecords:
    """Read labelled FASTA files into memory, as codes.

    A record's label is its input's class (``CLASS=PATH`` or the file name) or, when
    `label_table` is given, its row of that {record id: label values} table
    (`dnanet.inputs.read.read_label_table`). The records keep one provenance dict per input file
    (path, class, records, sha256) for model.json.
    """
    codes, ids = io.BytesIO(), io.BytesIO()
    columns, provenance = _stream(inputs, label_table, codes, ids)
    blobs = {
        "codes": np.frombuffer(codes.getbuffer(), dtype=np.uint8),
        "ids": np.frombuffer(ids.getbuffer(), dtype=np.uint8),
    }
    dropped = _identical_repeats(blobs, columns, inputs, provenance)
    if len(dropped):
        for name in blobs:
            kept = io.BytesIO()
            columns[_OFFSETS[name]] = _compact(blobs[name], columns[_OFFSETS[name]], dropped, kept)
            blobs[name] = np.frombuffer(kept.getbuffer(), dtype=np.uint8)
        _drop_rows(columns, dropped)
    return _records(blobs["codes"], blobs["ids"], columns, inputs, provenance)


def store_key(inputs: list[LabelledInput], label_table_path: Path | None, settings: dict) -> str:
    """SHA-256 naming a store: the store format, each input's class and bytes (intervals and
    generated backgrounds: their genome, window and generation settings,
    `dnanet.inputs.sources.input_key`), the label table's bytes and the reading settings
    (`settings`: id and label columns)."""
    digest = hashlib.sha256(
        json.dumps({"format": STORE_FORMAT, **settings}, sort_keys=True).encode()
    )
    for item in inputs:
        digest.update(f"{item.label}\0{input_key(item)}\0".encode())
    if label_table_path is not None:
        digest.update(f"table\0{file_sha256(label_table_path)}".encode())
    return digest.hexdigest()


def open_or_build_store(
    folder: Path,
    key: str,
    inputs: list[LabelledInput],
    label_table: Callable[[], LabelTable | None] = lambda: None,
) -> LabelledRecords:
    """The store `folder`/`key`, read memory-mapped; built first (streamed, atomically) when
    missing, with the labels of `label_table()` (called only then). Two processes that build the
    same store at once both succeed: the first rename wins."""
    store = folder / key
    if not (store / "manifest.json").exists():
        _build(store, key, inputs, label_table())
    return open_store(store, inputs)


def open_store(store: Path, inputs: list[LabelledInput]) -> LabelledRecords:
    """A built store's records, memory-mapped (`inputs`: the files it was built from, for
    messages)."""
    try:
        manifest = json.loads((store / "manifest.json").read_text())
        if manifest.get("format") != STORE_FORMAT:
            raise DnanetError(
                f"{store}: a sequence store of format {manifest.get('format')}, this dnanet reads "
                f"{STORE_FORMAT}; delete the folder and it is rebuilt"
            )
        codes = (
            np.memmap(store / "codes.u8", dtype=np.uint8, mode="r")
            if manifest["bases"]
            else np.zeros(0, np.uint8)
        )
        ids = np.memmap(store / "ids.u8", dtype=np.uint8, mode="r")
        columns = {
            name: np.load(store / f"{name}.npy", mmap_mode="r")
            for name in ("offsets", "id_offsets", "places")
        }
        columns["labels"] = np.load(store / "labels.npy")
    except (OSError, ValueError, KeyError) as error:
        raise DnanetError(
            f"{store}: damaged sequence store ({error}); delete the folder and it is rebuilt"
        ) from None
    columns["label_values"] = [tuple(value) for value in manifest["label_values"]]
    return _records(codes, ids, columns, inputs, manifest["provenance"])


def _build(
    store: Path, key: str, inputs: list[LabelledInput], label_table: LabelTable | None
) -> None:
    partial = store.with_name(f".{store.name}.partial-{os.getpid()}")
    _remove_stale_partials(store)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with open(partial / "codes.u8", "wb") as codes, open(partial / "ids.u8", "wb") as ids:
            columns, provenance = _stream(inputs, label_table, codes, ids)
        _drop_identical_in_store(partial, columns, inputs, provenance)
        for name in ("offsets", "id_offsets", "labels", "places"):
            np.save(partial / f"{name}.npy", columns[name])
        manifest = {
            "format": STORE_FORMAT,
            "key": key,
            "records": len(columns["labels"]),
            "bases": int(columns["offsets"][-1]),
            "label_values": columns["label_values"],
            "provenance": provenance,
        }
        (partial / "manifest.json").write_text(json.dumps(manifest))
        try:
            partial.rename(store)
        except OSError:  # another process built it first
            if not (store / "manifest.json").exists():
                raise
    except OSError as error:
        raise DnanetError(
            f"{store.parent}: cannot write the sequence store ({error.strerror or error})"
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _remove_stale_partials(store: Path) -> None:
    """Half-built stores of this key left by processes that were killed (their pid ends the
    name)."""
    from dnanet.files.outputs import process_alive

    for entry in store.parent.glob(f".{store.name}.partial-*") if store.parent.is_dir() else []:
        pid = entry.name.rsplit("-", 1)[1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _stream(
    inputs: list[LabelledInput], label_table: LabelTable | None, codes: BinaryIO, ids: BinaryIO
) -> tuple[dict, list[dict]]:
    """Read every record once: codes and ids go to the two handles, the small per-record
    columns (offsets, id offsets, label index, place) to compact arrays."""
    for item in inputs:
        check_input(item)
    offsets, id_offsets = array.array("q", [0]), array.array("q", [0])
    labels, places, id_hashes = array.array("i"), array.array("q"), array.array("q")
    distinct: dict[tuple[str, ...], int] = {}
    provenance = []
    for source, item in enumerate(inputs):
        count = 0
        for record in input_records(item, note_repeated_ids=False):
            id_hashes.append(hash(record.id))
            label = _label_of(record.id, record.line, item, label_table)
            labels.append(distinct.setdefault(label, len(distinct)))
            places.extend((source, record.line))
            offsets.append(offsets[-1] + codes.write(record.sequence.translate(BYTE_TO_CODE)))
            id_offsets.append(id_offsets[-1] + ids.write(record.id.encode("utf-8")))
            count += 1
        provenance.append(input_provenance(item, count))
    columns = {
        "offsets": np.frombuffer(offsets, dtype=np.int64),
        "id_offsets": np.frombuffer(id_offsets, dtype=np.int64),
        "labels": np.frombuffer(labels, dtype=np.int32),
        "places": np.frombuffer(places, dtype=np.int64).reshape(-1, 2),
        "label_values": list(distinct),
        "id_hashes": np.frombuffer(id_hashes, dtype=np.int64),
    }
    return columns, provenance


_OFFSETS = {"codes": "offsets", "ids": "id_offsets"}  # each blob's offsets column
_ROWS_PER_COPY = 1 << 16  # records copied at a time when copies are dropped


def _identical_repeats(
    blobs: dict[str, np.ndarray], columns: dict, inputs: list[LabelledInput], provenance: list
) -> np.ndarray:
    """Positions int64 ``(R,)`` of records that repeat an earlier record of their input exactly
    (same id, sequence and label), to be dropped (`dnanet.inputs.record_ids.identical_repeats`,
    which refuses a repeated id whose records differ); each input's provenance counts its copies
    (``identical_repeats``) and gets a note."""
    codes, offsets, labels = blobs["codes"], columns["offsets"], columns["labels"]

    def same_record(earlier: int, later: int) -> bool:
        return labels[earlier] == labels[later] and np.array_equal(
            codes[offsets[earlier] : offsets[earlier + 1]],
            codes[offsets[later] : offsets[later + 1]],
        )

    dropped = identical_repeats(
        blobs["ids"],
        columns["id_offsets"],
        columns["id_hashes"],
        columns["places"],
        inputs,
        same_record,
    )
    per_input = np.bincount(columns["places"][dropped, 0], minlength=len(inputs))
    for source, count in enumerate(per_input.tolist()):
        if count:
            first = int(dropped[columns["places"][dropped, 0] == source][0])
            entry = provenance[source]
            entry["records"] -= count
            entry["identical_repeats"] = count
            entry.setdefault("notes", []).append(
                f"{inputs[source].path}: {count:,} record{'s repeat' if count > 1 else ' repeats'}"
                f" an earlier record exactly (same id and sequence; first copy: line "
                f"{int(columns['places'][first, 1])}, id '{_id_at(blobs['ids'], columns, first)}')"
                ": each kept once"
            )
    return dropped


def _id_at(ids: np.ndarray, columns: dict, index: int) -> str:
    offsets = columns["id_offsets"]
    return bytes(ids[offsets[index] : offsets[index + 1]]).decode("utf-8")


def _drop_identical_in_store(
    partial: Path, columns: dict, inputs: list[LabelledInput], provenance: list
) -> None:
    """`_identical_repeats` on a store being built in `partial`: the kept records' codes and ids
    are copied into new files, which replace the written ones."""
    files = {name: partial / f"{name}.u8" for name in _OFFSETS}
    blobs = {
        name: np.memmap(path, dtype=np.uint8, mode="r")
        if path.stat().st_size
        else np.zeros(0, np.uint8)
        for name, path in files.items()
    }
    dropped = _identical_repeats(blobs, columns, inputs, provenance)
    if not len(dropped):
        return
    for name, path in files.items():
        kept = path.with_suffix(".kept")
        with open(kept, "wb") as handle:
            columns[_OFFSETS[name]] = _compact(
                blobs[name], columns[_OFFSETS[name]], dropped, handle
            )
        del blobs[name]  # unmapped before the file is replaced
        kept.replace(path)
    _drop_rows(columns, dropped)


def _compact(
    blob: np.ndarray, offsets: np.ndarray, dropped: np.ndarray, out: BinaryIO
) -> np.ndarray:
    """Write `blob`'s records (record i: ``blob[offsets[i]:offsets[i + 1]]``) but the `dropped`
    ones to `out`, a block of records at a time; return the kept records' offsets int64."""
    keep = np.ones(len(offsets) - 1, dtype=bool)
    keep[dropped] = False
    lengths = np.diff(offsets)
    for start in range(0, len(keep), _ROWS_PER_COPY):
        stop = min(start + _ROWS_PER_COPY, len(keep))
        block = np.asarray(blob[offsets[start] : offsets[stop]])
        out.write(block[np.repeat(keep[start:stop], lengths[start:stop])].tobytes())
    return np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)


def _drop_rows(columns: dict, dropped: np.ndarray) -> None:
    """Leave the `dropped` records out of the per-record columns (labels, places, id hashes)."""
    for name in ("labels", "places", "id_hashes"):
        columns[name] = np.delete(columns[name], dropped, axis=0)


def _records(
    codes: np.ndarray,
    ids: np.ndarray,
    columns: dict,
    inputs: list[LabelledInput],
    provenance: list[dict],
) -> LabelledRecords:
    return LabelledRecords(
        RecordIds(ids, columns["id_offsets"]),
        codes,
        columns["offsets"],
        columns["label_values"],
        columns["labels"],
        columns["places"],
        list(inputs),
        provenance,
    )


def _label_of(
    record_id: str, line: int, item: LabelledInput, table: LabelTable | None
) -> tuple[str, ...]:
    if table is None:
        return (item.label if item.label is not None else "",)
    if record_id not in table:
        raise DnanetError(
            f"{item.path} line {line}: record '{record_id}' has no row in the label table"
        )
    return table[record_id]
