"""A genome FASTA opened for random access: windows by coordinate and chromosome sizes.

The genome is read through pyfaidx with its ``.fai`` index (and, for bgzip, its ``.gzi``):
plain or bgzip-compressed (BGZF) FASTA. A plain-gzip FASTA cannot be read at a position
without decompressing everything before it, so it is refused with what to do (bgzip or gunzip
it). A missing index is built beside the genome once (under a temporary name, then renamed, so
a killed build never leaves a truncated index that would hide chromosomes); a folder that cannot
be written is a clear error. Coordinates are 0-based, half-open, as in BED.

Every window read is checked against `dnanet.inputs.read`'s letter policy (A C G T U, N and the
IUPAC codes, any case): another character is an error naming the genome, chromosome and position.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dnanet.errors import DnanetError
from dnanet.inputs.read import ALLOWED, AMBIGUOUS, WHITESPACE, check_input_file

LETTERS = ALLOWED.translate(None, WHITESPACE)  # what a genome window may hold
_OPEN: dict[tuple[str, int, int], "Genome"] = {}


def is_bgzf(header: bytes) -> bool:
    """Whether a gzip file's first 18 bytes are a BGZF block header (gzip with the 'BC' extra
    field)."""
    return len(header) >= 14 and header[:4] == b"\x1f\x8b\x08\x04" and header[12:14] == b"BC"


class Genome:
    """A genome FASTA with its index: `sizes` (chromosome -> length, in file order) and `fetch`."""

    def __init__(self, path: Path):
        import pyfaidx

        self.path = check_input_file(path)
        with open(self.path, "rb") as handle:
            header = handle.read(18)
        if header[:2] == b"\x1f\x8b" and not is_bgzf(header):
            raise DnanetError(
                f"{self.path}: a plain-gzip FASTA cannot be read at random positions; recompress "
                f"it with bgzip (gunzip {self.path.name} && bgzip "
                f"{self.path.name.removesuffix('.gz')}) or gunzip it"
            )
        _build_index(self.path)
        try:
            self._fasta = pyfaidx.Fasta(
                str(self.path),
                as_raw=True,
                strict_bounds=True,
                sequence_always_upper=False,
                build_index=False,
                rebuild=False,
            )
        except (
            pyfaidx.FastaIndexingError,
            pyfaidx.UnsupportedCompressionFormat,
            pyfaidx.IndexNotFoundError,
            ValueError,
            OSError,
        ) as error:
            raise DnanetError(
                f"{self.path}: cannot open as an indexed genome FASTA ({_one_line(error)})"
            ) from None
        self.sizes: dict[str, int] = {
            name: record.rlen for name, record in self._fasta.faidx.index.items()
        }
        if not self.sizes:
            raise DnanetError(f"{self.path}: the genome has no sequences")

    def fetch(self, chrom: str, start: int, end: int) -> bytes:
        """The bases of ``chrom[start:end]`` (0-based, half-open) as ASCII bytes, case as in the
        file.

        The caller keeps `start`..`end` inside the chromosome (`sizes`)."""
        if chrom not in self.sizes:
            raise DnanetError(f"{self.path}: no chromosome '{chrom}'")
        sequence = (
            self._fasta.faidx.fetch(chrom, start + 1, end).encode("ascii", "replace")
            if end > start
            else b""
        )
        bad = sequence.translate(None, LETTERS)
        if bad:
            offset = sequence.index(bad[:1])
            raise DnanetError(
                f"{self.path}: {chrom} position {start + offset + 1:,} has an illegal character "
                f"{chr(bad[0])!r}; allowed: A C G T U, the IUPAC codes "
                f"{' '.join(AMBIGUOUS.decode())} (any case)"
            )
        return sequence

    def fingerprint(self) -> dict:
        """What identifies this genome cheaply (a whole-genome SHA-256 would reread gigabytes each
        run): its absolute path, size in bytes, modification time and the SHA-256 of its index
        (names, lengths, offsets). Kept in model.json and in what names a sequence store, so an
        edited genome is never mistaken for the old one."""
        stat = self.path.stat()
        index = Path(f"{self.path}.fai").read_bytes()
        return {
            "path": str(self.path.resolve()),
            "bytes": stat.st_size,
            "modified_ns": stat.st_mtime_ns,
            "index_sha256": hashlib.sha256(index).hexdigest(),
        }

    def close(self) -> None:
        self._fasta.close()


def open_genome(path: str | Path) -> Genome:
    """The `Genome` at `path`, opened once per process (and again when the file changes)."""
    path = check_input_file(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _OPEN:
        _OPEN[key] = Genome(path)
    return _OPEN[key]


def _build_index(path: Path) -> None:
    """Write ``PATH.fai`` (and ``PATH.gzi`` for bgzip) when missing or older than the FASTA,
    atomically."""
    import pyfaidx

    fai, gzi = Path(f"{path}.fai"), Path(f"{path}.gzi")
    bgzip = _is_bgzf_file(path)
    fresh = fai.exists() and fai.stat().st_mtime >= path.stat().st_mtime
    if fresh and (not bgzip or gzi.exists()):
        return
    temporary = [Path(f"{name}.{os.getpid()}.partial") for name in (fai, gzi)]
    try:
        try:
            pyfaidx.Faidx(
                str(path),
                indexname=str(temporary[0]),
                gzi_indexname=str(temporary[1]) if bgzip else None,
                build_index=True,
                rebuild=True,
            ).close()
        except OSError as error:
            raise DnanetError(
                f"{path}: cannot write its index {fai} beside it ({error.strerror or error}); copy "
                "the genome to a folder you can write, or index it there once (samtools faidx)"
            ) from None
        except (
            pyfaidx.FastaIndexingError,
            pyfaidx.UnsupportedCompressionFormat,
            ValueError,
        ) as error:
            raise DnanetError(
                f"{path}: cannot index the genome FASTA ({_one_line(error)})"
            ) from None
        if bgzip:
            os.replace(temporary[1], gzi)
        os.replace(temporary[0], fai)
    finally:
        for name in temporary:
            name.unlink(missing_ok=True)


def _is_bgzf_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        return is_bgzf(handle.read(18))


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
