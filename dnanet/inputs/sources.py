"""What an input argument names: a FASTA file, BED intervals read from a genome, a generated
background, or sequences held in memory: each is a *Source*.

A Source has one interface, whatever its kind (``kind``: ``fasta``, ``intervals``, ``gc-matched``,
``shuffle``, ``flank``, ``sequences``):

- ``check()``: fail early, before anything is read (a missing file or genome, an index that
  cannot be written);
- ``records()``: its `dnanet.inputs.read.FastaRecord`s, validated, in order;
- ``count()``: how many it yields, or None where the bytes are counted faster
  (`dnanet.data.streaming.count_records` counts a FASTA file's);
- ``provenance()``: what model.json keeps of it (SHA-256, settings, counts, notes);
- ``key()``: what identifies its records, for the name of a sequence store;
- ``notes()``: lines about its last reading (skipped intervals, background shortfalls).

The kinds:

- a FASTA file (plain or gzip): `FastaSource` (`dnanet.inputs.read.read_fasta`);
- a BED / narrowPeak file with ``--genome``: `dnanet.inputs.interval_source.IntervalSource`, one
  record per interval, the window `dnanet.inputs.bed.window_of` cuts (``--window N`` bases around
  the summit or centre, or the interval itself), reverse-complemented on the ``-`` strand, named
  ``chrom:start-end(strand)``. An interval whose window runs off its chromosome's end is skipped
  and counted; a chromosome missing from the genome is an error naming the BED line;
- ``CLASS=gc-matched``, ``CLASS=shuffle`` or ``CLASS=flank``: negatives generated from the other
  inputs (`dnanet.inputs.backgrounds.BackgroundSource`);
- sequences a notebook holds (a list of strings, or a mapping id -> sequence): `SequencesSource`.

An input is a `LabelledInput`: its class (None where labels come from a table, or for predict),
its path as given, and its source. `resolve_inputs` gives every parsed ``CLASS=PATH`` its source;
`input_records`, `check_input`, `input_provenance`, `input_key` and `input_count` give the rest of
dnanet what it needs of every kind, so the rest of dnanet never knows the difference.

Record ids name rows in every output, so an id used twice in one input is reported
(`dnanet.inputs.record_ids`): `input_records` notes it (predict and embed print the note, with a
count and the first example, and keep every row in input order); training refuses it
(`dnanet.data.store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, NamedTuple, Protocol, Sequence

from dnanet.errors import DnanetError
from dnanet.inputs.backgrounds import BACKGROUND_KINDS, BackgroundSource
from dnanet.inputs.bed import is_interval_file
from dnanet.inputs.digest import digest, file_sha256
from dnanet.inputs.interval_source import IntervalSource
from dnanet.inputs.read import (
    FastaRecord,
    check_input_file,
    class_name_from_path,
    read_fasta,
    record_from_text,
)
from dnanet.inputs.record_ids import noting_repeats, repeat_notes


class Source(Protocol):
    """What makes an input's records (module docstring)."""

    kind: str

    def check(self) -> None: ...
    def records(self) -> Iterator[FastaRecord]: ...
    def count(self) -> int | None: ...
    def provenance(self) -> dict: ...
    def key(self) -> str: ...
    def notes(self) -> list[str]: ...


class FastaSource:
    """The records of a FASTA file, plain or gzip (`dnanet.inputs.read.read_fasta`)."""

    kind = "fasta"

    def __init__(self, path: Path):
        self.path = Path(path)

    def check(self) -> None:
        check_input_file(self.path)

    def records(self) -> Iterator[FastaRecord]:
        return read_fasta(self.path)

    def count(self) -> None:
        return None  # counted from the bytes (`dnanet.data.streaming.count_records`)

    def provenance(self) -> dict:
        return {"sha256": file_sha256(self.path)}

    def key(self) -> str:
        return file_sha256(check_input_file(self.path))

    def notes(self) -> list[str]:
        return []


class SequencesSource:
    """Sequences held in memory: a list of strings (ids "0", "1", ... by position) or a mapping
    id -> sequence (its ids, in its order). Each is validated like a FASTA record, and an error
    names it as ``sequences[i]`` or ``sequences['id']``."""

    kind = "sequences"

    def __init__(self, sequences: Sequence[str] | Mapping[str, str]):
        if isinstance(sequences, (str, bytes)):
            raise DnanetError(
                "sequences: give a FASTA path, a list of sequences or a mapping id -> sequence, "
                "not one string"
            )
        if isinstance(sequences, Mapping):
            self.items = [
                (str(key), value, f"sequences[{key!r}]") for key, value in sequences.items()
            ]
        else:
            self.items = [(str(i), value, f"sequences[{i}]") for i, value in enumerate(sequences)]
        if not self.items:
            raise DnanetError("sequences: none given")

    def check(self) -> None:
        return None

    def records(self) -> Iterator[FastaRecord]:
        for position, (record_id, sequence, where) in enumerate(self.items, start=1):
            yield record_from_text(record_id, sequence, position, where)

    def count(self) -> int:
        return len(self.items)

    def provenance(self) -> dict:
        return {"sha256": self.key()}

    def key(self) -> str:
        return digest({"kind": "sequences", "records": [[i, str(s)] for i, s, _ in self.items]})

    def notes(self) -> list[str]:
        return []


class LabelledInput(NamedTuple):
    """One input: the class its records belong to (None: labels come from a table, or there are
    none, as for predict), the path as the user gave it (a FASTA or BED file, a background's kind,
    or "<sequences>"), and the `Source` of its records (None until `resolve_inputs`: then a FASTA
    file is read as one)."""

    label: str | None
    path: Path
    source: Source | None = None


def source_of(item) -> Source:
    """The source of an input: its own, or a `FastaSource` for a bare path or an input not yet
    resolved."""
    if isinstance(item, LabelledInput):
        return item.source if item.source is not None else FastaSource(item.path)
    return FastaSource(Path(item))


def parse_inputs(
    arguments: list, default: Callable[[], list], reporter=None
) -> list[LabelledInput]:
    """Input arguments -> `LabelledInput`s without sources (`resolve_inputs` gives them theirs):
    ``CLASS=PATH`` names the class, a bare path's class is its file name
    (`dnanet.inputs.read.class_name_from_path`; a path that exists is taken whole even with a
    '='), and a `LabelledInput` is kept as it is. None or empty: `default()`, ``(class, path)``
    pairs (the bundled example), which `reporter` is told of."""
    if not arguments:
        inputs = default()
        names = ", ".join(f"{label}={path.name}" for label, path in inputs)
        if reporter is not None:
            reporter.note(f"no FASTA given: using the bundled CTCF example files {names}", "info")
        return [LabelledInput(label, path) for label, path in inputs]
    parsed = []
    for argument in arguments:
        if isinstance(argument, LabelledInput):
            parsed.append(argument)
            continue
        argument = str(argument)
        label, sep, path = argument.partition("=")
        if not sep or Path(argument).exists():
            label, path = class_name_from_path(argument), argument
        if not label:
            raise DnanetError(f"{argument}: empty class name before '='")
        parsed.append(LabelledInput(label, Path(path)))
    return parsed


def sequences_input(sequences) -> LabelledInput:
    """The input of a notebook's sequences: a file path (str or Path: FASTA, or BED with a genome;
    `resolve_inputs` gives it its source), or sequences in memory (`SequencesSource`: a list of
    strings, or a mapping id -> sequence)."""
    if isinstance(sequences, (str, Path)):
        return LabelledInput(None, Path(sequences))
    return LabelledInput(None, Path("<sequences>"), SequencesSource(sequences))


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
    exclude: Path | None = None  # --exclude: a BED of regions no window may overlap (blacklist)

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
            "exclude": str(self.exclude.resolve()) if self.exclude else None,
        }


def resolve_inputs(items: list, settings: GenomeSettings | None) -> list:
    """Parsed inputs (`LabelledInput`s without a source) -> the same, each with its source: a
    `FastaSource` for a FASTA file, an `IntervalSource` for a BED input and a `BackgroundSource`
    for each background (an input that has its source already keeps it).

    A BED input without ``--genome``, a background without a class name or without positives,
    and ``--genome``/``--window`` given with nothing to use them on are errors."""
    settings = settings or GenomeSettings()
    resolved, backgrounds = [], []
    for index, item in enumerate(items):
        name = str(item.path)
        if item.source is not None:
            resolved.append(item)
        elif name in BACKGROUND_KINDS:
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
                exclude=settings.exclude,
            )
            resolved.append(LabelledInput(item.label, item.path, source))
        else:
            resolved.append(LabelledInput(item.label, item.path, FastaSource(item.path)))
    positives = [item for index, item in enumerate(resolved) if index not in backgrounds]
    for index in backgrounds:
        item = resolved[index]
        if not positives:
            raise DnanetError(
                f"{item.label}={item.path}: a generated background needs positive inputs (FASTA or "
                "BED files of other classes) to be generated from"
            )
        background = BackgroundSource(str(item.path), positives, settings, input_records, input_key)
        resolved[index] = LabelledInput(item.label, item.path, background)
    return resolved


def check_settings_used(items: list, settings: GenomeSettings | None) -> None:
    """``--genome`` or ``--window`` given where no input (of `resolve_inputs`' result) is a BED file
    or a generated background is an error: an option that does nothing would be silently ignored."""
    if (
        settings is not None
        and (settings.genome is not None or settings.window is not None)
        and all(source_of(item).kind in ("fasta", "sequences") for item in items)
    ):
        given = "--genome" if settings.genome is not None else "--window"
        raise DnanetError(
            f"{given} is used with BED inputs or generated backgrounds, and no input is one"
        )


def input_records(item, note_repeated_ids: bool = True) -> Iterator[FastaRecord]:
    """The records of an input: a FASTA path, or a `LabelledInput` of any kind (module docstring).
    With `note_repeated_ids`, ids used twice are noted when the input has been read to its end
    (`input_notes`)."""
    records = source_of(item).records()
    if not note_repeated_ids:
        return records
    return noting_repeats(
        input_name(item), records, lambda: input_records(item, note_repeated_ids=False)
    )


def check_input(item) -> None:
    """Fail early, before anything is read, for an input that cannot be read (a missing file or
    genome, a plain-gzip genome, an index that cannot be written)."""
    source_of(item).check()


def input_provenance(item, count: int) -> dict:
    """What model.json keeps about an input after its records were read: path, class, record
    count and SHA-256, and for intervals and backgrounds their settings, counts and notes."""
    return {
        "path": str(item.path),
        "class": item.label,
        "records": count,
        **source_of(item).provenance(),
    }


def input_key(item) -> str:
    """What identifies an input's records, for the name of a sequence store: a FASTA's SHA-256;
    for intervals the BED's SHA-256, the genome's fingerprint and the window; for a background
    its kind, ratio, seed and its positives' keys."""
    return source_of(item).key()


def input_count(item) -> int | None:
    """Records an input yields, counted without encoding them (None for a FASTA file: counted by
    `dnanet.data.streaming.count_records` from its bytes)."""
    return source_of(item).count()


def input_name(item) -> str:
    """The input as a user wrote it, for messages: the path, or the background's kind."""
    return str(item.path if isinstance(item, LabelledInput) else item)


def input_argument(item) -> str:
    """The command-line argument that gives this input again: ``CLASS=/absolute/path`` (or the
    bare path without a class), ``CLASS=gc-matched`` for a background."""
    path = str(item.path) if source_of(item).kind in BACKGROUND_KINDS else str(item.path.resolve())
    return f"{item.label}={path}" if item.label is not None else path


def input_notes(items: list) -> list[str]:
    """Lines about skipped intervals, background shortfalls and repeated ids of the inputs' last
    reading."""
    return [
        note
        for item in items
        for note in [
            *source_of(item).notes(),
            *repeat_notes(input_name(item)),
        ]
    ]


def provenance_notes(provenance: list[dict]) -> list[str]:
    """The same lines, from the provenance kept with a store or run (``notes`` of each entry)."""
    return [note for entry in provenance for note in entry.get("notes", [])]
