"""`dnanet variants`: the effect of variants (a VCF with its genome, or ref/alt pairs) on a trained
model's outputs: the options, then `dnanet.interpret.variant_job.score_variants`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from dnanet.cli import choices
from dnanet.cli.common import (
    ConsoleReporter,
    DeviceOption,
    OverwriteOption,
    QuietOption,
    RunArgument,
    ThreadsOption,
    app,
    err,
    inference_shard,
    shard_option,
    user_errors,
)


@app.command()
@user_errors
def variants(
    run: Path = RunArgument,
    vcf: Optional[Path] = typer.Option(
        None,
        "--vcf",
        help="VCF of the variants (plain or .gz; the 8 fixed columns "
        "are read, '#' lines skipped), with --genome. Multi-allelic records are split, "
        "one row per ALT allele.",
    ),
    pairs: Optional[Path] = typer.Option(
        None,
        "--pairs",
        help="Instead of --vcf and --genome: a FASTA of ref/alt "
        "pairs, consecutive records named NAME|ref and NAME|alt (either first). "
        "Pairs of exactly the window's length are scored as they are; longer ones "
        "(or indel pairs) are cut to the window centred on where they differ; "
        "without a window (--window, or the run's), pairs are scored as they are.",
    ),
    genome: Optional[Path] = typer.Option(
        None,
        "--genome",
        help="Genome FASTA the VCF refers to (plain or bgzip; indexed on first use).",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Effects to write (atomically): a TSV, or with a name ending in .vcf.gz (BGZF, "
        "tabix-indexable when the VCF is sorted), .vcf.bgz or .vcf the --vcf input written back "
        "with every effect column as an INFO key DNANET_COLUMN (Number=A: one value per ALT; "
        "DNANET_status per ALT), declared by ##INFO lines; malformed lines are left out.",
    ),
    overwrite: bool = OverwriteOption,
    window: Optional[int] = typer.Option(
        None,
        "--window",
        min=1,
        help="Bases the model reads, centred on each "
        "variant (default: the --window the run was trained with).",
    ),
    batch_size: int = typer.Option(
        256, min=1, help="Variants per batch (results do not depend on it)."
    ),
    plot: Optional[Path] = typer.Option(
        None,
        "--plot",
        help="Folder to draw PNGs into: for each of the --plot-top "
        "variants of largest effect (--plot-rank) on --target, the ISM map of "
        "the reference window around the variant (every base at every position) and the "
        "attribution "
        "logos of the reference and alternative windows.",
    ),
    plot_top: int = typer.Option(5, "--plot-top", min=1, help="Variants drawn with --plot."),
    plot_rank: Optional[str] = typer.Option(
        None,
        "--plot-rank",
        help="The effect whose size ranks the variants --plot draws. Choices: log_odds_diff, "
        "diff (classification), diff (regression), lfc (signal runs). Default: log_odds_diff "
        "for classification (a variant that breaks a saturated site, 0.999 to 0.98, is a "
        "-3 log-odds change but only -0.02 in probability), diff for regression, lfc for signal "
        "runs.",
        show_default=False,
    ),
    plot_flank: int = typer.Option(
        20, "--plot-flank", min=1, help="Bases drawn each side of the variant."
    ),
    target: Optional[str] = typer.Option(
        None,
        help="With --plot: the output that ranks and explains the variants "
        "(default: a binary run's first class, or a single regression target or track).",
    ),
    null: str = typer.Option(
        "none",
        "--null",
        help="Control draws that calibrate each variant's effect: shuffle (the variant's own REF "
        "and ALT between dinucleotide-shuffled flanks of its window), snv (the same REF>ALT at "
        "other positions of the window that hold REF, each scored in a window centred on it; "
        "indels, multi-base variants and --pairs get shuffle draws) or none. Adds per output "
        "p_NAME (two-sided empirical p-value of the tested effect: log_odds_diff, diff or lfc), "
        "q_NAME (Benjamini-Hochberg over the file; empty in a --shard) and null_sd_NAME (the "
        "draws' spread). Seeded by the variant's windows: reruns and shards give the same "
        "numbers. Costs --null-size + 1 times the scoring.",
        autocompletion=choices.VARIANT_NULLS,
    ),
    null_size: int = typer.Option(
        100,
        "--null-size",
        help="Draws per variant with --null: p-values resolve down to 1/(N + 1) (N=100: 0.0099).",
    ),
    shard: Optional[str] = shard_option(
        "The rows (one per ALT allele or pair, in input order) are split; only "
        "shard 1 has the header row, so cat e.1.tsv e.2.tsv ... > e.tsv is the "
        "unsharded output; --plot draws the shard's top variants."
    ),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Score the effect of each variant (SNVs and short indels): model outputs on the reference and
    the alternative window of the model's input length centred on the variant. Give --vcf with
    --genome, or --pairs.

    Columns: chrom, pos (1-based, as in the VCF), id, ref, alt, status, note, then per output NAME
    (class, label or regression target): ref_NAME, alt_NAME, diff_NAME (alt - ref) and, for
    classification, log_odds_diff_NAME (logit of alt's probability - logit of ref's). A signal run
    (--signal) has per track NAME: ref_NAME and alt_NAME (predicted reads, as predict reports them),
    lfc_NAME (log2 fold change of the counts, log2((1 + alt) / (1 + ref))) and, for a profile run,
    jsd_NAME (Jensen-Shannon distance, base 2, between the ref and alt predicted profiles: 0 same
    shape, 1 disjoint). Strand-averaged when the run averages strands. REF is checked against the
    genome; a variant that is not scored keeps its row with empty cells and a status (malformed,
    unknown_chromosome, symbolic_allele, ref_mismatch, allele_too_long, off_chromosome_end) and a
    note naming the VCF line; the counts are printed at the end. The input is streamed, so memory
    does not grow with its length. Under torchrun the processes split the rows and rank 0 writes the
    one TSV.

    --pairs FILE.fa: records NAME|ref and NAME|alt, one after the other. Row: chrom empty, id NAME,
    pos the 1-based position in the ref sequence where the two first differ, ref / alt the differing
    stretches ('-' when empty). A record without its partner next to it is a row of status unpaired
    (an id without |ref or |alt: malformed); a pair too short for the window around its difference:
    too_short.

    --null shuffle|snv: per output p_NAME, q_NAME, null_sd_NAME from --null-size control draws per
    variant (see --null); an ensemble run (dnanet train --folds) adds sd_NAME, its members'
    standard deviation of the tested effect. --out NAME.vcf.gz writes the VCF back with the
    effects in INFO.

      dnanet variants runs/ctcf --vcf variants.vcf.gz --genome hg38.fa --out effects.tsv \\
        --plot effects-plots

      dnanet variants runs/ctcf --pairs pairs.fa --out effects.tsv

      dnanet variants runs/ctcf --vcf variants.vcf.gz --genome hg38.fa --null shuffle \\
        --out effects.vcf.gz
    """
    from dnanet.interpret.variant_job import NullChoice, score_variants
    from dnanet.runtime import distributed

    given_shard = inference_shard(shard)
    err.quiet = distributed.launched_rank() != 0  # rank 0 speaks for all
    scored = score_variants(
        run,
        out,
        vcf=vcf,
        genome=genome,
        pairs=pairs,
        window=window,
        batch_size=batch_size,
        plot=plot,
        plot_top=plot_top,
        plot_rank=plot_rank,
        plot_flank=plot_flank,
        target=target,
        null=NullChoice(null, null_size),
        shard=given_shard,
        overwrite=overwrite,
        device=device,
        threads=threads,
        reporter=ConsoleReporter(quiet),
    )
    for line in scored.summary_lines():
        err.print(escape(line), highlight=False, soft_wrap=True)
