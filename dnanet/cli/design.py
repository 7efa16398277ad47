"""`dnanet marginalize` and `dnanet design`: a motif's effect on a run's outputs by insertion into
backgrounds (with two motifs, their cooperativity against spacing), and sequences designed by
single-base substitutions to raise an output."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from dnanet.cli.common import (
    ConsoleReporter,
    DeviceOption,
    OverwriteOption,
    QuietOption,
    RunArgument,
    ThreadsOption,
    app,
    err,
    setup_torch,
    user_errors,
)

MOTIF_HELP = (
    "a JASPAR matrix id (MA0139.2; a base id such as MA0139 takes the latest version; "
    "JASPAR2024 bundled with pyjaspar, offline), a consensus of A C G T, or a MEME file "
    "(FILE.meme with one motif, or FILE.meme:NAME). A PWM is inserted as its most likely "
    "sequence (the most probable base of each column)."
)
SeedOption = typer.Option(0, help="Seed of the shuffles and random sequences.")
GcOption = typer.Option(0.42, help="GC fraction of random sequences (G and C each half of it).")
BatchOption = typer.Option(128, min=1, help="Sequences per forward pass (at most 65,536 bases).")


@app.command()
@user_errors
def marginalize(
    run: Path = RunArgument,
    motif: str = typer.Option(..., "--motif", help="The motif to insert: " + MOTIF_HELP),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder to create: effects.tsv (motif, position, strand, output, mean, sd, n: the "
        "effect = output with the motif - output without, over the backgrounds) and effects.png; "
        "with --second-motif also cooperativity.tsv and cooperativity.png.",
    ),
    fasta: List[Path] = typer.Option(
        None,
        "--fasta",
        help="FASTA files whose records, dinucleotide-shuffled, are the backgrounds (repeat for "
        "several). Default: random sequences (--length, --gc).",
    ),
    n: int = typer.Option(
        100, "--n", min=1, help="Background sequences (shuffles cycle the records)."
    ),
    length: Optional[int] = typer.Option(
        None, min=1, help="Length of random backgrounds (default: the run's window, else 200)."
    ),
    gc: float = GcOption,
    position: Optional[int] = typer.Option(
        None, help="0-based start of the motif in every background (default: centred)."
    ),
    positions: Optional[str] = typer.Option(
        None, help="'all': every start that fits, every --stride bases (effect against position)."
    ),
    stride: int = typer.Option(1, help="Step between starts with --positions all."),
    strand: str = typer.Option(
        "+", help="+ (the motif as given), - (its reverse complement) or both (a row for each)."
    ),
    second_motif: Optional[str] = typer.Option(
        None, "--second-motif", help="A second motif for the cooperativity table: " + MOTIF_HELP
    ),
    spacing: Optional[str] = typer.Option(
        None,
        metavar="A:B",
        help="With --second-motif: the gaps (bases between the first motif's end and the "
        "second's start) to measure, A to B. The pair is centred (or the first motif at "
        "--position); per gap and output: both, first alone, second alone, interaction = both - "
        "first - second.",
    ),
    orientation: str = typer.Option(
        "same", help="The second motif on the first's strand (same) or the other one (opposite)."
    ),
    seed: int = SeedOption,
    batch_size: int = BatchOption,
    overwrite: bool = OverwriteOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Measure a motif's effect on every output of a run by inserting it into backgrounds.

    The effect is on the scale `dnanet attribute` explains: each class's log-odds, a regression
    target's value or a signal track's predicted log(1 + reads), strand-averaged when the run
    averages strands. With --second-motif and --spacing: the BPNet-style cooperativity of two
    motifs against the gap between them.

      dnanet marginalize runs/ctcf --motif MA0139.2 --positions all --stride 5 --out ctcf_effect

      dnanet marginalize runs/ctcf --motif MA0139.2 --second-motif MA0139.2 --spacing 0:20 \
        --out pair
    """
    from dnanet.interpret.grammar.marginalize_workflow import (
        Backgrounds,
        MarginalizeRequest,
        marginalize_to_folder,
    )

    backgrounds = Backgrounds(tuple(fasta or ()), n, length, gc, seed)
    request = MarginalizeRequest(
        motif, second_motif, spacing, orientation, position, positions, stride, strand,
        backgrounds, batch_size,
    )  # fmt: skip
    reporter = ConsoleReporter(quiet)
    result = marginalize_to_folder(
        run, request, out, overwrite, setup_torch(threads, device), reporter
    )
    for line in result.lines():
        err.print(escape(line), highlight=False, soft_wrap=True)


@app.command()
@user_errors
def design(
    run: Path = RunArgument,
    target: Optional[str] = typer.Option(
        None,
        help="The output to raise: a class (its log-odds), a regression target or a signal "
        "track. Default: a binary run's first class, or a single target or track.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder to create: trajectory.tsv (id, step, position, change old>new, objective, "
        "score_<output> of the target and held outputs), designed.fa, start.fa, motifs.tsv (known "
        "motifs with FIMO sites in designed vs start sequences).",
    ),
    hold_down: Optional[str] = typer.Option(
        None,
        "--hold-down",
        metavar="OUTPUT,OUTPUT",
        help="Outputs to keep from rising: the objective is the target minus --hold-weight x the "
        "sum of each held output's rise above its value in the start sequence (falls are free).",
    ),
    hold_weight: float = typer.Option(1.0, help="Cost of one unit of a held output's rise."),
    start: List[Path] = typer.Option(
        None, "--start", help="FASTA of start sequences (default: --n random ones)."
    ),
    n: int = typer.Option(10, "--n", help="Random start sequences (without --start)."),
    length: Optional[int] = typer.Option(
        None, min=1, help="Length of random starts (default: the run's window, else 200)."
    ),
    gc: float = GcOption,
    steps: int = typer.Option(10, help="Most substitutions per sequence."),
    beam: int = typer.Option(
        1,
        help="1: greedy (the best single substitution each step; stops when none raises the "
        "objective); K: beam search keeping the K best sequences each step (K times slower).",
    ),
    motif_db: Optional[Path] = typer.Option(
        None,
        "--motif-db",
        metavar="FILE.meme",
        help="Known motifs to look for (default: JASPAR2024 CORE vertebrates, bundled).",
    ),
    seed: int = SeedOption,
    batch_size: int = BatchOption,
    overwrite: bool = OverwriteOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Design sequences that raise one output of a run by single-base substitutions.

    Each step scores every single substitution (3 per base, in batches) and takes the best; the
    known motifs in the designed sequences are found by FIMO (p <= 1e-4, both strands) and ranked
    by Fisher's exact test against the start sequences.

      dnanet design runs/ctcf --target bound --n 20 --length 200 --steps 20 --out designed
    """
    from dnanet.interpret.grammar.design_workflow import DesignRequest, design_to_folder

    held = tuple(name.strip() for name in (hold_down or "").split(",") if name.strip())
    request = DesignRequest(
        target, held, hold_weight, tuple(start or ()), n, length, gc, seed, steps, beam,
        motif_db, batch_size,
    )  # fmt: skip
    result = design_to_folder(
        run, request, out, overwrite, setup_torch(threads, device), ConsoleReporter(quiet)
    )
    for line in result.lines():
        err.print(escape(line), highlight=False, soft_wrap=True)
