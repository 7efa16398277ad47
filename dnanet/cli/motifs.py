"""`dnanet motifs`: readable motifs from a trained model (attention or attributions)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from dnanet.cli import choices
from dnanet.cli.common import (
    DeviceOption,
    QuietOption,
    ThreadsOption,
    app,
    err,
    user_errors,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    GenomeOption,
    RunWindowOption,
)
from dnanet.cli.report import ConsoleReporter


@app.command()
@user_errors
def motifs(
    run: Path = typer.Argument(
        ...,
        help="A run folder made by `dnanet train` (a classification task, or a signal "
        "run: --signal counts or profile).",
    ),
    inputs: List[str] = typer.Argument(
        None,
        help="FASTA files, one per class (the training files or new ones); the "
        "class is the file name or CLASS=PATH and must be one of the run's classes (a "
        "signal run searches every sequence, whatever its class). Default: the bundled CTCF "
        "example." + GENOME_INPUTS_HELP,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder to create: motifs.meme, motifs.tsv, sites.tsv, "
        "classes.tsv, baseline.meme, baseline.tsv, logos/<motif>.png (and <motif>_match.png: its "
        "best known motif), summary.html.",
    ),
    method: str = typer.Option(
        "auto",
        help="Per-base scores: auto (attention for a transformer, else gradient), "
        "attention (weighted toward each class by its gradient x input), gradient (gradient x "
        "input) or ism (in-silico mutagenesis: 3L mutants per sequence; fast for a one-hot CNN, "
        "which recomputes only each base's receptive field). A model without "
        "attention falls back to gradient.",
        autocompletion=choices.MOTIF_METHODS,
    ),
    aggregation: str = typer.Option(
        "rollout",
        help="Attention reduction: rollout (attention rollout through all "
        "layers, [CLS] row), cls (last layer's [CLS] row, heads averaged) or mean "
        "(attention received, mean over layers and heads).",
        autocompletion=choices.AGGREGATIONS,
    ),
    background: str = typer.Option(
        "other",
        help="Background for seqlet thresholds and enrichment: other (the "
        "other classes' sequences) or shuffled (dinucleotide shuffles of the class). A "
        "signal run always takes shuffled.",
        autocompletion=choices.MOTIF_BACKGROUNDS,
    ),
    engine: str = typer.Option(
        "own",
        help="What turns the model into motifs: own (high-scoring windows of --method's "
        "per-base scores, clustered into k-mer-seeded PWMs; motifs M1, M2, ...), modisco "
        "(TF-MoDISco, modisco-lite, on each class's --attribution attributions; motifs D1, D2, "
        "...) or both (each engine's motifs in the same files and summary.html, motifs.tsv's "
        "engine column telling them apart). Every engine's PWMs get the same enrichment test, "
        "TomTom matches and faithfulness.",
        autocompletion=choices.MOTIF_ENGINES,
    ),
    attribution: str = typer.Option(
        "saliency",
        help="Attributions the modisco engine clusters (hypothetical, one value per base and "
        "position, as `dnanet attribute --method` computes them): saliency (centred gradient, "
        "fast), ism (in-silico mutagenesis: 3L mutants per sequence, a full pass each but for a "
        "one-hot CNN; also for k-mer models) "
        "or another method of `dnanet attribute`. Ignored by --engine own.",
        autocompletion=choices.ATTRIBUTION_METHODS,
    ),
    class_name: Optional[List[str]] = typer.Option(
        None,
        "--class",
        help="Find motifs for this class only; repeat "
        "for several (default: every class, each against the rest).",
    ),
    max_motifs: int = typer.Option(8, min=1, help="Most motifs per class."),
    max_q: float = typer.Option(
        0.05,
        "--max-q",
        min=0.0,
        max=1.0,
        help="Drop motifs whose enrichment q-value "
        "(Benjamini-Hochberg) is higher: not enriched in the class.",
    ),
    no_baseline: bool = typer.Option(
        False,
        "--no-baseline",
        help="Skip the model-free baseline (discriminative "
        "k-mer motifs of each class's whole sequences against the background: "
        "baseline.tsv, baseline.meme).",
    ),
    motif_db: Optional[Path] = typer.Option(
        None,
        "--motif-db",
        metavar="FILE.meme",
        help="MEME-format file of "
        "known motifs to compare with (ALPHABET= ACGU for RNA motifs, e.g. "
        "RNA-binding proteins'; default: JASPAR2024 CORE vertebrates, "
        "transcription factors, bundled with pyjaspar).",
    ),
    no_compare: bool = typer.Option(
        False, "--no-compare", help="Skip the comparison with known motifs."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    batch_size: int = typer.Option(128, min=1, help="Sequences per batch."),
    seed: int = typer.Option(0, help="Seed of the shuffles (and of generated background classes)."),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = RunWindowOption,
    background_ratio: int = BackgroundRatioOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Find the sequence motifs that drive a model's predictions, and name them.

    Per-base scores toward each class (attributions, or attention weighted by the class's
    attributions) -> high-scoring windows of each class -> PWMs (reverse complements merged) ->
    enrichment against the background (Fisher's exact test, Benjamini-Hochberg q) ->
    faithfulness (drop in class probability when sites are shuffled) -> TomTom against JASPAR
    (or --motif-db). Motifs are ranked by enrichment p-value. A model trained on the forward
    strand only (reverse_complement off, or auto on strand-specific data such as RNA or
    promoters; model.json "strand") gets forward-strand motifs and sites; RNA inputs (U, no T)
    get RNA letters (logos, consensus, ALPHABET= ACGU). One line per class says how many sequences
    had a seqlet, how many candidate PWMs were found and why motifs were dropped (classes.tsv). A
    model-free baseline (k-mers enriched in the class's whole sequences) runs beside it.

    A signal run (trained with --signal) has tracks instead of classes: each track's motifs explain
    its predicted log(1 + reads), searched in all the input sequences (e.g. its peaks, with
    --genome) against their dinucleotide shuffles; faithfulness is the drop in predicted log(1 +
    reads) when the sites are shuffled; --class names tracks.

      dnanet motifs runs/ctcf bound=bound.fa background=background.fa --out runs/ctcf/motifs
    """
    from dnanet.interpret.motifs.job import find_motifs

    outcome = find_motifs(
        run,
        inputs,
        out,
        method=method,
        aggregation=aggregation,
        background=background,
        engine=engine,
        attribution=attribution,
        classes=class_name or (),
        max_motifs=max_motifs,
        max_q=max_q,
        no_baseline=no_baseline,
        motif_db=motif_db,
        no_compare=no_compare,
        overwrite=overwrite,
        batch_size=batch_size,
        seed=seed,
        genome=genome,
        window=window,
        background_ratio=background_ratio,
        device=device,
        threads=threads,
        reporter=ConsoleReporter(quiet),
    )
    for line in outcome.lines():
        err.print(escape(line), highlight=False, soft_wrap=True)
