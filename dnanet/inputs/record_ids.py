"""Record ids used twice in one input: found from one 64-bit hash per id, confirmed on the ids.

An id names its record in every output (predictions, embeddings, attributions) and is how a
``--labels`` table finds it, so an id used twice within one input is reported: training keeps an
exact copy of a record once and refuses a repeated id whose records differ (`identical_repeats`,
naming both lines); predict and embed note it (`noting_repeats`: one line with a count and the
first example) and keep every record's row, in input order.

Repeats are found without a Python string per record (~70 bytes each): each id's 64-bit hash goes
into an int64 array (8 bytes a record) and `hash_repeats` sorts it once; equal hashes are only
candidates, confirmed by comparing the ids themselves (the UTF-8 id bytes of
`dnanet.data.store`, or a second reading of the input that keeps only the candidates' ids).
"""

from __future__ import annotations

import array
from typing import Callable, Iterator

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.read import FastaRecord, open_binary

_NOTES: dict[str, str] = {}
"""Input name -> the note about the ids it repeats, from its last complete reading."""


def hash_repeats(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records whose id hash (int64 ``(N,)``) equals an earlier record's: their positions int64
    ``(R,)`` in input order, and the position ``(R,)`` of the first record with the same hash.
    Equal hashes are candidates only: callers confirm them on the ids."""
    order = np.argsort(hashes, kind="stable")  # equal hashes keep input order
    ordered = hashes[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    run_start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(order)), 0))
    later, first = order[1:][same], order[run_start][1:][same]
    keep = np.argsort(later)
    return later[keep].astype(np.int64), first[keep].astype(np.int64)


def noting_repeats(
    name: str, records: Iterator[FastaRecord], reread: Callable[[], Iterator[FastaRecord]]
) -> Iterator[FastaRecord]:
    """Yield `records` unchanged; once they are read to the end, note the ids used twice
    (`repeat_notes(name)`), confirmed on a second reading (`reread()`) made only when hashes
    repeat."""
    _NOTES.pop(name, None)
    hashes = array.array("q")
    for record in records:
        hashes.append(hash(record.id))
        yield record
    later, first = hash_repeats(np.frombuffer(hashes, dtype=np.int64))
    if len(later):
        note = _confirmed_note(name, np.unique(np.concatenate([later, first])), reread())
        if note:
            _NOTES[name] = note


def repeat_notes(name: str) -> list[str]:
    """The note about input `name`'s repeated ids from its last complete reading (none: [])."""
    return [_NOTES[name]] if name in _NOTES else []


def _confirmed_note(name: str, members: np.ndarray, records: Iterator[FastaRecord]) -> str:
    """The note for the ids that really repeat among `members` (positions of every record in a
    group of equal hashes, sorted), or "" when none does (hashes that merely collide)."""
    wanted, last = set(members.tolist()), int(members[-1])
    first_seen: dict[str, tuple[int, int]] = {}  # id -> (position, line) of its first record
    count, example = 0, ""
    for position, record in enumerate(records):
        if position in wanted:
            earlier, line = first_seen.setdefault(record.id, (position, record.line))
            if earlier != position:
                count += 1
                example = example or f"'{record.id}', lines {line} and {record.line}"
        if position == last:
            break
    if not count:
        return ""
    return (
        f"{name}: {count:,} record{'s reuse' if count > 1 else ' reuses'} an earlier record's id "
        f"(first: {example}); every record keeps its own row, in input order"
    )


def identical_repeats(
    ids: np.ndarray,
    id_offsets: np.ndarray,
    hashes: np.ndarray,
    places: np.ndarray,
    inputs: list,
    same_record: Callable[[int, int], bool],
) -> np.ndarray:
    """Records that repeat an earlier record of their FASTA input exactly, to be kept once; a
    repeated id whose records differ is refused, naming both lines.

    Two of the shared data sets list some records twice, word for word (published CLIP negatives:
    the same site exported twice): the copy adds nothing, so it is dropped and counted. Records
    that share an id but differ (`same_record(earlier, later)` is False: another sequence or
    label) cannot both be named by it in outputs and ``--labels`` tables, so they are an error.

    `ids` uint8: the UTF-8 ids back to back, record i's at ``id_offsets[i]:id_offsets[i + 1]``;
    `hashes` int64 ``(N,)``: each id's hash; `places` int64 ``(N, 2)``: (input index, line), input
    indices ascending. Returns the dropped records' positions int64 ``(R,)``, ascending. BED
    intervals and generated backgrounds are not checked: one window read twice (e.g. a narrowPeak
    peak listed once per summit) is a duplicate sequence, which `dnanet.data.leakage` handles.
    `inputs`: `dnanet.inputs.sources.LabelledInput`s (those whose source is a FASTA file, or not
    resolved yet, are checked)."""
    bounds = np.searchsorted(places[:, 0], np.arange(len(inputs) + 1))  # each input's records

    def id_bytes(index: int) -> bytes:
        return bytes(ids[id_offsets[index] : id_offsets[index + 1]])

    def _same_id(first: int, start: int, own: np.ndarray, later: int) -> int | None:
        """The first earlier record of this input with record `later`'s id (None: none; the
        hashes collided): the first record of equal hash, else a scan of the equal hashes."""
        if id_bytes(first) == id_bytes(later):
            return first
        for earlier in np.flatnonzero(own[: later - start] == own[later - start]):
            if id_bytes(start + int(earlier)) == id_bytes(later):
                return start + int(earlier)
        return None

    dropped: list[int] = []
    for source, item in enumerate(inputs):
        if item.source is not None and item.source.kind != "fasta":
            continue
        start, end = int(bounds[source]), int(bounds[source + 1])
        own = hashes[start:end]
        for later, first in zip(*hash_repeats(own)):
            later = start + int(later)
            earlier = _same_id(start + int(first), start, own, later)
            if earlier is None:  # hashes that merely collide
                continue
            if same_record(earlier, later):
                dropped.append(later)
                continue
            lines = (int(places[earlier, 1]), int(places[later, 1]))
            raise DnanetError(
                f"{item.path} lines {lines[0]} and {lines[1]}: record id "
                f"'{id_bytes(later).decode()}' is used twice for different records; "
                "ids name records in every output and in --labels tables, so each must be unique "
                f"within a file ({_how_to_fix(item.path, lines)})"
            )
    return np.asarray(dropped, dtype=np.int64)


def _how_to_fix(path, lines: tuple[int, int]) -> str:
    """What to do about a repeated id: rename or drop one record. Where the two header lines
    differ after the id (``>Escherichia coli K-12 2486131_2486212``: the id is the header's first
    word), show how to make whole headers the ids."""
    headers: dict[int, bytes] = {}
    try:
        with open_binary(path) as handle:
            for number, line in enumerate(handle, start=1):
                if number in lines:
                    headers[number] = line.rstrip(b"\r\n")
                if number >= max(lines):
                    break
    except OSError:
        return "rename or drop one"
    if len(headers) == 2 and headers[lines[0]] != headers[lines[1]]:
        return (
            "rename or drop one; the id is the header up to its first space, and these headers "
            "differ after it: to use whole headers as ids, replace their spaces, e.g. "
            "sed '/^>/s/ /_/g'"
        )
    return "rename or drop one"
