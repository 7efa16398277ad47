"""Reading FASTA files and label tables: the boundary where every input is validated.

Sequence letter policy (upper or lower case, the same for every command):

- ``A C G T`` are the four bases; ``U`` is read as ``T`` (RNA input).
- ``N`` and the IUPAC ambiguity codes ``R Y S W K M B D H V`` (Biopython's IUPAC table) are
  accepted and encoded as an *unknown* base (an all-zero one-hot column, an "unknown" k-mer).
- Spaces, tabs, blank lines and CR (Windows) line ends are ignored.
- Any other character (gaps ``-``, digits, ``*``, binary bytes) is an error naming the file,
  the line, the record and the character.

A record's id is its header up to the first whitespace. Header lines (and label tables) must be
UTF-8: other bytes are an error naming the line, never replaced, so two different headers can
never become one id.

Files may be plain or gzip/BGZF-compressed (detected from their first bytes, not their name).
Records stream one at a time, so reading never holds a whole file in memory. The parser is a
plain line reader rather than ``Bio.SeqIO``: SeqIO reads about 23 MB/s on these machines, four
times too slow for the data loader's target (see scripts/bench_data.py).
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from Bio.Data.IUPACData import ambiguous_dna_letters

from dnanet.errors import DnanetError

BASES = b"ACGTU"
AMBIGUOUS = bytes(sorted(set(ambiguous_dna_letters.encode()) - set(b"ACGT")))  # b"BDHKMNRSVWY"
WHITESPACE = b" \t\r\n\v\f"
ALLOWED = BASES + BASES.lower() + AMBIGUOUS + AMBIGUOUS.lower() + WHITESPACE

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
_OTHER_COMPRESSION = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"(\xb5/\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
_READ_BUFFER = 1 << 20


class FastaRecord(NamedTuple):
    """One FASTA record: its id (header up to the first space), sequence bytes, header line."""

    id: str
    sequence: bytes  # letters as in the file, whitespace removed, validated against ALLOWED
    line: int  # 1-based line number of the '>' header
    name: str = ""  # a record read from a BED interval: the interval's name (column 4)


CLASS_NAME_SUFFIXES = (".gz", ".txt", *FASTA_SUFFIXES)
"""Dropped from the end of a file name to give its class, in any combination (x.fa.gz, x.txt)."""


def class_name_from_path(path: str | Path) -> str:
    """The class a FASTA file names: its file name less every trailing .gz, .txt and
    .fa/.fasta/.fna/.fas (any case): ``prob_sigma24promoter.txt`` and ``bound.fasta.gz`` are
    classes ``prob_sigma24promoter`` and ``bound``. A name that is nothing but those stays whole."""
    name = Path(path).name
    while True:
        suffix = next(
            (s for s in CLASS_NAME_SUFFIXES if name.lower().endswith(s) and len(name) > len(s)),
            None,
        )
        if suffix is None:
            return name
        name = name[: -len(suffix)]


def check_input_file(path: str | Path) -> Path:
    """Return `path` as a Path if it is a readable, non-empty regular file; else raise one line
    naming it: missing, a directory, a symbolic link that loops or leads nowhere, a file this user
    may not read, or empty."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DnanetError(
                f"{path}: a symbolic link that loops (it leads back to itself)"
            ) from None
        if error.errno == errno.ENOENT:
            broken = " (a symbolic link to a missing file)" if path.is_symlink() else ""
            raise DnanetError(f"{path}: no such file{broken}") from None
        raise DnanetError(f"{path}: cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(status.st_mode):
        raise DnanetError(f"{path}: is a directory, expected a file")
    try:
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
    except PermissionError:
        raise DnanetError(f"{path}: permission denied (this user may not read it)") from None
    except OSError as error:
        raise DnanetError(f"{path}: cannot be read ({error.strerror or error})") from None
    if status.st_size == 0:
        raise DnanetError(f"{path}: the file is empty")
    return path


def open_binary(path: Path) -> BinaryIO:
    """Open a plain or gzip file for fast binary line iteration; reject other compressions."""
    raw = open(path, "rb")
    magic = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
    if magic[:2] == b"\x1f\x8b":
        raw.close()  # GzipFile opens (and closes) its own handle
        return io.BufferedReader(gzip.GzipFile(path, "rb"), buffer_size=_READ_BUFFER)
    for signature, kind in _OTHER_COMPRESSION.items():
        if magic.startswith(signature):
            raw.close()
            raise DnanetError(
                f"{path}: {kind}-compressed files are not supported; use plain or gzip"
            )
    return raw


def read_fasta(path: str | Path) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file, validating each one (see the module docstring).

    Raises DnanetError for a missing, empty, non-FASTA, truncated or corrupt file, a record
    without an id or sequence, or an illegal character, naming the file and line.
    """
    path = check_input_file(path)
    with open_binary(path) as handle:
        try:
            yield from _parse(handle, path)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise DnanetError(f"{path}: truncated or corrupt gzip file ({error})") from None


def _parse(handle: BinaryIO, path: Path) -> Iterator[FastaRecord]:
    header: bytes | None = None
    header_line = 0
    chunks: list[bytes] = []
    n_records = 0
    for line in handle:
        if line[0] == 62:  # '>'
            if header is not None:
                yield _make_record(path, header, header_line, chunks)
                n_records += 1
            header_line += 1 + len(chunks)
            header, chunks = line, []
        elif header is None:
            if line.strip():
                raise DnanetError(
                    f"{path} line {header_line + len(chunks) + 1}: expected a FASTA header "
                    f"starting with '>', found {_snippet(line)}"
                )
            chunks.append(line)
        else:
            chunks.append(line)
    if header is None:
        raise DnanetError(f"{path}: no FASTA records (no line starts with '>')")
    yield _make_record(path, header, header_line, chunks)


def _make_record(path: Path, header: bytes, line: int, chunks: list[bytes]) -> FastaRecord:
    try:
        fields = header[1:].decode("utf-8").split(None, 1)
    except UnicodeDecodeError as error:
        shown = header.rstrip(b"\r\n")[:60].decode("utf-8", "backslashreplace")
        raise DnanetError(
            f"{path} line {line}, column {error.start + 2}: the header has a byte that is not "
            f"UTF-8 (0x{header[1 + error.start]:02x} in '{shown}'); ids must be UTF-8 text"
        ) from None
    if not fields:
        raise DnanetError(f"{path} line {line}: the header '>' has no record id")
    record_id = fields[0]
    raw = b"".join(chunks)
    if raw.translate(None, ALLOWED):
        _raise_illegal(path, record_id, line, chunks)
    sequence = raw.translate(None, WHITESPACE)
    if not sequence:
        raise DnanetError(f"{path} line {line}: record '{record_id}' has an empty sequence")
    return FastaRecord(record_id, sequence, line)


def _raise_illegal(path: Path, record_id: str, line: int, chunks: list[bytes]) -> None:
    for offset, chunk in enumerate(chunks, start=1):
        bad = chunk.translate(None, ALLOWED)
        if bad:
            column = chunk.index(bad[:1]) + 1
            char = bytes(bad[:1]).decode("latin-1")
            raise DnanetError(
                f"{path} line {line + offset}, column {column}: record '{record_id}' has an "
                f"illegal character {char!r}; allowed: A C G T U, the IUPAC codes "
                f"{' '.join(AMBIGUOUS.decode())} (any case)"
            )


def _snippet(line: bytes) -> str:
    text = line[:40].decode("utf-8", "replace").rstrip("\r\n")
    return repr(text + ("…" if len(line) > 40 else ""))


SPLIT_VALUES = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}
"""Values of a label table's split column (any case) and the part each names."""


def table_columns(path: str | Path) -> list[str]:
    """The column names in a label table's header row (read as `read_label_table` reads it)."""
    return [str(column) for column in _read_table(check_input_file(path), rows=0).columns]


def _read_table(path: Path, rows: int | None = None):
    """The table as strings (opened like a FASTA file: gzip is detected from the content)."""
    import pandas as pd

    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    kind = "CSV" if sep == "," else "TSV"
    try:
        with (
            warnings.catch_warnings(),
            open_binary(path) as handle,
        ):  # a trailing separator is harmless
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            return pd.read_csv(
                handle,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                index_col=False,
                skip_blank_lines=False,
                nrows=rows,
                encoding="utf-8",
            )
    except UnicodeDecodeError:
        raise DnanetError(
            f"{path} {_first_non_utf8(path)}: a byte that is not UTF-8; label tables must be UTF-8 "
            "text"
        ) from None
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        EOFError,
        OSError,
        zlib.error,
    ) as error:
        raise DnanetError(
            f"{path}: cannot read as a {kind} table ({' '.join(str(error).split())})"
        ) from None


def _shown(text) -> str:
    """A table value as a message shows it: on one line (a quoted field may hold a line end)."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(text))


def _first_non_utf8(path: Path) -> str:
    """'line N, column C' of a file's first byte that is not UTF-8 (a sequence cut by a line end
    counts)."""
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return f"line {number}, column {error.start + 1}"
    return "line 1"  # not reached: pandas found the byte in the same stream


def read_label_table(
    path: str | Path,
    id_column: str = "id",
    label_columns: str | list[str] = "label",
    split_column: str | None = None,
) -> dict[str, tuple[str, ...]]:
    """Read a TSV/CSV table (a header row, then one row per sequence) into
    {record id: (value of each label column,)}.

    The separator is a comma for .csv files and a tab otherwise. Missing columns, duplicate
    ids and empty labels are errors naming the file and the row. With `split_column`, each
    row's part (train, validation or test; `SPLIT_VALUES`) is checked and appended to its tuple.
    """
    path = check_input_file(path)
    table = _read_table(path)
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    if split_column is not None:
        label_columns.append(split_column)
    for column in (id_column, *label_columns):
        if column not in table.columns:
            found = ", ".join(_shown(column) for column in table.columns) or "none"
            raise DnanetError(f"{path} line 1: no column '{column}' (columns found: {found})")
    table.index = table.index + 2  # file line numbers: the header is line 1, blank lines count
    table = table[(table != "").any(axis=1)]
    ids, labels = (
        table[id_column].str.strip(),
        table[label_columns].apply(lambda column: column.str.strip()),
    )
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        line, repeated = duplicated.index[0], duplicated.iloc[0]
        first = ids.index[(ids == repeated).to_numpy()][0]
        raise DnanetError(
            f"{path} lines {first} and {line}: id '{_shown(repeated)}' appears more than once; "
            "each id names one record"
        )
    empty = labels[
        (labels[label_columns[:-1] if split_column is not None else label_columns] == "").any(
            axis=1
        )
    ]
    if len(empty):
        raise DnanetError(
            f"{path} line {empty.index[0]}: id '{_shown(ids[empty.index[0]])}' has an empty label"
        )
    if split_column is not None:
        parts = labels[split_column].str.lower().map(SPLIT_VALUES)
        bad = parts[parts.isna()]
        if len(bad):
            raise DnanetError(
                f"{path} line {bad.index[0]}: split "
                f"'{_shown(labels[split_column][bad.index[0]])}' of id "
                f"'{_shown(ids[bad.index[0]])}' is not train, validation (or val) or test"
            )
        labels = labels.assign(**{split_column: parts})
    return dict(zip(ids, labels.itertuples(index=False, name=None)))


def record_from_text(record_id: str, sequence: str, position: int, where: str) -> FastaRecord:
    """A sequence held in memory (a notebook's list or mapping) as a record, under the same letter
    policy as a FASTA file's. `where` names it in errors, e.g. "sequences[3]"; the record's `line`
    is its 1-based `position`. Raises DnanetError for an empty id or sequence, or an illegal
    character (naming its position)."""
    if not isinstance(sequence, (str, bytes)):
        raise DnanetError(f"{where}: a sequence must be a string, not {type(sequence).__name__}")
    if not str(record_id).strip() or any(c.isspace() for c in str(record_id)):
        raise DnanetError(f"{where}: record id {str(record_id)!r} is empty or has white space")
    raw = sequence.encode("latin-1", "replace") if isinstance(sequence, str) else sequence
    bad = raw.translate(None, ALLOWED)
    if bad:
        raise DnanetError(
            f"{where}: record '{record_id}' has an illegal character "
            f"{bytes(bad[:1]).decode('latin-1')!r} at position {raw.index(bad[:1]) + 1}; allowed: "
            f"A C G T U, the IUPAC codes {' '.join(AMBIGUOUS.decode())} (any case)"
        )
    letters = raw.translate(None, WHITESPACE)
    if not letters:
        raise DnanetError(f"{where}: record '{record_id}' has an empty sequence")
    return FastaRecord(str(record_id), letters, position)
