"""BED / narrowPeak intervals read from a genome FASTA as records (`IntervalSource`).

One record per interval: the window `dnanet.inputs.bed.window_of` cuts (``--window N`` bases
around the summit or centre, or the interval itself), reverse-complemented on the ``-`` strand,
named ``chrom:start-end(strand)``. An interval whose window runs off its chromosome's end is
skipped and counted (the count and the first such line are kept in provenance and printed); a
chromosome missing from the genome is an error naming the BED line, with a hint when the BED and
the genome name chromosomes differently. With ``--exclude BED`` (a blacklist), a window that
overlaps a listed region is left out and counted (provenance ``skipped.excluded``). Inputs of this
kind come from `dnanet.inputs.sources.resolve_inputs`, which gives it to a
`dnanet.inputs.sources.LabelledInput`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple

from dnanet.errors import DnanetError
from dnanet.inputs.bed import Interval, read_intervals, record_id, reverse_complement, window_of
from dnanet.inputs.coverage import read_excluded
from dnanet.inputs.digest import digest, file_sha256
from dnanet.inputs.genome import open_genome
from dnanet.inputs.read import FastaRecord, check_input_file


class Window(NamedTuple):
    """The window read for one interval: 0-based half-open ``[start, end)`` on `chrom`, strand,
    and the interval it came from (BED line in ``interval.line``)."""

    chrom: str
    start: int
    end: int
    strand: str
    interval: Interval


class IntervalSource:
    """The records of a BED / narrowPeak file read from a genome (see the module docstring)."""

    kind = "intervals"

    def __init__(
        self,
        path: Path,
        genome: Path,
        window: int | None,
        trained: bool = False,
        exclude: Path | None = None,
    ):
        self.path, self.genome_path, self.window = Path(path), Path(genome), window
        self.trained = trained  # the window is the run's training window, not --window
        self.exclude = Path(exclude) if exclude is not None else None  # --exclude: a blacklist
        self.skipped, self.first_skipped, self.intervals, self.excluded = 0, "", 0, 0

    @property
    def genome(self):
        return open_genome(self.genome_path)

    def check(self) -> None:
        check_input_file(self.path)
        self.genome  # noqa: B018  (opens, indexing it when needed: errors come before any reading)

    def windows(self) -> Iterator[Window]:
        """Each interval's window, in file order; those running off a chromosome end are counted
        (`skipped`, `first_skipped`), not yielded. A chromosome the genome lacks is an error."""
        sizes = self.genome.sizes
        self.skipped, self.first_skipped, self.intervals, self.excluded = 0, "", 0, 0
        blacklist = read_excluded(self.exclude) if self.exclude is not None else None
        for interval in read_intervals(self.path):
            self.intervals += 1
            size = sizes.get(interval.chrom)
            if size is None:
                raise DnanetError(
                    f"{self.path} line {interval.line}: chromosome '{interval.chrom}' is not in "
                    f"the genome {self.genome_path}{_naming_hint(interval.chrom, sizes)}; remove "
                    "such lines (e.g. grep -v) or give the genome the intervals refer to"
                )
            start, end = window_of(interval, self.window)
            if start < 0 or end > size:
                self.skipped += 1
                self.first_skipped = self.first_skipped or (
                    f"line {interval.line}, {interval.chrom}:{start}-{end} on a {size:,}-base "
                    "chromosome"
                )
                continue
            if blacklist is not None and blacklist.overlaps(interval.chrom, start, end):
                self.excluded += 1
                continue
            yield Window(interval.chrom, start, end, interval.strand, interval)
        if self.skipped and self.skipped == self.intervals:
            raise DnanetError(
                f"{self.path}: all {self.intervals:,} intervals were skipped: "
                f"{self.skip_reason()} (first: {self.first_skipped})"
            )

    def records(self) -> Iterator[FastaRecord]:
        genome = self.genome
        for window in self.windows():
            yield FastaRecord(
                record_id(*window[:4]),
                read_window(genome, window),
                window.interval.line,
                window.interval.name,
            )

    def count(self) -> int:
        return sum(1 for _ in self.windows())

    def skip_reason(self) -> str:
        return (
            "the window runs off the chromosome end"
            if self.window is not None
            else "the interval runs past the chromosome end"
        )

    def notes(self) -> list[str]:
        """The lines printed about the window when it was not given and skipped intervals (none when
        nothing was skipped)."""
        notes = (
            [
                f"{self.path}: intervals read as {self.window}-base windows around their summits "
                "or centres, the run's training window (--window changes it)"
            ]
            if self.trained
            else []
        )
        if self.excluded:
            notes.append(
                f"{self.path}: {self.excluded:,} of {self.intervals:,} intervals left out: their "
                f"window overlaps a region of --exclude {self.exclude}"
            )
        if self.skipped:
            notes.append(
                f"{self.path}: {self.skipped:,} of {self.intervals:,} intervals skipped: "
                f"{self.skip_reason()} (first: {self.first_skipped})"
            )
        return notes

    def provenance(self) -> dict:
        return {
            "sha256": file_sha256(self.path),
            "genome": self.genome.fingerprint(),
            "window": self.window,
            "intervals": self.intervals,
            "skipped": {
                "off_chromosome_end": self.skipped,
                **({"excluded": self.excluded} if self.exclude is not None else {}),
            },
            "exclude": _exclude_fingerprint(self.exclude),
            "notes": self.notes(),
        }

    def key(self) -> str:
        return digest(
            {
                "kind": "intervals",
                "bed": file_sha256(check_input_file(self.path)),
                "genome": self.genome.fingerprint(),
                "window": self.window,
                **({"exclude": file_sha256(self.exclude)} if self.exclude is not None else {}),
            }
        )


def _exclude_fingerprint(path: Path | None) -> dict | None:
    """The --exclude file's path and SHA-256, for provenance (None without one)."""
    return None if path is None else {"path": str(path.resolve()), "sha256": file_sha256(path)}


def read_window(genome, window: Window) -> bytes:
    """The bases of a window, reverse-complemented when its strand is ``-``."""
    sequence = genome.fetch(window.chrom, window.start, window.end)
    return reverse_complement(sequence) if window.strand == "-" else sequence


def _naming_hint(chrom: str, sizes: dict[str, int]) -> str:
    other = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
    if other in sizes:
        return f" (it has '{other}': the BED and the genome name chromosomes differently)"
    names = list(sizes)
    return (
        f" (its {len(names)} chromosomes: {', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''})"
    )
