"""`dnanet variants`: the effect of VCF variants on a trained model's outputs (`dnanet.variants`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from dnanet.cli.common import (DeviceOption, ThreadsOption, app, err, record_progress, setup_torch,
                               sigterm_as_interrupt, user_errors, warn_if_not_learned)
from dnanet.errors import DnanetError


@app.command()
@user_errors
def variants(
    run: Path = typer.Argument(..., help="A run folder made by `dnanet train`."),
    vcf: Path = typer.Option(..., "--vcf", help="VCF of the variants (plain or .gz; the 8 fixed columns are read, "
                             "'#' lines skipped). Multi-allelic records are split, one row per ALT allele."),
    genome: Path = typer.Option(..., "--genome", help="Genome FASTA the VCF refers to (plain or bgzip; indexed on "
                                "first use)."),
    out: Path = typer.Option(..., "--out", "-o", help="TSV of effects to write (atomically)."),
    window: Optional[int] = typer.Option(None, "--window", min=1, help="Bases the model reads, centred on each "
                                         "variant (default: the --window the run was trained with)."),
    batch_size: int = typer.Option(256, min=1, help="Variants per batch (results do not depend on it)."),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Score the effect of each variant (SNVs and short indels): model outputs on the reference and the
    alternative window of the model's input length centred on the variant.

    Columns: chrom, pos (1-based, as in the VCF), id, ref, alt, status, note, then per output NAME
    (class, label or regression target): ref_NAME, alt_NAME, diff_NAME (alt - ref) and, for
    classification, log_odds_diff_NAME (logit of alt's probability - logit of ref's). Strand-averaged
    when the run averages strands. REF is checked against the genome; a variant that is not scored keeps
    its row with empty cells and a status (malformed, unknown_chromosome, symbolic_allele, ref_mismatch,
    allele_too_long, off_chromosome_end) and a note naming the VCF line; the counts are printed at the end.
    The VCF is streamed, so memory does not grow with its length.

      dnanet variants runs/ctcf --vcf variants.vcf.gz --genome hg38.fa --out effects.tsv
    """
    import numpy as np

    from dnanet.cli.genome import trained_window
    from dnanet.data import inference_batch_size
    from dnanet.encode import sequences_to_codes
    from dnanet.genome import open_genome
    from dnanet.infer import predict_batch
    from dnanet.read import check_input_file
    from dnanet.runs import atomic_file, load_run
    from dnanet.tasks import Task
    from dnanet.variants import read_vcf, write_effects

    if out.is_dir():
        raise DnanetError(f"{out}: is a directory, expected a file name")
    check_input_file(vcf)
    the_genome = open_genome(genome)
    model, description = load_run(run, setup_torch(threads, device))
    warn_if_not_learned(description, str(run))
    width = window or trained_window(description)
    if width is None:
        raise DnanetError(f"{run}: its training inputs record no window width (they were not BED intervals read "
                          "with --window); give --window N, the length of the sequences it was trained on")
    task = Task.from_dict(description["task"])
    rows = inference_batch_size(2 * batch_size, width)

    def score(windows: list[bytes]) -> np.ndarray:
        codes, lengths = sequences_to_codes(windows)
        return np.concatenate([predict_batch(model, codes[i: i + rows], lengths[i: i + rows],
                                             description["reverse_complement_average"], activate=task.activate).numpy()
                               for i in range(0, len(codes), rows)])

    with sigterm_as_interrupt(), atomic_file(out) as temporary, open(temporary, "w", newline="") as handle, \
            record_progress("scoring", quiet, "variants") as progress:
        counts = write_effects(handle, read_vcf(vcf), the_genome, width, score, task, batch_size, progress)
    total = sum(counts.values())
    err.print(escape(f"{total:,} variants written to {out} (window {width}): {counts['ok']:,} scored"), highlight=False,
              soft_wrap=True)
    for status, count in counts.items():
        if status != "ok" and count:
            err.print(escape(f"note: {count:,} {status.replace('_', ' ')} (status {status}; see the note column)"),
                      highlight=False, soft_wrap=True)
