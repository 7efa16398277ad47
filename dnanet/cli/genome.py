"""Genome coordinates on the command line: the --genome / --window / --background-ratio options that
train, evaluate, predict, embed and motifs share, and `dnanet example-genome` (tracks from
`dnanet predict ... --out X.bw` are `dnanet.inference.tracks.write_tracks`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape

from dnanet.cli.common import ConsoleReporter, app, err, user_errors

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
    "summit or interval centre (default: the window the run was trained with, or the one "
    "length of all its training records; else each interval as it is). Intervals whose "
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
    """The options as a `dnanet.inputs.sources.GenomeSettings`; with a loaded `run` (evaluate,
    predict, embed, motifs), BED intervals are read with the run's training window unless --window
    is given."""
    from dnanet.inputs.sources import GenomeSettings

    return GenomeSettings(
        genome, window, background_ratio, seed, run.input_width if run is not None else None
    )


def print_notes(notes: list[str]) -> None:
    """Lines about skipped intervals and missing backgrounds, on stderr."""
    for note in notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


@app.command("example-genome")
@user_errors
def example_genome(
    out: Path = typer.Argument(
        Path("genome-example"),
        help="Folder to write genome.fa, peaks.narrowPeak, sites.tsv, signal.bw and control.bw "
        "into.",
    ),
    peaks: int = typer.Option(400, min=1, help="Number of planted sites (one peak each)."),
    seed: int = typer.Option(0, help="Seed of the genome, the sites, the peaks and the coverage."),
    overwrite: bool = typer.Option(False, help="Replace the folder if it exists."),
    coverage: bool = typer.Option(
        True, help="Also write the coverage tracks signal.bw and control.bw."
    ),
):
    """Write a small synthetic genome (4 chromosomes, 1 Mb) with CTCF sites planted at known places.

    genome.fa: random DNA in isochores of 36-54% GC, soft-masked stretches and runs of N;
    peaks.narrowPeak: one peak per site (summit within a few bases of it); sites.tsv: the planted
    sites (0-based, half-open); signal.bw: ChIP-like read counts per base, each site's expected
    reads (20-600) rising with its motif score, in a Gaussian footprint (sd 20 bases), over a
    smooth background; control.bw: that background alone. Then, e.g.:

      dnanet train bound=OUT/peaks.narrowPeak background=gc-matched --genome OUT/genome.fa \\
        --window 200 --out runs/g

      dnanet predict runs/g --genome OUT/genome.fa --region chr1:1-100000 --step 20 --out track.bw
    """
    from dnanet.synthetic.genome import write_example_genome

    write_example_genome(
        out,
        peaks=peaks,
        seed=seed,
        overwrite=overwrite,
        reporter=ConsoleReporter(),
        coverage=coverage,
    )
    tracks = f", {out}/signal.bw and {out}/control.bw" if coverage else ""
    err.print(
        escape(
            f"wrote {out}/genome.fa, {out}/peaks.narrowPeak ({peaks} peaks), {out}/sites.tsv"
            f"{tracks}"
        ),
        highlight=False,
    )
