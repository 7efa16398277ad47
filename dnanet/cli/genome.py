"""Genome coordinates on the command line: the --genome / --window / --background-ratio options that
train, evaluate, predict, embed and motifs share, tracks from `dnanet predict ... --out X.bw`, and
`dnanet example-genome`."""

from __future__ import annotations

import contextlib
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional

import typer
from rich.markup import escape

from dnanet.cli.common import app, claim_output, err, user_errors
from dnanet.errors import DnanetError

if TYPE_CHECKING:
    from dnanet.runs.load import Run

GENOME_INPUTS_HELP = (
    " A BED file (BED3, BED6 with strand, narrowPeak with its summit; .bed, .narrowPeak, ... "
    "or BED content) "
    "can stand for a FASTA with --genome: one record per interval, named chrom:start-end(strand). "
    "CLASS=gc-matched, CLASS=shuffle or CLASS=flank is a generated background for the other inputs."
)

GenomeOption = typer.Option(
    None,
    "--genome",
    help="Genome FASTA (plain or bgzip; not plain gzip) that BED inputs' "
    "coordinates refer to. Indexed on first use: PATH.fai (and PATH.gzi for bgzip) is written "
    "beside it.",
)
WindowOption = typer.Option(
    None,
    "--window",
    min=1,
    help="With BED inputs: read N bases centred on each narrowPeak "
    "summit (column 10) or interval centre, instead of each interval as it is. An interval "
    "whose window runs off a chromosome end is skipped, and the skips are counted and printed.",
)
RunWindowOption = typer.Option(
    None,
    "--window",
    min=1,
    help="With BED inputs: read N bases centred on each narrowPeak "
    "summit or interval centre (default: the window the run was trained with, if it was "
    "trained on BED intervals with --window; else each interval as it is). Intervals whose "
    "window runs off a chromosome end are skipped, counted and printed.",
)
BackgroundRatioOption = typer.Option(
    1,
    "--background-ratio",
    min=1,
    help="Records per positive of a generated "
    "background (CLASS=gc-matched: random genome windows with the positives' GC "
    "distribution; shuffle: dinucleotide shuffles; flank: windows beside the "
    "positives).",
)
BackgroundSeedOption = typer.Option(
    0, "--seed", help="Seed of generated backgrounds (CLASS=gc-matched|shuffle|flank)."
)


def genome_settings(
    genome: Optional[Path],
    window: Optional[int],
    background_ratio: int = 1,
    seed: int = 0,
    run: Optional["Run"] = None,
):
    """The options as a `dnanet.inputs.sources.GenomeSettings`; with a loaded `run` (evaluate, predict,
    embed, motifs), BED intervals are read with the run's training window unless --window is
    given."""
    from dnanet.inputs.sources import GenomeSettings

    return GenomeSettings(
        genome, window, background_ratio, seed, run.window if run is not None else None
    )


def print_notes(notes: list[str]) -> None:
    """Lines about skipped intervals and missing backgrounds, on stderr."""
    for note in notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def base_progress(what: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr over `total` bases; yields the function to call with the bases
    done."""
    from dnanet.cli.progress import counting_bar

    with counting_bar(err, what, total, "bases", quiet) as update:
        yield update


def write_track(
    run: "Run",
    genome_path: Optional[Path],
    window: Optional[int],
    region: List[str],
    beds: List[Path],
    step: int,
    batch_size: int,
    out: Path,
    quiet: bool,
    overwrite: bool = False,
) -> None:
    """`dnanet predict RUN --genome G [--region R ...] [BED ...] --step N --out X.bw|X.bedGraph`:
    slide the model along the regions (`dnanet.inference.tracks`), one file per output, written atomically."""
    from dnanet.inputs.genome import open_genome
    from dnanet.inference.predict import predict_batch
    from dnanet.data.loaders import inference_batch_size
    from dnanet.inference.tracks import (
        WRITERS,
        Region,
        bed_regions,
        merged,
        output_files,
        parse_region,
        track_format,
        track_values,
    )

    if genome_path is None:
        raise DnanetError(
            f"{out}: a track needs --genome FILE, the genome to slide the model along"
        )
    genome = open_genome(genome_path)
    width = window or run.window
    if width is None:
        raise DnanetError(
            f"{run.folder}: its training inputs record no window width (they were not BED "
            "intervals read "
            "with --window); give --window N, the length of the sequences it was trained on"
        )
    regions = [parse_region(text, genome.sizes) for text in region]
    for bed in beds:
        regions += bed_regions(bed, genome.sizes)
    regions = merged(
        regions or [Region(chrom, 0, size) for chrom, size in genome.sizes.items()], genome.sizes
    )
    task = run.task
    files = output_files(out, task.kind, task.names)
    outputs = [claim_output(path, overwrite) for path, _, _ in files]  # before the long work
    rows = inference_batch_size(batch_size, width)

    def predict(codes):
        import numpy as np

        lengths = np.full(len(codes), width, dtype=np.int64)
        return np.concatenate(
            [
                predict_batch(
                    run.model,
                    codes[i : i + rows],
                    lengths[i : i + rows],
                    run.reverse_complement_average,
                    activate=task.activate,
                ).numpy()
                for i in range(0, len(codes), rows)
            ]
        )

    counts: dict[str, int] = {}
    total = sum(r.end - r.start for r in regions)
    with ExitStack() as stack:
        temporaries = [stack.enter_context(output.writing()) for output in outputs]
        writers = []
        try:
            for temporary, (_, _, name) in zip(temporaries, files):
                writers.append(
                    WRITERS[track_format(out)](temporary, genome.sizes, f"{run.folder.name} {name}")
                )
            with base_progress("track", total, quiet) as progress:
                for chrom, starts, ends, values in track_values(
                    predict, genome, regions, width, step, counts, progress
                ):
                    for writer, (_, column, _) in zip(writers, files):
                        writer.add(chrom, starts, ends, values[:, column])
        finally:
            for writer in writers:
                writer.close()
    err.print(
        escape(
            f"{', '.join(str(path) for path, _, _ in files)}: {counts['values']:,} values "
            f"in bins of {step} bases over "
            f"{total:,} bases of {len(regions):,} region{'s' if len(regions) > 1 else ''} "
            f"(window {width}); no value in "
            f"{counts['unknown']:,} bins (window more than half N) and "
            f"{counts['off_chromosome']:,} (window off the "
            "chromosome end)"
        ),
        highlight=False,
        soft_wrap=True,
    )


@app.command("example-genome")
@user_errors
def example_genome(
    out: Path = typer.Argument(
        Path("genome-example"),
        help="Folder to write genome.fa, peaks.narrowPeak and sites.tsv into.",
    ),
    peaks: int = typer.Option(400, min=1, help="Number of planted sites (one peak each)."),
    seed: int = typer.Option(0, help="Seed of the genome, the sites and the peaks."),
    overwrite: bool = typer.Option(False, help="Replace the folder if it exists."),
):
    """Write a small synthetic genome (4 chromosomes, 1 Mb) with CTCF sites planted at known places.

    genome.fa: random DNA in isochores of 36-54% GC, soft-masked stretches and runs of N;
    peaks.narrowPeak: one peak per site (summit within a few bases of it); sites.tsv: the planted
    sites (0-based, half-open). Then, e.g.:

      dnanet train bound=OUT/peaks.narrowPeak background=gc-matched --genome OUT/genome.fa \\
        --window 200 --out runs/g

      dnanet predict runs/g --genome OUT/genome.fa --region chr1:1-100000 --step 20 --out track.bw
    """
    from dnanet.synthetic.genome import write_synthetic_genome

    with claim_output(out, overwrite, folder=True).writing() as folder:
        write_synthetic_genome(folder, peaks=peaks, seed=seed)
    err.print(
        escape(
            f"wrote {out}/genome.fa, {out}/peaks.narrowPeak ({peaks} peaks) and {out}/sites.tsv"
        ),
        highlight=False,
    )
