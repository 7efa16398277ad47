"""Batches streamed record by record from FASTA files (and `dnanet.inputs.sources` inputs), and
shards.

`iter_batches` reads the inputs record by record, so prediction memory does not grow with file
size; `count_records` counts records without parsing them, so that every
`dnanet.runtime.shards.Shard` (one contiguous block of the records, what one job of an array or one
torchrun process predicts) knows its block before predicting.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from dnanet.data.loaders import BATCH_BASES
from dnanet.errors import DnanetError
from dnanet.inputs.encode import sequences_to_codes
from dnanet.inputs.read import FastaRecord, check_input_file, open_binary
from dnanet.inputs.sources import check_input, input_count, input_name, input_records


class Batch(NamedTuple):
    """A streamed batch: record ids, padded codes uint8 ``(B, L_max)``, lengths int64 ``(B,)``,
    the index of the input file each record came from, and each record's name (a BED interval's
    column 4; "" for FASTA records)."""

    ids: list[str]
    codes: np.ndarray
    lengths: np.ndarray
    sources: list[int]
    names: list[str] = []


MAX_RECORD_BASES = (
    1_000_000  # longest record streamed inference takes (the CNN needed ~1.3 GB per Mbp)
)


def iter_batches(
    paths: Sequence,
    batch_size: int,
    max_record: int = MAX_RECORD_BASES,
    max_bases: int = BATCH_BASES,
    records: range | None = None,
) -> Iterator[Batch]:
    """Stream batches of encoded records from FASTA files, in input order (constant memory).
    `paths`: FASTA paths, or `dnanet.inputs.sources.LabelledInput`s of any kind
    (`dnanet.inputs.sources`: BED intervals read from a genome, generated backgrounds).

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
    names: list[str] = []
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
            yield Batch(ids, *sequences_to_codes(sequences), sources, names)
            ids, sequences, sources, names, longest = [], [], [], [], 0
        ids.append(record.id)
        sequences.append(record.sequence)
        sources.append(source)
        names.append(record.name)
        longest = max(longest, len(record.sequence))
        if len(ids) == batch_size:
            yield Batch(ids, *sequences_to_codes(sequences), sources, names)
            ids, sequences, sources, names, longest = [], [], [], [], 0
    if ids:
        yield Batch(ids, *sequences_to_codes(sequences), sources, names)


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
    """Records per FASTA file (lines starting with '>', as `dnanet.inputs.read.read_fasta` counts
    them), read in blocks of `block` bytes without parsing: the pass that lets every shard know the
    total before predicting. Plain or gzip files; the records themselves are validated when read.
    BED inputs and generated backgrounds (`dnanet.inputs.sources`) count the records they yield."""
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
