"""Tracks along a genome: a model slid along regions, one value per step, as bigWig or bedGraph.

Each region ``[start, end)`` is tiled by bins of `step` bases (the last may be shorter). A bin's
value is the model's output for the `window`-base window centred on the bin's middle
(``bin start + step // 2``), so the track shows, at each place, the prediction for the sequence
around it. A bin gets no value (a gap in the track) when its window runs off the chromosome or
is more than half N (assembly gaps: nothing to predict from). Regions are read in chunks of at
most `CHUNK_SPAN` bases and `CHUNK_BYTES` of windows, so memory stays flat however long a region is.

Regions: ``chr1`` (a whole chromosome) or ``chr1:1-2000000`` (1-based, inclusive, as genome
browsers write them), the intervals of a BED file, or every chromosome; they are sorted in the
genome's order and overlapping ones merged (bigWig needs entries in order).

bigWig goes through pyBigWig (its header holds every chromosome of the genome, sizes from the
.fai); bedGraph is text with a ``track type=bedGraph`` line. IGV and the UCSC browser open both.

`write_tracks` is `dnanet predict RUN --genome G --out X.bw|X.bedGraph` as a library call: the
regions, one file per output, each claimed before the work and written atomically.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np

from dnanet.errors import DnanetError
from dnanet.files.outputs import check_output_kind, claimed
from dnanet.inference.jobs import (
    RunOrFolder,
    loaded_run,
    note_not_learned,
    notes_since,
    window_width,
    work_device,
)
from dnanet.inference.signal_tracks import signal_entries, signal_tiling
from dnanet.inference.windows import WindowPredictor, window_predictor
from dnanet.inputs.genome import open_genome
from dnanet.progress import Reporter

TRACK_FORMATS = {".bw": "bigwig", ".bigwig": "bigwig", ".bedgraph": "bedgraph"}
MAX_UNKNOWN = 0.5  # windows with a larger share of N / IUPAC codes get no value
CHUNK_BYTES = 8 << 20  # most windows (uint8 codes) cut from a region at a time
CHUNK_SPAN = 1 << 20  # most genome bases read at a time
DEFAULT_STEP = 50  # bases between windows of a labelled run's track


class Region(NamedTuple):
    """``[start, end)`` on `chrom`, 0-based half-open."""

    chrom: str
    start: int
    end: int


def track_format(path: Path) -> str | None:
    """'bigwig' for .bw / .bigWig, 'bedgraph' for .bedGraph (any case), else None."""
    return TRACK_FORMATS.get(path.suffix.lower())


def parse_region(text: str, sizes: dict[str, int]) -> Region:
    """``chrom`` or ``chrom:start-end`` (1-based inclusive; commas allowed) -> a 0-based Region."""
    match = re.fullmatch(r"\s*([^:\s]+)(?::([0-9,]+)-([0-9,]+))?\s*", text)
    if match is None:
        raise DnanetError(
            f"--region {text!r}: expected CHROM or CHROM:START-END, e.g. chr1:1-2000000"
        )
    chrom = match[1]
    if chrom not in sizes:
        names = list(sizes)
        raise DnanetError(
            f"--region {text}: no chromosome '{chrom}' in the genome (its chromosomes: "
            f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
        )
    if match[2] is None:
        return Region(chrom, 0, sizes[chrom])
    start, end = int(match[2].replace(",", "")), int(match[3].replace(",", ""))
    if start < 1 or end < start:
        raise DnanetError(f"--region {text}: expected 1 <= START <= END (1-based, inclusive)")
    if end > sizes[chrom]:
        raise DnanetError(
            f"--region {text}: runs past the end of {chrom} ({sizes[chrom]:,} bases); "
            f"give --region {chrom} for the whole chromosome"
        )
    return Region(chrom, start - 1, end)


def bed_regions(path: Path, sizes: dict[str, int]) -> list[Region]:
    """The intervals of a BED file as regions; a chromosome missing from the genome, or an interval
    past its end, is an error naming the line."""
    from dnanet.inputs.bed import read_intervals

    regions = []
    for interval in read_intervals(path):
        if interval.chrom not in sizes:
            raise DnanetError(
                f"{path} line {interval.line}: chromosome '{interval.chrom}' is not in the genome"
            )
        if interval.end > sizes[interval.chrom]:
            raise DnanetError(
                f"{path} line {interval.line}: "
                f"{interval.chrom}:{interval.start}-{interval.end} runs "
                f"past the chromosome's end ({sizes[interval.chrom]:,} bases)"
            )
        regions.append(Region(interval.chrom, interval.start, interval.end))
    return regions


def merged(regions: list[Region], sizes: dict[str, int]) -> list[Region]:
    """Regions sorted in the genome's chromosome order and by start, overlapping ones merged."""
    order = {chrom: index for index, chrom in enumerate(sizes)}
    result: list[Region] = []
    for region in sorted(regions, key=lambda r: (order[r.chrom], r.start, r.end)):
        if result and result[-1].chrom == region.chrom and region.start <= result[-1].end:
            result[-1] = result[-1]._replace(end=max(result[-1].end, region.end))
        else:
            result.append(region)
    return result


def track_values(
    predict: WindowPredictor,
    genome,
    regions: list[Region],
    window: int,
    step: int,
    counts: dict[str, int],
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(chrom, bin starts int64 ``(n,)``, bin ends ``(n,)``, outputs float32 ``(n, C)``) chunk by
    chunk, in region order, for the bins that get a value (module docstring). `predict` maps a
    stretch's codes uint8 ``(N,)`` and its windows' starts ``(B,)`` to their outputs ``(B, C)``
    (`dnanet.inference.windows`). `counts` gets ``bins`` (all bins), ``values``,
    ``off_chromosome`` and ``unknown`` (bins without a value, and why) added up; `progress` hears
    the bases of the regions done so far."""
    from dnanet.inputs.encode import BYTE_TO_CODE, UNKNOWN

    per_chunk = max(1, min(CHUNK_BYTES // window, CHUNK_SPAN // step))
    for key in ("bins", "values", "off_chromosome", "unknown"):
        counts.setdefault(key, 0)
    done = 0
    for region in regions:
        size = genome.sizes[region.chrom]
        for chunk_start in range(region.start, region.end, per_chunk * step):
            chunk_end = min(chunk_start + per_chunk * step, region.end)
            bins = np.arange(chunk_start, chunk_end, step, dtype=np.int64)
            window_starts = bins + step // 2 - window // 2
            inside = (window_starts >= 0) & (window_starts + window <= size)
            counts["bins"] += len(bins)
            counts["off_chromosome"] += int((~inside).sum())
            bins, window_starts = bins[inside], window_starts[inside]
            if len(bins):
                span_start, span_end = int(window_starts[0]), int(window_starts[-1]) + window
                codes = np.frombuffer(
                    genome.fetch(region.chrom, span_start, span_end).translate(BYTE_TO_CODE),
                    dtype=np.uint8,
                )
                unknown = np.concatenate([[0], np.cumsum(codes == UNKNOWN, dtype=np.int32)])
                offsets = window_starts - span_start
                called = (unknown[offsets + window] - unknown[offsets]) <= MAX_UNKNOWN * window
                counts["unknown"] += int((~called).sum())
                bins, offsets = bins[called], offsets[called]
                if len(bins):
                    counts["values"] += len(bins)
                    values = predict(codes, offsets)
                    yield region.chrom, bins, np.minimum(bins + step, region.end), values
            done += chunk_end - chunk_start
            if progress is not None:
                progress(done)


class BigWigWriter:
    """Entries into a bigWig file whose header lists every chromosome of the genome (in its
    order)."""

    def __init__(self, path: Path, sizes: dict[str, int], name: str):
        try:
            import pyBigWig
        except ImportError:
            raise DnanetError(
                "writing bigWig needs pyBigWig (pip install pyBigWig); or name --out .bedGraph"
            ) from None
        self.handle = pyBigWig.open(str(path), "w")
        if self.handle is None:
            raise DnanetError(f"{path}: cannot create a bigWig file here")
        self.handle.addHeader(list(sizes.items()), maxZooms=10)

    def add(self, chrom: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        self.handle.addEntries(
            [chrom] * len(starts),
            starts.tolist(),
            ends=ends.tolist(),
            values=values.astype(np.float64).tolist(),
        )

    def close(self) -> None:
        self.handle.close()


class BedGraphWriter:
    """bedGraph text: a track line, then ``chrom start end value`` per bin."""

    def __init__(self, path: Path, sizes: dict[str, int], name: str):
        self.handle = open(path, "w", encoding="utf-8", newline="\n")
        self.handle.write(
            f'track type=bedGraph name="{_quoted(name)}" description="{_quoted(name)}"\n'
        )

    def add(self, chrom: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        self.handle.write(
            "".join(
                f"{chrom}\t{s}\t{e}\t{v:.6g}\n"
                for s, e, v in zip(starts.tolist(), ends.tolist(), values.tolist())
            )
        )

    def close(self) -> None:
        self.handle.close()


WRITERS = {"bigwig": BigWigWriter, "bedgraph": BedGraphWriter}


def output_files(out: Path, kind: str, names: list[str]) -> list[tuple[Path, int, str]]:
    """(file, output column, name) of each track: one file `out` for a binary task (the first,
    positive class's probability) or a task with one output; else ``OUT-STEM.<name>.<suffix>`` per
    output (class, label or target), names made file-safe."""
    if kind == "binary" or len(names) == 1:
        return [(out, 0, names[0])]
    files = []
    for column, name in enumerate(names):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or f"output{column}"
        files.append((out.with_name(f"{out.stem}.{safe}{out.suffix}"), column, name))
    return files


def _quoted(text: str) -> str:
    return text.replace('"', "'")


@dataclass(frozen=True)
class TrackOutcome:
    """What `write_tracks` wrote: the `files`, `counts` of bins (``bins``, ``values``,
    ``unknown``, ``off_chromosome``: `track_values`), the `bases` of the `regions` covered, the
    `window` and `step`, and the notes told (the model did not learn)."""

    files: list[Path]
    counts: dict[str, int]
    bases: int
    regions: int
    window: int
    step: int
    notes: list[str]
    kind: str = ""  # the run's task: a counts or profile run's values are predicted reads

    def summary(self) -> str:
        """The closing line of `dnanet predict ... --out X.bw`."""
        counts = self.counts
        values = {
            "profile": f"predicted reads per base of {counts['values']:,} tiles",
            "counts": f"{counts['values']:,} values, the predicted reads in each tile",
        }.get(self.kind, f"{counts['values']:,} values in bins")
        return (
            f"{', '.join(str(path) for path in self.files)}: {values} of {self.step} bases over "
            f"{self.bases:,} bases of {self.regions:,} region{'s' if self.regions > 1 else ''} "
            f"(window {self.window}); no value in "
            f"{counts['unknown']:,} bins (window more than half N) and "
            f"{counts['off_chromosome']:,} (window off the "
            "chromosome end)"
        )


def write_tracks(
    run: RunOrFolder,
    out: Path,
    *,
    genome: Path | None,
    window: int | None = None,
    regions: Sequence[str] = (),
    beds: Sequence[Path] = (),
    step: int | None = None,
    batch_size: int = 256,
    overwrite: bool = False,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> TrackOutcome:
    """Slide the run's model along `regions` (``CHROM`` or ``CHROM:START-END``) and the intervals
    of the `beds` (none of either: every chromosome) of `genome`, reading `window` bases (default:
    the run's training window) every `step` bases (default `DEFAULT_STEP`), into `out` (.bw or
    .bedGraph; one file per output for a task of several, `output_files`). A signal run's track
    is its predicted coverage, one file per track, tiled by its output width
    (`dnanet.inference.signal_tracks`). `run`: a run folder (loaded on `device` with `threads`) or
    a loaded `Run`. `reporter` hears the progress in bases."""
    reporter = reporter if reporter is not None else Reporter()
    start = len(reporter.notes)
    check_output_kind(out, folder=False)
    loaded = loaded_run(run, work_device(run, device, threads))
    note_not_learned(loaded, reporter)
    if genome is None:
        raise DnanetError(
            f"{out}: a track needs --genome FILE, the genome to slide the model along"
        )
    the_genome = open_genome(genome)
    signal = loaded.task.is_signal
    if signal:
        width, step = signal_tiling(loaded, window, step)
    else:
        width, step = window_width(loaded, window), step or DEFAULT_STEP
    covered = track_regions(the_genome.sizes, list(regions), list(beds))
    files = output_files(out, loaded.task.kind, loaded.task.names)
    counts: dict[str, int] = {}
    bases = sum(r.end - r.start for r in covered)
    with ExitStack() as stack:  # every file claimed before the long work
        outputs = [
            stack.enter_context(claimed(path, overwrite, reporter=reporter)) for path, _, _ in files
        ]
        predict = window_predictor(loaded, width, batch_size)

        def values(progress):
            chunks = track_values(predict, the_genome, covered, width, step, counts, progress)
            return signal_entries(loaded.task, chunks) if signal else chunks

        _write_files(
            values,
            outputs,
            files,
            track_format(out),
            the_genome.sizes,
            f"{loaded.folder.name} ",
            reporter.counter("track", bases, "bases"),
        )
    return TrackOutcome(
        [path for path, _, _ in files],
        counts,
        bases,
        len(covered),
        width,
        step,
        notes_since(reporter, start),
        loaded.task.kind,
    )


def track_regions(sizes: dict[str, int], regions: list[str], beds: list[Path]) -> list[Region]:
    """The regions to cover: `regions` (``CHROM`` or ``CHROM:START-END``) and the intervals of the
    `beds`, or every chromosome when there are none; sorted and merged (`merged`)."""
    found = [parse_region(text, sizes) for text in regions]
    for bed in beds:
        found += bed_regions(bed, sizes)
    return merged(found or [Region(chrom, 0, size) for chrom, size in sizes.items()], sizes)


def _write_files(values, outputs, files, kind: str, sizes: dict[str, int], title: str, counter):
    """Each output's column of ``values(progress)`` (`track_values`) into its file, through the
    claimed `outputs`' temporaries (renamed into place together once every file is complete); the
    files are opened before `counter` (the progress) starts, so a file that cannot be made is
    the only thing said."""
    with ExitStack() as stack:
        temporaries = [stack.enter_context(output.writing()) for output in outputs]
        writers = []
        try:
            for temporary, (_, _, name) in zip(temporaries, files):
                writers.append(WRITERS[kind](temporary, sizes, f"{title}{name}"))
            with counter as progress:
                for chrom, starts, ends, columns in values(progress):
                    for writer, (_, column, _) in zip(writers, files):
                        writer.add(chrom, starts, ends, columns[:, column])
        finally:
            for writer in writers:
                writer.close()
