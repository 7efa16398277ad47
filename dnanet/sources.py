"""What an input argument names: a FASTA file, BED intervals read from a genome, or a generated
background.

Every command that takes FASTA inputs reads them through `input_records`, which yields
`dnanet.read.FastaRecord`s for any of the three kinds, so the rest of dnanet never knows the
difference:

- a FASTA file (plain or gzip): its records (`dnanet.read.read_fasta`);
- a BED / narrowPeak file with ``--genome`` (`dnanet.interval_source.IntervalSource`): one
  record per interval, the window `dnanet.intervals.window_of` cuts (``--window N`` bases around
  the summit or centre, or the interval itself), reverse-complemented on the ``-`` strand, named
  ``chrom:start-end(strand)``. An interval whose window runs off its chromosome's end is skipped
  and counted (the count and the first such line are kept in provenance and printed); a
  chromosome missing from the genome is an error naming the BED line;
- ``CLASS=gc-matched``, ``CLASS=shuffle`` or ``CLASS=flank``: negatives generated from the other
  inputs (`dnanet.backgrounds`).

`resolve_inputs` turns parsed ``CLASS=PATH`` inputs (`dnanet.records.LabelledInput`) into the
same for FASTA files and a `SourcedInput` (label, path and the ``source`` that makes its records)
for the others; `check_input`, `input_provenance`, `input_key` and `input_count` give the rest of
dnanet what it needs of every kind.

Record ids name rows in every output, so an id used twice in one input is reported
(`dnanet.record_ids`): `input_records` notes it (predict and embed print the note, with a count
and the first example, and keep every row in input order); training refuses it (`dnanet.records`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

from dnanet.errors import DnanetError
from dnanet.intervals import is_interval_file
from dnanet.read import FastaRecord, check_input_file, read_fasta
from dnanet.record_ids import noting_repeats, repeat_notes

BACKGROUND_KINDS = ("gc-matched", "shuffle", "flank")


@dataclass(frozen=True)
class GenomeSettings:
    """How interval inputs are read and backgrounds generated: the genome FASTA (``--genome``),
    the window width (``--window``; None: each interval as it is), backgrounds per positive
    (``--background-ratio``) and the seed of their generation. `trained_window`: the window a
    run was trained on, used by evaluate, predict, embed and motifs when ``--window`` is not
    given."""

    genome: Path | None = None
    window: int | None = None
    background_ratio: int = 1
    seed: int = 0
    trained_window: int | None = None

    @property
    def width(self) -> int | None:
        """The window intervals are read with: ``--window``, else the run's training window."""
        return self.window if self.window is not None else self.trained_window

    def to_dict(self) -> dict:
        return {
            "genome": str(self.genome.resolve()) if self.genome else None,
            "window": self.window,
            "background_ratio": self.background_ratio,
            "seed": self.seed,
        }


class SourcedInput(NamedTuple):
    """An input whose records are not a FASTA file's: `label` and `path` as in
    `dnanet.records.LabelledInput` (`path`: the BED file, or the background's kind), and the
    `source` that makes its records (`dnanet.interval_source.IntervalSource`,
    `dnanet.backgrounds.BackgroundSource`)."""

    label: str | None
    path: Path
    source: object


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def resolve_inputs(items: list, settings: GenomeSettings | None) -> list:
    """Parsed inputs (`dnanet.records.LabelledInput`) -> the same for FASTA files, a `SourcedInput`
    with a `dnanet.interval_source.IntervalSource` for each BED input and a
    `dnanet.backgrounds.BackgroundSource` for each background.

    A BED input without ``--genome``, a background without a class name or without positives,
    and ``--genome``/``--window`` given with nothing to use them on are errors."""
    from dnanet.backgrounds import BackgroundSource
    from dnanet.interval_source import IntervalSource

    settings = settings or GenomeSettings()
    resolved, backgrounds = [], []
    for index, item in enumerate(items):
        name = str(item.path)
        if name in BACKGROUND_KINDS:
            if item.path.exists():
                raise DnanetError(
                    f"{name}: both a file here and a kind of generated background; write ./{name} "
                    "for the file, or CLASS=" + name + " elsewhere for the background"
                )
            if item.label is None:
                raise DnanetError(
                    f"{name}: a generated background is a class of its own, given as CLASS={name} "
                    "beside one input per positive class (e.g. bound=peaks.bed "
                    f"background={name}); not with --labels, and not for predict"
                )
            backgrounds.append(index)
            resolved.append(item)
        elif is_interval_file(item.path):
            if settings.genome is None:
                raise DnanetError(
                    f"{item.path}: intervals (BED) need --genome FILE, the genome FASTA their "
                    "coordinates refer to"
                )
            source = IntervalSource(
                item.path,
                settings.genome,
                settings.width,
                trained=settings.window is None and settings.trained_window is not None,
            )
            resolved.append(SourcedInput(item.label, item.path, source))
        else:
            resolved.append(item)
    positives = [item for index, item in enumerate(resolved) if index not in backgrounds]
    for index in backgrounds:
        item = resolved[index]
        if not positives:
            raise DnanetError(
                f"{item.label}={item.path}: a generated background needs positive inputs (FASTA or "
                "BED files of other classes) to be generated from"
            )
        resolved[index] = SourcedInput(
            item.label, item.path, BackgroundSource(str(item.path), positives, settings)
        )
    return resolved


def check_settings_used(items: list, settings: GenomeSettings | None) -> None:
    """``--genome`` or ``--window`` given where no input (of `resolve_inputs`' result) is a BED file
    or a generated background is an error: an option that does nothing would be silently ignored."""
    if (
        settings is not None
        and (settings.genome is not None or settings.window is not None)
        and not any(isinstance(item, SourcedInput) for item in items)
    ):
        given = "--genome" if settings.genome is not None else "--window"
        raise DnanetError(
            f"{given} is used with BED inputs or generated backgrounds, and no input is one"
        )


def input_records(item, note_repeated_ids: bool = True) -> Iterator[FastaRecord]:
    """The records of an input: a FASTA path, or a `LabelledInput` of any kind (module docstring).
    With `note_repeated_ids`, ids used twice are noted when the input has been read to its end
    (`input_notes`)."""
    source = getattr(item, "source", None)
    records = read_fasta(getattr(item, "path", item)) if source is None else source.records()
    if not note_repeated_ids:
        return records
    return noting_repeats(
        input_name(item), records, lambda: input_records(item, note_repeated_ids=False)
    )


def check_input(item) -> None:
    """Fail early, before anything is read, for an input that cannot be read (a missing file or
    genome, a plain-gzip genome, an index that cannot be written)."""
    source = getattr(item, "source", None)
    if source is None:
        check_input_file(getattr(item, "path", item))
    else:
        source.check()


def input_provenance(item, count: int) -> dict:
    """What model.json keeps about an input after its records were read: path, class, record
    count and SHA-256, and for intervals and backgrounds their settings, counts and notes."""
    from dnanet.records import file_sha256

    entry = {"path": str(item.path), "class": item.label, "records": count}
    source = getattr(item, "source", None)
    return (
        {**entry, "sha256": file_sha256(item.path)}
        if source is None
        else {**entry, **source.provenance()}
    )


def input_key(item) -> str:
    """What identifies an input's records, for the name of a sequence store: a FASTA's SHA-256;
    for intervals the BED's SHA-256, the genome's fingerprint and the window; for a background
    its kind, ratio, seed and its positives' keys."""
    from dnanet.records import file_sha256

    source = getattr(item, "source", None)
    return file_sha256(check_input_file(item.path)) if source is None else source.key()


def input_count(item) -> int | None:
    """Records an input yields, counted without encoding them (None for a FASTA file: counted by
    `dnanet.streaming.count_records` from its bytes)."""
    source = getattr(item, "source", None)
    return None if source is None else source.count()


def input_name(item) -> str:
    """The input as a user wrote it, for messages: the path, or the background's kind."""
    return str(getattr(item, "path", item))


def input_argument(item) -> str:
    """The command-line argument that gives this input again: ``CLASS=/absolute/path`` (or the
    bare path without a class), ``CLASS=gc-matched`` for a background."""
    source = getattr(item, "source", None)
    path = (
        str(item.path)
        if source is not None and source.kind in BACKGROUND_KINDS
        else str(item.path.resolve())
    )
    return f"{item.label}={path}" if item.label is not None else path


def input_notes(items: list) -> list[str]:
    """Lines about skipped intervals, background shortfalls and repeated ids of the inputs' last
    reading."""
    return [
        note
        for item in items
        for note in [
            *(item.source.notes() if getattr(item, "source", None) is not None else []),
            *repeat_notes(input_name(item)),
        ]
    ]


def provenance_notes(provenance: list[dict]) -> list[str]:
    """The same lines, from the provenance kept with a store or run (``notes`` of each entry)."""
    return [note for entry in provenance for note in entry.get("notes", [])]
