"""Coverage tracks (bigWig) read per genome window, for signal models, and a BED of regions to
exclude.

A track is given on the command line as ``NAME=PATH`` (or ``PATH``: the name is the file's stem)
and names a task (`parse_tracks`). `Coverage` opens each bigWig once, checks that its chromosomes
are the genome's (same names, same lengths; a track named ``1, 2, ...`` against a ``chr1, chr2,
...`` genome is an error with that hint) and reads per-base values of a window, forward strand,
as float32 ``(T, L)``; bases with no data (NaN in the bigWig) read as 0 and are counted.
`read_excluded` reads a blacklist BED into `ExcludedRegions`.

bigWig files are read through pyBigWig. A file is checked by its magic number before pyBigWig
opens it, because the library prints its own lines on stderr for a file that is not a bigWig.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.background_windows import ExcludedRegions
from dnanet.inputs.bed import read_intervals
from dnanet.inputs.digest import file_sha256

BIGWIG_MAGIC = (b"\x26\xfc\x8f\x88", b"\x88\x8f\xfc\x26")  # 0x888FFC26, either byte order
BIGBED_MAGIC = (b"\xeb\xf2\x89\x87", b"\x87\x89\xf2\xeb")  # 0x8789F2EB


@dataclass(frozen=True)
class Track:
    """A bigWig coverage track and the name of the task it is the target (or control) of."""

    name: str
    path: Path


def parse_tracks(values: list[str], option: str) -> list[Track]:
    """``NAME=PATH`` (or ``PATH``: name = the file's stem, e.g. ``chip`` for ``chip.bw``) strings
    of `option` (e.g. ``--signal``) as Tracks, in order. A missing file, a file that is not a
    bigWig, an empty name or a name given twice is a one-line error naming `option` and the
    file."""
    tracks: dict[str, Track] = {}
    for value in values:
        track = _parse_track(value, option)
        if track.name in tracks:
            raise DnanetError(
                f"{option}: the track name '{track.name}' is given twice ({tracks[track.name].path}"
                f" and {track.path}); name each track: {option} NAME=PATH"
            )
        tracks[track.name] = track
    return list(tracks.values())


def _parse_track(value: str, option: str) -> Track:
    name, separator, path_text = value.partition("=")
    if not separator or Path(value).exists():  # PATH alone (even one holding '=')
        path = Path(value)
        name = path.stem
    else:
        path = Path(path_text)
    if not name.strip():
        raise DnanetError(f"{option} {value!r}: the track name is empty; give NAME=PATH or PATH")
    if not path.exists():
        raise DnanetError(f"{option}: {path}: no such file")
    if not path.is_file():
        raise DnanetError(f"{option}: {path} is not a file; give a bigWig file")
    check_bigwig(path, option)
    return Track(name.strip(), path)


def check_bigwig(path: Path, option: str) -> None:
    """Raise a one-line DnanetError naming `option` and `path` unless `path` is a bigWig file that
    pyBigWig opens."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic in BIGBED_MAGIC:
        raise DnanetError(f"{option}: {path} is a bigBed file, not a bigWig (coverage values)")
    if magic not in BIGWIG_MAGIC:
        raise DnanetError(
            f"{option}: {path} is not a bigWig file; convert bedGraph with bedGraphToBigWig, or "
            "make coverage from reads with e.g. bamCoverage"
        )
    handle = _open_bigwig(path)
    try:
        if not handle.isBigWig():
            raise DnanetError(f"{option}: {path} is not a bigWig file")
    finally:
        handle.close()


def _open_bigwig(path: Path):
    import pyBigWig

    try:
        handle = pyBigWig.open(str(path))
    except RuntimeError as error:
        raise DnanetError(f"{path}: cannot open as a bigWig file ({error})") from None
    if handle is None:
        raise DnanetError(f"{path}: cannot open as a bigWig file")
    return handle


class Coverage:
    """bigWig tracks opened once and read per window (see the module docstring).

    `nan_bases` counts the track-bases read as 0 because the bigWig had no data there (a window
    of L bases read from T tracks adds up to T * L). Pickled (e.g. into data-loader workers), it
    carries the tracks and reopens the files on arrival.
    """

    def __init__(self, tracks: list[Track], genome_sizes: dict[str, int], genome_path: Path):
        self.tracks, self.genome_sizes, self.genome_path = list(tracks), genome_sizes, genome_path
        self.nan_bases = 0
        self._open()

    def _open(self) -> None:
        self._handles = []
        try:
            for track in self.tracks:
                self._handles.append(_open_bigwig(track.path))
                self._check_chromosomes(track, self._handles[-1].chroms())
        except DnanetError:
            self.close()
            raise
        self._chroms = [set(handle.chroms()) for handle in self._handles]

    def _check_chromosomes(self, track: Track, chroms: dict[str, int]) -> None:
        """A track sharing no chromosome name with the genome, or with another length for a
        shared name, is an error naming the track's file."""
        shared = [chrom for chrom in chroms if chrom in self.genome_sizes]
        if not shared:
            raise DnanetError(
                f"{track.path}: the track '{track.name}' shares no chromosome name with the genome "
                f"{self.genome_path}{_naming_hint(list(chroms), self.genome_sizes)}; give the "
                "genome the track was made on"
            )
        for chrom in shared:
            if chroms[chrom] != self.genome_sizes[chrom]:
                raise DnanetError(
                    f"{track.path}: chromosome '{chrom}' has {chroms[chrom]:,} bases in the track "
                    f"'{track.name}' but {self.genome_sizes[chrom]:,} in the genome "
                    f"{self.genome_path}; the track was made on another assembly: give the genome "
                    "it was made on"
                )

    def has(self, chrom: str) -> bool:
        """Whether every track has chromosome `chrom`."""
        return all(chrom in chroms for chroms in self._chroms)

    def fetch(self, chrom: str, start: int, end: int) -> np.ndarray:
        """float32 ``(T, end - start)``: the per-base coverage of each track on ``[start, end)``
        (0-based, half-open; forward strand). Bases without data read as 0 (counted in
        `nan_bases`). A chromosome a track lacks, or a window off its ends, is an error."""
        values = np.zeros((len(self.tracks), max(end - start, 0)), dtype=np.float32)
        if end <= start:
            return values
        for row, (track, handle) in enumerate(zip(self.tracks, self._handles)):
            if chrom not in self._chroms[row]:
                raise DnanetError(f"{track.path}: the track '{track.name}' has no '{chrom}'")
            try:
                values[row] = handle.values(chrom, start, end, numpy=True)
            except RuntimeError:
                raise DnanetError(
                    f"{track.path}: cannot read {chrom}:{start}-{end} (0-based) from the track "
                    f"'{track.name}' ({chrom} has {self.genome_sizes.get(chrom, 0):,} bases)"
                ) from None
        missing = np.isnan(values)
        count = int(missing.sum())
        if count:
            self.nan_bases += count
            values[missing] = 0
        return values

    def fingerprints(self) -> list[dict]:
        """``[{"name", "path", "sha256"}]`` of the tracks, for provenance (path made absolute)."""
        return [
            {
                "name": track.name,
                "path": str(track.path.resolve()),
                "sha256": file_sha256(track.path),
            }
            for track in self.tracks
        ]

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles = []

    def __enter__(self) -> "Coverage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "_handles"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()


def _naming_hint(track_chroms: list[str], sizes: dict[str, int]) -> str:
    """Why no chromosome matched: the 'chr' prefix when adding or removing it would match (as in
    `dnanet.inputs.interval_source`), else both lists of names."""
    for chrom in track_chroms:
        other = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
        if other in sizes:
            return (
                f" (the track has '{chrom}' where the genome has '{other}': the bigWig and the "
                "genome name chromosomes differently)"
            )
    return (
        f" (the track's chromosomes: {_first(track_chroms)}; the genome's: {_first(list(sizes))})"
    )


def _first(names: list[str]) -> str:
    return f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}"


def read_excluded(path: Path) -> ExcludedRegions:
    """The regions of a BED file (e.g. an ENCODE blacklist) as frozen `ExcludedRegions`: windows
    overlapping them are left out. Bad lines are `dnanet.inputs.bed.read_intervals`' errors."""
    regions = ExcludedRegions()
    for interval in read_intervals(path):
        regions.add(interval.chrom, interval.start, interval.end)
    regions.freeze()
    return regions
