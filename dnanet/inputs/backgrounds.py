"""Negatives generated from the positives: GC-matched genome windows, dinucleotide shuffles, flanks.

An input ``CLASS=KIND`` (KIND one of ``gc-matched``, ``shuffle``, ``flank``) is a class of
``--background-ratio`` R records per positive record, made from every other input (the
positives, all classes pooled). Each background belongs to one positive: it has that
positive's length and strand (a ``-`` strand window is reverse-complemented, like its
positive), and backgrounds come in the positives' order. Everything is drawn from one seeded
generator (the config's seed and the kind), so the same inputs and seed give the same records,
which a resumed run and the sequence store rely on.

- **gc-matched**: random windows of the chromosomes that hold positives (uniform over their
  bases), each in its positive's GC bin (GC fraction of the called bases, bins 0.02 wide), so the
  backgrounds have the positives' GC distribution; a window that overlaps any positive interval
  or window (skipped ones included) or an earlier background, or with more than 10% N (assembly
  gaps), is never used. Windows drawn for one positive but in another bin are kept for later
  positives of that bin. After `MAX_DRAWS` draws without a window in its bin, a positive takes one
  from the nearest bin (counted). Ids: the window, ``chrom:start-end(strand)``.
- **shuffle**: each positive's dinucleotide-preserving shuffle (`dnanet.inputs.shuffle`): the same
  length, base and dinucleotide composition, no motif order. Works for FASTA positives too. Ids:
  the positive's id plus ``/shuffle<k>``, k = 1..R (so its chromosome is the positive's).
- **flank**: the windows beside each positive interval: the first R of left/right (side order
  seeded) at 0, 1, ... R+1 widths out from the interval's (or window's, if wider) edge, skipping
  those off the chromosome, over a positive or an earlier background, or N-rich (counted when
  fewer than R are found). Ids: the window.
"""

from __future__ import annotations

from collections import deque
from typing import Iterator, NamedTuple

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.background_windows import (
    MAX_UNKNOWN,
    ExcludedRegions,
    TakenWindows,
    WindowDraws,
    composition,
    gc_bin,
    nearest_spare,
    pop_spare,
)
from dnanet.inputs.bed import read_intervals, record_id
from dnanet.inputs.digest import digest, file_sha256
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.inputs.interval_source import Window, read_window
from dnanet.inputs.read import FastaRecord
from dnanet.inputs.shuffle import dinucleotide_shuffle

BACKGROUND_KINDS = ("gc-matched", "shuffle", "flank")

MAX_DRAWS = 5_000  # random windows drawn for one background before taking the nearest GC bin
POOL_CAP = 1_000  # most spare windows kept per (length, GC bin)
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


class _Positive(NamedTuple):
    chrom: str
    start: int
    end: int
    strand: str
    line: int
    gc_bin: int  # -1: no called base
    interval_start: int
    interval_end: int


class BackgroundSource:
    """Generated negatives of one kind for the positive inputs (module docstring)."""

    def __init__(self, kind: str, positives: list, settings, read_records, key_of):
        """`positives`: the inputs it is generated from; `read_records(item)` and `key_of(item)`:
        their records and store keys (`dnanet.inputs.sources.input_records`, `input_key`)."""
        self.read_records, self.key_of = read_records, key_of
        self.kind, self.positives, self.ratio, self.seed = (
            kind,
            positives,
            settings.background_ratio,
            settings.seed,
        )
        self.window, self.genome_path = settings.width, settings.genome
        self.exclude = getattr(settings, "exclude", None)  # --exclude: regions never drawn
        self.stream = [self.seed, BACKGROUND_KINDS.index(kind)]  # the generator's seed
        self.stats: dict[str, int] = {}

    def check(self) -> None:
        if self.ratio < 1:
            raise DnanetError(f"--background-ratio {self.ratio}: must be at least 1")
        if self.kind == "shuffle":
            return
        for item in self.positives:
            if getattr(getattr(item, "source", None), "kind", None) != "intervals":
                raise DnanetError(
                    f"{self.kind}: draws windows from the genome near or away from the positive "
                    f"intervals, and {item.path} is not a BED file; give the positives as BED with "
                    "--genome, or use shuffle"
                )

    @property
    def genome(self):
        return self.positives[0].source.genome

    def records(self) -> Iterator[FastaRecord]:
        self.check()
        rng = np.random.default_rng(self.stream)
        self.stats = {"positives": 0, "generated": 0}
        generate = {
            "gc-matched": self._gc_matched,
            "shuffle": self._shuffled,
            "flank": self._flanks,
        }[self.kind]
        for record in generate(rng):
            self.stats["generated"] += 1
            yield record
        if not self.stats["generated"]:
            raise DnanetError(
                f"{self.kind}: no background window could be found for any of the "
                f"{self.stats['positives']:,} positives (is the genome mostly N, or covered by "
                "them?)"
            )

    def count(self) -> int:
        return sum(1 for _ in self.records())

    def _shuffled(self, rng: np.random.Generator) -> Iterator[FastaRecord]:
        for item in self.positives:
            for record in self.read_records(item):
                self.stats["positives"] += 1
                codes = np.frombuffer(_codes(record.sequence), dtype=np.uint8)
                for k in range(1, self.ratio + 1):
                    shuffled = _LETTERS[dinucleotide_shuffle(codes, rng)].tobytes()
                    yield FastaRecord(f"{record.id}/shuffle{k}", shuffled, record.line)

    def _gc_matched(self, rng: np.random.Generator) -> Iterator[FastaRecord]:
        genome = self.genome
        positives, excluded = self._positive_windows(genome)
        order = list(genome.sizes)
        chroms = sorted({p.chrom for p in positives}, key=order.index)
        draws = WindowDraws(rng, chroms, [genome.sizes[c] for c in chroms])
        taken, pool = TakenWindows(), {}
        self.stats.update(gc_unmatched=0, missing=0)
        for positive in positives:
            length = positive.end - positive.start
            for _ in range(self.ratio):
                found = (
                    pop_spare(pool, (length, positive.gc_bin), taken, length)
                    if positive.gc_bin >= 0
                    else None
                )
                for _ in range(MAX_DRAWS if found is None and positive.gc_bin >= 0 else 0):
                    chrom, start = draws.next(length)
                    if start < 0 or excluded.overlaps(chrom, start, start + length):
                        continue
                    gc, unknown = composition(genome.fetch(chrom, start, start + length))
                    if unknown > MAX_UNKNOWN:
                        continue
                    if gc_bin(gc) == positive.gc_bin and not taken.overlaps(
                        chrom, start, start + length
                    ):
                        found = (chrom, start)
                        break
                    spare = pool.setdefault((length, gc_bin(gc)), deque())
                    if len(spare) < POOL_CAP:
                        spare.append((chrom, start))
                if found is None:
                    found = nearest_spare(pool, length, positive.gc_bin, taken)
                    self.stats["gc_unmatched" if found is not None else "missing"] += 1
                    if found is None:
                        continue
                chrom, start = found
                taken.add(chrom, start, start + length)
                yield self._record(genome, chrom, start, start + length, positive)

    def _flanks(self, rng: np.random.Generator) -> Iterator[FastaRecord]:
        genome = self.genome
        positives, excluded = self._positive_windows(genome)
        taken = TakenWindows()
        self.stats.update(short_positives=0, missing=0)
        for positive in positives:
            width, size, got = positive.end - positive.start, genome.sizes[positive.chrom], 0
            left_edge = min(positive.start, positive.interval_start)
            right_edge = max(positive.end, positive.interval_end)
            for distance in range(self.ratio + 2):
                sides = (-1, 1) if rng.random() < 0.5 else (1, -1)
                for side in sides:
                    start = (
                        left_edge - (distance + 1) * width
                        if side < 0
                        else right_edge + distance * width
                    )
                    end = start + width
                    if (
                        start < 0
                        or end > size
                        or excluded.overlaps(positive.chrom, start, end)
                        or taken.overlaps(positive.chrom, start, end)
                    ):
                        continue
                    if composition(genome.fetch(positive.chrom, start, end))[1] > MAX_UNKNOWN:
                        continue
                    taken.add(positive.chrom, start, end)
                    yield self._record(genome, positive.chrom, start, end, positive)
                    got += 1
                    if got == self.ratio:
                        break
                if got == self.ratio:
                    break
            if got < self.ratio:
                self.stats["short_positives"] += 1
                self.stats["missing"] += self.ratio - got

    def _record(self, genome, chrom: str, start: int, end: int, positive: _Positive) -> FastaRecord:

        window = Window(chrom, start, end, positive.strand, None)
        return FastaRecord(
            record_id(chrom, start, end, positive.strand),
            read_window(genome, window),
            positive.line,
        )

    def _positive_windows(self, genome) -> tuple[list[_Positive], "ExcludedRegions"]:
        """Every positive's window with its GC bin, and the regions no background may touch: every
        interval of every positive file (skipped ones included) and every window read."""
        positives, excluded = [], ExcludedRegions()
        for item in self.positives:
            for window in item.source.windows():
                gc, _ = composition(genome.fetch(window.chrom, window.start, window.end))
                interval = window.interval
                positives.append(
                    _Positive(
                        window.chrom,
                        window.start,
                        window.end,
                        window.strand,
                        interval.line,
                        gc_bin(gc),
                        interval.start,
                        interval.end,
                    )
                )
                excluded.add(window.chrom, window.start, window.end)
            for interval in read_intervals(item.path):
                excluded.add(interval.chrom, interval.start, interval.end)
        for interval in read_intervals(self.exclude) if self.exclude is not None else ():
            excluded.add(interval.chrom, interval.start, interval.end)
        self.stats["positives"] = len(positives)
        excluded.freeze()
        return positives, excluded

    def notes(self) -> list[str]:
        """Lines about backgrounds that could not be made as asked (none when all were)."""
        stats, notes = self.stats, []
        if stats.get("gc_unmatched"):
            notes.append(
                f"{self.kind}: {stats['gc_unmatched']:,} of {stats['generated']:,} backgrounds are "
                f"from a neighbouring GC bin (no window in the positive's bin within {MAX_DRAWS:,} "
                "draws)"
            )
        if stats.get("missing"):
            why = (
                "no window of the positive's length and GC found"
                if self.kind == "gc-matched"
                else f"every flank within {self.ratio + 1} widths ran off the chromosome, "
                "overlapped a positive or another flank, or was N-rich"
            )
            notes.append(
                f"{self.kind}: {stats['missing']:,} of {stats['positives'] * self.ratio:,} "
                f"backgrounds missing ({why})"
            )
        return notes

    def provenance(self) -> dict:
        return {
            "sha256": None,
            "window": self.window,
            "genome": self.genome.fingerprint() if self.kind != "shuffle" else None,
            "background": {
                "kind": self.kind,
                "ratio": self.ratio,
                "seed": self.seed,
                "of": [str(item.path) for item in self.positives],
            },
            "generated": dict(self.stats),
            "notes": self.notes(),
        }

    def key(self) -> str:
        return digest(
            {
                "kind": self.kind,
                "ratio": self.ratio,
                "seed": self.seed,
                "version": 1,
                "positives": [[item.label, self.key_of(item)] for item in self.positives],
                **({"exclude": file_sha256(self.exclude)} if self.exclude is not None else {}),
            }
        )


def _codes(sequence: bytes) -> bytes:
    """ASCII bases -> codes 0-3, 4 for anything else (N, IUPAC codes)."""
    return sequence.translate(BYTE_TO_CODE)
