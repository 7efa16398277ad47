"""The genome-window bookkeeping behind gc-matched and flank backgrounds
(`dnanet.inputs.backgrounds`).

A window's composition and GC bin; random window starts drawn in proportion to chromosome size
(`WindowDraws`); the regions no background may overlap (`ExcludedRegions`: positive intervals and
windows, merged once) and the backgrounds already chosen (`TakenWindows`, kept sorted as they come);
and the pools of spare windows, keyed by (length, GC bin), that later positives take from
(`pop_spare`, `nearest_spare`). Kept apart from the generators so that each is read on its own.
"""

from __future__ import annotations

import bisect

import numpy as np

MAX_UNKNOWN = 0.10  # windows with a larger share of N / IUPAC codes are never backgrounds
GC_BINS = 50  # GC fraction bins (0.02 wide)


def composition(sequence: bytes) -> tuple[float, float]:
    """(GC fraction of the called bases (NaN if none), share of unknown bases) of ASCII bases."""
    upper = sequence.upper()
    gc = upper.count(b"G") + upper.count(b"C")
    called = gc + upper.count(b"A") + upper.count(b"T") + upper.count(b"U")
    return (gc / called if called else float("nan")), 1 - called / max(len(sequence), 1)


def gc_bin(gc: float) -> int:
    """The GC bin (0..GC_BINS - 1) of a GC fraction; -1 for NaN."""
    return -1 if gc != gc else min(int(gc * GC_BINS), GC_BINS - 1)


class WindowDraws:
    """Random window starts on `chroms` (chosen in proportion to their `sizes`), drawn in blocks."""

    def __init__(
        self, rng: np.random.Generator, chroms: list[str], sizes: list[int], block: int = 256
    ):
        self.rng, self.chroms, self.sizes, self.block = (
            rng,
            chroms,
            np.asarray(sizes, dtype=np.int64),
            block,
        )
        self.weights = self.sizes / self.sizes.sum()
        self.which, self.where, self.used = np.zeros(0, np.int64), np.zeros(0), 0

    def next(self, length: int) -> tuple[str, int]:
        """(chrom, start) of a window of `length`, start -1 when the chromosome is too short."""
        if self.used == len(self.which):
            self.which = self.rng.choice(len(self.chroms), self.block, p=self.weights)
            self.where, self.used = self.rng.random(self.block), 0
        index, fraction = int(self.which[self.used]), float(self.where[self.used])
        self.used += 1
        room = int(self.sizes[index]) - length + 1
        return self.chroms[index], int(fraction * room) if room > 0 else -1


class ExcludedRegions:
    """Regions no background may overlap: intervals added in any order, merged by `freeze`."""

    def __init__(self):
        self.parts: dict[str, list[tuple[int, int]]] = {}
        self.merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, chrom: str, start: int, end: int) -> None:
        self.parts.setdefault(chrom, []).append((max(start, 0), end))

    def freeze(self) -> None:
        for chrom, parts in self.parts.items():
            parts.sort()
            starts, ends = [parts[0][0]], [parts[0][1]]
            for start, end in parts[1:]:
                if start <= ends[-1]:
                    ends[-1] = max(ends[-1], end)
                else:
                    starts.append(start)
                    ends.append(end)
            self.merged[chrom] = (np.array(starts), np.array(ends))

    def overlaps(self, chrom: str, start: int, end: int) -> bool:
        if chrom not in self.merged:
            return False
        starts, ends = self.merged[chrom]
        index = int(np.searchsorted(ends, start, side="right"))  # first region ending after `start`
        return index < len(starts) and starts[index] < end


class TakenWindows:
    """Backgrounds already chosen: disjoint intervals per chromosome, kept sorted."""

    def __init__(self):
        self.starts: dict[str, list[int]] = {}
        self.ends: dict[str, list[int]] = {}

    def add(self, chrom: str, start: int, end: int) -> None:
        starts, ends = self.starts.setdefault(chrom, []), self.ends.setdefault(chrom, [])
        index = bisect.bisect_left(starts, start)
        starts.insert(index, start)
        ends.insert(index, end)

    def overlaps(self, chrom: str, start: int, end: int) -> bool:
        ends = self.ends.get(chrom)
        if not ends:
            return False
        index = bisect.bisect_right(ends, start)
        return index < len(ends) and self.starts[chrom][index] < end


def pop_spare(
    pool: dict, key: tuple[int, int], taken: TakenWindows, length: int
) -> tuple[str, int] | None:
    """A spare window of `key` = (length, GC bin) that overlaps no chosen background, or None."""
    spare = pool.get(key)
    while spare:
        chrom, start = spare.popleft()
        if not taken.overlaps(chrom, start, start + length):
            return chrom, start
    return None


def nearest_spare(
    pool: dict, length: int, target: int, taken: TakenWindows
) -> tuple[str, int] | None:
    """A spare window of `length` from the GC bin nearest `target` (any bin when `target` is -1)."""
    target = target if target >= 0 else GC_BINS // 2
    for distance in range(GC_BINS):
        for candidate in dict.fromkeys((target - distance, target + distance)):
            found = pop_spare(pool, (length, candidate), taken, length)
            if found is not None:
                return found
    return None
