"""BED intervals: parsing (BED3, BED6 with strand, narrowPeak with its summit), windows and record
ids.

A BED line is ``chrom start end [name score strand ...]``, tab-separated, 0-based half-open.
Lines that are blank or start with ``#``, ``track`` or ``browser`` are skipped. Column 6, when
present, is the strand (``+``, ``-`` or ``.``); a line of exactly 10 columns is narrowPeak and its
10th column is the summit's offset from the start (``-1``: none), whatever the file is called
(ENCODE serves narrowPeak as ``.bed.gz``). A malformed line is an error naming the file and line.

A record read from an interval is named ``chrom:start-end(strand)``, the 0-based half-open
coordinates of the window actually read, e.g. ``chr2:1000-1200(+)`` (`record_id`); generated
shuffles append ``/shuffle<k>`` to their positive's id. `parse_record_id` reads both back.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Iterator, NamedTuple

from dnanet.errors import DnanetError
from dnanet.inputs.read import FASTA_SUFFIXES, check_input_file, open_binary

INTERVAL_SUFFIXES = (".bed", ".narrowpeak", ".broadpeak", ".bed3", ".bed6")
STRANDS = ("+", "-", ".")
_COMPLEMENT = bytes.maketrans(
    b"ACGTUNRYSWKMBDHVacgtunryswkmbdhv", b"TGCAANYRSWMKVHDBtgcaanyrswmkvhdb"
)
_ID = re.compile(
    r"^(?P<chrom>.+):(?P<start>[0-9]+)-(?P<end>[0-9]+)\((?P<strand>[-+.])\)(?:/[A-Za-z0-9_-]+)?$"
)


class Interval(NamedTuple):
    """One BED line: 0-based half-open ``[start, end)`` on `chrom`, its strand (``+ - .``), the
    narrowPeak summit offset from `start` (-1: none), its 1-based line number in the file and its
    name (column 4)."""

    chrom: str
    start: int
    end: int
    strand: str
    summit: int
    line: int
    name: str = ""  # column 4 (a narrowPeak's peak name); "" when absent or "."


def is_interval_file(path: str | Path) -> bool:
    """Whether an input is a BED-like interval file rather than a FASTA: by its name (.bed,
    .narrowPeak, .broadPeak, .bed3, .bed6, each optionally .gz), else, for a name that is not a
    FASTA name, by content (the first line that is not blank or a comment is not a FASTA header and
    has integer columns 2 and 3)."""
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith(INTERVAL_SUFFIXES):
        return True
    if name.endswith(FASTA_SUFFIXES) or not Path(path).is_file():
        return False
    try:
        with open_binary(Path(path)) as handle:
            for number, raw in enumerate(handle):
                line = raw.decode("utf-8", "replace").strip()
                if line and not line.startswith(("#", "track", "browser")):
                    fields = _fields(line)
                    return len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit()
                if number > 1000:
                    return False
    except (OSError, EOFError, zlib.error, DnanetError):
        return False
    return False


def read_intervals(path: str | Path) -> Iterator[Interval]:
    """Stream the intervals of a BED / narrowPeak file (plain or gzip), validating each line.

    Raises DnanetError naming the file and line for too few columns, a start or end that is not
    a whole number, start >= end, a strand other than + - ., or a summit outside the interval.
    """
    path = check_input_file(path)
    count = 0
    with open_binary(path) as handle:
        try:
            for number, raw in enumerate(handle, start=1):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                yield _interval(path, number, _fields(line))
                count += 1
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise DnanetError(f"{path}: truncated or corrupt gzip file ({error})") from None
    if not count:
        raise DnanetError(f"{path}: no intervals (every line is blank or a comment)")


def _fields(line: str) -> list[str]:
    return line.split("\t") if "\t" in line else line.split()


def _interval(path: Path, number: int, fields: list[str]) -> Interval:
    where = f"{path} line {number}"
    if len(fields) < 3:
        raise DnanetError(
            f"{where}: expected at least 3 tab-separated columns (chrom, start, end), found "
            f"{len(fields)}: {' '.join(fields)[:60]!r}"
        )
    chrom = fields[0].strip()
    start, end = (_whole(where, name, fields[i]) for i, name in ((1, "start"), (2, "end")))
    if not chrom:
        raise DnanetError(f"{where}: empty chromosome name")
    if start >= end:
        raise DnanetError(
            f"{where}: start {start} is not below end {end} (BED is 0-based, half-open)"
        )
    strand = fields[5].strip() if len(fields) >= 6 else "."
    if strand not in STRANDS:
        raise DnanetError(f"{where}: strand (column 6) is {strand!r}; expected +, - or .")
    summit = -1
    if len(fields) == 10:  # narrowPeak: column 10 is the summit's offset from the start
        text = fields[9].strip()
        summit = -1 if text == "-1" else _whole(where, "summit (column 10 of narrowPeak)", text)
        if summit >= end - start:
            raise DnanetError(
                f"{where}: summit offset {summit} lies outside the {end - start}-base interval"
            )
    name = fields[3].strip() if len(fields) >= 4 else ""
    return Interval(chrom, start, end, strand, summit, number, "" if name == "." else name)


def _whole(where: str, name: str, text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise DnanetError(f"{where}: {name} is {text!r}, expected a whole number >= 0")
    return int(text)


def window_of(interval: Interval, width: int | None) -> tuple[int, int]:
    """The ``[start, end)`` a record reads for `interval`: the interval itself when `width` is
    None, else `width` bases centred on the narrowPeak summit (or on the interval's centre when
    it has none): ``centre - width // 2`` up to ``centre - width // 2 + width``. It may run off
    the chromosome (start < 0 or past its end); the caller checks that."""
    if width is None:
        return interval.start, interval.end
    centre = interval.start + (
        interval.summit if interval.summit >= 0 else (interval.end - interval.start) // 2
    )
    start = centre - width // 2
    return start, start + width


def record_id(chrom: str, start: int, end: int, strand: str) -> str:
    """``chrom:start-end(strand)``, 0-based half-open: the id of the window a record was read
    from."""
    return f"{chrom}:{start}-{end}({strand})"


def parse_record_id(text: str) -> tuple[str, int, int, str] | None:
    """(chrom, start, end, strand) of an id made by `record_id`, with or without a generated
    suffix such as ``/shuffle1``; None for any other id."""
    match = _ID.match(text)
    if match is None:
        return None
    return match["chrom"], int(match["start"]), int(match["end"]), match["strand"]


def genome_span(record_id: str, start: int, end: int, strand: str) -> tuple | None:
    """Where ``[start, end)`` of a record read from a genome window lies on the genome:
    (chrom, start, end, strand), 0-based half-open, from the window's id (`parse_record_id`). A
    window read from the ``-`` strand was reverse-complemented, so its offsets count from the
    window's end and the strand flips. None for a record that is not a genome window."""
    place = parse_record_id(record_id)
    if place is None:
        return None
    chrom, window_start, window_end, window_strand = place
    if window_strand == "-":
        flipped = {"+": "-", "-": "+"}.get(strand, strand)
        return chrom, window_end - end, window_end - start, flipped
    return chrom, window_start + start, window_start + end, strand


def reverse_complement(sequence: bytes) -> bytes:
    """The reverse complement of ASCII bases (case kept; IUPAC codes complemented, N stays N)."""
    return sequence.translate(_COMPLEMENT)[::-1]
