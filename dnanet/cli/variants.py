"""`dnanet variants`: the effect of variants (a VCF with its genome, or ref/alt pairs) on a trained
model's outputs (`dnanet.interpret.variants`, `dnanet.interpret.variant_pairs`, `dnanet.interpret.variant_plots`)."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from dnanet.cli.common import (
    DeviceOption,
    OverwriteOption,
    QuietOption,
    RunArgument,
    ThreadsOption,
    app,
    claim_output,
    err,
    inference_shard,
    record_progress,
    setup_torch,
    shard_option,
    sigterm_as_interrupt,
    user_errors,
    warn_if_not_learned,
)
from dnanet.errors import DnanetError


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
    out: Path = typer.Option(..., "--out", "-o", help="TSV of effects to write (atomically)."),
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
        "variants of largest |diff| of --target, the ISM map of the reference window "
        "around the variant (every base at every position) and the attribution "
        "logos of the reference and alternative windows.",
    ),
    plot_top: int = typer.Option(5, "--plot-top", min=1, help="Variants drawn with --plot."),
    plot_flank: int = typer.Option(
        20, "--plot-flank", min=1, help="Bases drawn each side of the variant."
    ),
    target: Optional[str] = typer.Option(
        None,
        help="With --plot: the output that ranks and explains the variants "
        "(default: a binary run's first class or a single regression target).",
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
    classification, log_odds_diff_NAME (logit of alt's probability - logit of ref's).
    Strand-averaged when the run averages strands. REF is checked against the genome; a variant that
    is not scored keeps its row with empty cells and a status (malformed, unknown_chromosome,
    symbolic_allele, ref_mismatch, allele_too_long, off_chromosome_end) and a note naming the VCF
    line; the counts are printed at the end. The input is streamed, so memory does not grow with its
    length. Under torchrun the processes split the rows and rank 0 writes the one TSV.

    --pairs FILE.fa: records NAME|ref and NAME|alt, one after the other. Row: chrom empty, id NAME,
    pos the 1-based position in the ref sequence where the two first differ, ref / alt the differing
    stretches ('-' when empty). A record without its partner next to it is a row of status unpaired
    (an id without |ref or |alt: malformed); a pair too short for the window around its difference:
    too_short.

      dnanet variants runs/ctcf --vcf variants.vcf.gz --genome hg38.fa --out effects.tsv \\
        --plot effects-plots

      dnanet variants runs/ctcf --pairs pairs.fa --out effects.tsv
    """
    from dnanet.runtime import distributed
    from dnanet.runs.load import load_run
    from dnanet.data.tasks import Task
    from dnanet.interpret.variants import window_scorer, write_effects

    if (vcf is None) == (pairs is None):
        raise DnanetError("give exactly one of --vcf FILE (with --genome) or --pairs FASTA")
    if out.is_dir():
        raise DnanetError(f"{out}: is a directory, expected a file name")
    if plot is not None and plot.exists() and not plot.is_dir():
        raise DnanetError(f"{plot}: --plot names a folder to draw PNGs into, and this is a file")
    if target is not None and plot is None:
        raise DnanetError("--target chooses the output --plot ranks and draws; give --plot too")
    given_shard = inference_shard(shard)
    if plot is not None and distributed.launched_processes() > 1:
        raise DnanetError(
            "--plot is drawn by one process: run it without torchrun (or with --shard K/N)"
        )
    items, width = _inputs(run, vcf, pairs, genome, window)
    processes, torch_device = distributed.start(setup_torch(threads, device))
    err.quiet = not processes.is_main  # rank 0 speaks for all
    try:
        # refused at once if it exists (without --overwrite) or another process writes it
        output = claim_output(out, overwrite) if processes.is_main else None
        loaded = load_run(run, torch_device)
        model, description = loaded.model, loaded.record
        warn_if_not_learned(description, str(run))
        width = width(loaded)
        task = Task.from_dict(description["task"])
        top = _top(task, target, plot_top) if plot is not None else None
        part = given_shard or processes.shard
        total = (
            sum(1 for _ in items(None)) if part.count > 1 else None
        )  # a shard needs the total first
        rows = part.records(total) if total is not None else None
        score = window_scorer(model, description, task, 2 * batch_size)

        def write(handle, progress=None) -> dict[str, int]:
            chosen = items(width) if rows is None else islice(items(width), rows.start, rows.stop)
            return write_effects(
                handle,
                chosen,
                score,
                task,
                batch_size,
                progress,
                header=part.first,
                on_scored=top.add if top is not None else None,
            )

        with sigterm_as_interrupt():
            if processes.distributed:
                counts = _in_parts(write, out, output, processes, quiet)
            else:
                with (
                    output.writing() as temporary,
                    open(temporary, "w", newline="") as handle,
                    record_progress("scoring", quiet, "variants") as progress,
                ):
                    counts = write(handle, progress)
                if top is not None:
                    _draw(plot, top, model, description, task, plot_flank, quiet)
    finally:
        distributed.stop()
    if processes.is_main:
        _summary(counts, out, width, given_shard, processes, plot if top is not None else None, top)


def _inputs(
    run: Path,
    vcf: Optional[Path],
    pairs: Optional[Path],
    genome: Optional[Path],
    window: Optional[int],
):
    """(items(width) -> prepared Variants in input order (width None: unprepared, for counting),
    width(run) -> the window), the input checked before any model is loaded."""
    from dnanet.inputs.read import check_input_file

    if pairs is not None:
        from dnanet.interpret.variant_pairs import prepare_pair, read_pairs

        if genome is not None:
            raise DnanetError("--genome is for --vcf; --pairs holds its own sequences")
        check_input_file(pairs)
        return (
            lambda width: (prepare_pair(v, width) for v in read_pairs(pairs)),
            lambda loaded: window or loaded.window,
        )
    from dnanet.inputs.genome import open_genome
    from dnanet.interpret.variants import prepare, read_vcf

    if genome is None:
        raise DnanetError(
            "--vcf needs --genome FASTA, the genome the VCF refers to (or give --pairs instead)"
        )
    check_input_file(vcf)
    the_genome = open_genome(genome)

    def vcf_width(loaded) -> int:
        width = window or loaded.window
        if width is None:
            raise DnanetError(
                f"{run}: its training inputs record no window width (they were not BED intervals "
                "read with --window); give --window N, the length of the sequences it was trained "
                "on"
            )
        return width

    def items(width):
        return (
            read_vcf(vcf)
            if width is None
            else (prepare(v, the_genome, width) for v in read_vcf(vcf))
        )

    return items, vcf_width


def _top(task, target: Optional[str], count: int):
    from dnanet.interpret.attribution import resolve_target
    from dnanet.interpret.variant_plots import TopVariants

    index = resolve_target(task, target)
    return TopVariants(count, index, task.names[index])


def _draw(folder: Path, top, model, description: dict, task, flank: int, quiet: bool) -> None:
    """One PNG per top variant (`dnanet.interpret.variant_plots.draw_variant`), each written atomically."""
    from dnanet.interpret.attribution import target_output
    from dnanet.files.outputs import write_atomically
    from dnanet.interpret.variant_plots import draw_variant, file_name

    folder.mkdir(parents=True, exist_ok=True)
    objective = target_output(task, top.target)
    strands = 2 if description["reverse_complement_average"] else 1
    output = f"{'value' if task.kind == 'regression' else 'log-odds'} of {task.names[top.target]}"
    with record_progress("drawing ISM maps", quiet, "variants") as progress:
        for rank, (variant, diff) in enumerate(top.ranked(), 1):
            with write_atomically(folder / file_name(rank, variant)) as temporary:
                draw_variant(temporary, model, objective, strands, variant, diff, output, flank)
            progress(rank)


def _in_parts(write, out: Path, output, processes, quiet: bool) -> dict[str, int]:
    """Under torchrun: each process writes its shard's rows to a part (rank 0's alone with the
    header) and its status counts beside it; rank 0 copies the parts in rank order into `out` and
    adds the counts (returned on rank 0; every process's own elsewhere). `output`: rank 0's claimed
    output (`dnanet.files.outputs.Output`), None elsewhere."""
    from dnanet.runtime.distributed import concatenate, write_in_parts

    totals: dict[str, int] = {}

    def write_part(stem: Path) -> None:
        with (
            open(stem.with_suffix(".tsv"), "w", newline="") as handle,
            record_progress(
                f"scoring (process 0 of {processes.world_size})",
                quiet or not processes.is_main,
                "variants",
            ) as progress,
        ):
            counts = write(handle, progress)
        stem.with_suffix(".json").write_text(json.dumps(counts))
        totals.update(counts)

    def merge(stems: list[Path]) -> None:
        with output.writing() as temporary, open(temporary, "wb") as target:
            concatenate([stem.with_suffix(".tsv") for stem in stems], target)
        parts = [json.loads(stem.with_suffix(".json").read_text()) for stem in stems]
        totals.update({status: sum(part[status] for part in parts) for status in parts[0]})

    write_in_parts(out, processes, write_part, merge)
    return totals


def _summary(
    counts: dict[str, int], out: Path, width, shard, processes, plot: Optional[Path], top
) -> None:
    total = sum(counts.values())
    where = f"shard {shard}: " if shard is not None else ""
    by = f" by {processes.world_size} processes" if processes.distributed else ""
    size = f"window {width}" if width is not None else "pairs scored as they are"
    err.print(
        escape(f"{where}{total:,} variants written to {out}{by} ({size}): {counts['ok']:,} scored"),
        highlight=False,
        soft_wrap=True,
    )
    for status, count in counts.items():
        if status != "ok" and count:
            err.print(
                escape(
                    f"note: {count:,} {status.replace('_', ' ')} (status {status}; see the note "
                    "column)"
                ),
                highlight=False,
                soft_wrap=True,
            )
    if plot is not None:
        err.print(
            escape(
                f"ISM maps of the top {len(top.heap)} variants (by |diff_{top.target_name}|) in "
                f"{plot}/"
            ),
            highlight=False,
            soft_wrap=True,
        )
