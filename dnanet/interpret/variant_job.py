"""`dnanet variants` as library calls: the effects of variants (a VCF with its genome, or ref/alt
pairs in a FASTA) on a trained run's outputs, as the TSV the command writes (`score_variants`:
written atomically, one --shard's block, or torchrun's processes' blocks put together by rank 0;
ISM maps of the top variants with --plot) or as a pandas DataFrame for a notebook
(`variants_frame`: the same writer's text read back, cell for cell the command's).

The rows, columns and statuses are `dnanet.interpret.variants`'s (pairs:
`dnanet.interpret.variant_pairs`), the plots `dnanet.interpret.variant_plots`'s.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, TextIO

import pandas as pd

from dnanet.errors import DnanetError
from dnanet.files.outputs import write_atomically
from dnanet.inference.jobs import (
    RunOrFolder,
    claimed_by,
    loaded_run,
    note_not_learned,
    notes_since,
    window_width,
    work_device,
)
from dnanet.inputs.genome import open_genome
from dnanet.inputs.read import check_input_file
from dnanet.interpret import variants as variant_rows
from dnanet.interpret.attribution import output_name, resolve_target, target_output
from dnanet.interpret.variant_pairs import prepare_pair, read_pairs
from dnanet.interpret.variant_plots import TopVariants, draw_variant, file_name
from dnanet.interpret.variants import BASE_COLUMNS, Variant, prepare, read_vcf, window_scorer
from dnanet.progress import Reporter
from dnanet.runs.load import Run
from dnanet.runtime import distributed
from dnanet.runtime.shards import Shard


@dataclass(frozen=True)
class VariantOutcome:
    """What `score_variants` wrote: rows per status (`counts`, of every process under torchrun)
    into `out`, scored with `window` bases (None: pairs scored as they are), for `shard` (None: all
    rows) by `processes` processes; with --plot, the `drawn` top variants by |`ranked_by`| (the
    column, e.g. diff_bound or lfc_chip) in `plot`; the notes told (the model did not learn)."""

    out: Path
    counts: dict[str, int]
    window: int | None
    shard: Shard | None
    processes: int
    plot: Path | None
    drawn: int
    ranked_by: str | None
    notes: list[str]

    def summary_lines(self) -> list[str]:
        """The closing lines of `dnanet variants`: rows written and scored, a line per other status
        that occurred, and where the plots are."""
        total = sum(self.counts.values())
        where = f"shard {self.shard}: " if self.shard is not None else ""
        by = f" by {self.processes} processes" if self.processes > 1 else ""
        size = f"window {self.window}" if self.window is not None else "pairs scored as they are"
        lines = [
            f"{where}{total:,} variants written to {self.out}{by} ({size}): "
            f"{self.counts['ok']:,} scored"
        ]
        lines += [
            f"note: {count:,} {status.replace('_', ' ')} (status {status}; see the note column)"
            for status, count in self.counts.items()
            if status != "ok" and count
        ]
        if self.plot is not None:
            lines.append(
                f"ISM maps of the top {self.drawn} variants (by |{self.ranked_by}|) in {self.plot}/"
            )
        return lines


class VariantInput:
    """The variants of a VCF read against `genome`, or of a `pairs` FASTA, checked (files readable,
    the genome opened) before any model is loaded; `window`: the bases scored (default: the
    run's training window)."""

    def __init__(
        self,
        vcf: Path | None = None,
        genome: Path | None = None,
        pairs: Path | None = None,
        window: int | None = None,
    ):
        _check_one_input(vcf, pairs)
        self.vcf, self.pairs, self.window, self.genome = vcf, pairs, window, None
        if pairs is not None:
            if genome is not None:
                raise DnanetError("--genome is for --vcf; --pairs holds its own sequences")
            check_input_file(pairs)
            return
        if genome is None:
            raise DnanetError(
                "--vcf needs --genome FASTA, the genome the VCF refers to (or give --pairs instead)"
            )
        check_input_file(vcf)
        self.genome = open_genome(genome)

    def width(self, run: Run) -> int | None:
        """The window: --window, else the run's; a VCF needs one, pairs without one are scored
        as they are (None)."""
        if self.vcf is not None or (self.window or run.window) is not None:
            return window_width(run, self.window)
        return None

    def variants(self, width: int | None) -> Iterator[Variant]:
        """The variants in input order, prepared for `width` (windows cut, or a status); a VCF's
        with `width` None are read only, for counting."""
        if self.pairs is not None:
            return (prepare_pair(v, width) for v in read_pairs(self.pairs))
        if width is None:
            return read_vcf(self.vcf)
        return (prepare(v, self.genome, width) for v in read_vcf(self.vcf))

    def count(self) -> int:
        """How many rows the variants make."""
        return sum(1 for _ in self.variants(None))


def variants_frame(
    run: Run,
    *,
    vcf: Path | None = None,
    genome: Path | None = None,
    pairs: Path | None = None,
    window: int | None = None,
    batch_size: int = 256,
    reporter: Reporter | None = None,
) -> pd.DataFrame:
    """The rows and columns `dnanet variants RUN --vcf VCF --genome G` (or ``--pairs FASTA``)
    writes, in input order: written by the command's own writer and read back
    (`read_effects_table`), so numbers are the printed ones (6 significant digits). `reporter`
    hears the progress."""
    reporter = reporter if reporter is not None else Reporter()
    source = VariantInput(vcf, genome, pairs, window)
    width = source.width(run)
    text = io.StringIO()
    with reporter.counter("scoring", None, "variants") as progress:
        _effects(run, partial(source.variants, width), batch_size, True, None, text, progress)
    return read_effects_table(text.getvalue())


def read_effects_table(text: str) -> pd.DataFrame:
    """A variant effects TSV's text as a DataFrame: the first columns (chrom, pos, id, ref, alt,
    status, note) as text, as written (pos too: a malformed line keeps its POS), the effects
    float64 (NaN where a variant was not scored)."""
    header = text.partition("\n")[0].split("\t")
    effects = [column for column in header if column not in BASE_COLUMNS]
    return pd.read_csv(
        io.StringIO(text),
        sep="\t",
        dtype={column: str if column in BASE_COLUMNS else "float64" for column in header},
        keep_default_na=False,
        na_values={column: [""] for column in effects},
    )


def score_variants(
    run: RunOrFolder,
    out: Path,
    *,
    vcf: Path | None = None,
    genome: Path | None = None,
    pairs: Path | None = None,
    window: int | None = None,
    batch_size: int = 256,
    plot: Path | None = None,
    plot_top: int = 5,
    plot_flank: int = 20,
    target: str | None = None,
    shard: Shard | None = None,
    overwrite: bool = False,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> VariantOutcome:
    """`dnanet variants RUN (--vcf VCF --genome G | --pairs FASTA) --out OUT`: one row per ALT
    allele or pair, in input order, into `out` (written atomically). `shard`: only that block of
    the rows; under torchrun the processes split them. `plot`: a folder of ISM maps of the
    `plot_top` variants of largest |diff| (a signal run: |lfc|) of `target` (default:
    `resolve_target`'s), `plot_flank`
    bases each side. `run`: a run folder (loaded after `out` is claimed, on `device` with
    `threads`) or a loaded `Run`. Every process calls this; rank 0 alone tells `reporter`."""
    reporter = reporter if reporter is not None else Reporter()
    _check_outputs(vcf, pairs, out, plot, target)
    source = VariantInput(vcf, genome, pairs, window)
    processes, torch_device = distributed.start(work_device(run, device, threads))
    speaker = reporter if processes.is_main else Reporter()  # rank 0 speaks for all
    start = len(speaker.notes)
    try:
        with claimed_by(processes.is_main, out, overwrite, speaker) as output:
            loaded = loaded_run(run, torch_device)
            note_not_learned(loaded, speaker)
            width = source.width(loaded)
            top = _top(loaded, target, plot_top) if plot is not None else None
            part = shard or processes.shard
            rows = part.records(source.count()) if part.count > 1 else None
            variants = partial(_chosen, source, width, rows)
            write = partial(_effects, loaded, variants, batch_size, part.first, top)
            counts = _write_table(write, out, output, processes, speaker)
            if top is not None:
                _draw(plot, top, loaded, plot_flank, speaker)
    finally:
        distributed.stop()
    return VariantOutcome(
        out,
        counts,
        width,
        shard,
        processes.world_size,
        plot,
        len(top.heap) if top is not None else 0,
        f"{top.effect_name}_{top.target_name}" if top is not None else None,
        notes_since(speaker, start),
    )


def _check_outputs(vcf, pairs, out: Path, plot: Path | None, target: str | None) -> None:
    """The options' errors, before any input is read."""
    _check_one_input(vcf, pairs)
    if out.is_dir():
        raise DnanetError(f"{out}: is a directory, expected a file name")
    if plot is not None and plot.exists() and not plot.is_dir():
        raise DnanetError(f"{plot}: --plot names a folder to draw PNGs into, and this is a file")
    if target is not None and plot is None:
        raise DnanetError("--target chooses the output --plot ranks and draws; give --plot too")
    if plot is not None and distributed.launched_processes() > 1:
        raise DnanetError(
            "--plot is drawn by one process: run it without torchrun (or with --shard K/N)"
        )


def _check_one_input(vcf: Path | None, pairs: Path | None) -> None:
    if (vcf is None) == (pairs is None):
        raise DnanetError("give exactly one of --vcf FILE (with --genome) or --pairs FASTA")


def _chosen(source: VariantInput, width: int | None, rows: range | None) -> Iterator[Variant]:
    """The variants of the rows `rows` (None: all), prepared for `width`."""
    variants = source.variants(width)
    return variants if rows is None else islice(variants, rows.start, rows.stop)


def _top(run: Run, target: str | None, count: int) -> TopVariants:
    """What --plot keeps: the `count` variants of largest effect on `target`'s output."""
    task = run.task
    index = resolve_target(task, target)
    return TopVariants(
        count,
        index,
        task.names[index],
        partial(variant_rows.headline_effect, task, target=index),
        variant_rows.ranking_effect(task),
    )


def _effects(
    run: Run,
    variants: Callable[[], Iterator[Variant]],
    batch_size: int,
    header: bool,
    top: TopVariants | None,
    handle: TextIO,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """The rows of ``variants()`` (prepared Variants) into `handle`, through
    `dnanet.interpret.variants.write_effects` (looked up when called), scored `2 * batch_size`
    windows at a time; `top` sees every scored variant. Returns rows per status."""
    return variant_rows.write_effects(
        handle,
        variants(),
        window_scorer(run.model, run.record, run.task, 2 * batch_size),
        run.task,
        batch_size,
        progress,
        header=header,
        on_scored=top.add if top is not None else None,
    )


def _write_table(write, out: Path, output, processes, reporter: Reporter) -> dict[str, int]:
    """The rows through ``write(handle, progress)``: in parts under torchrun
    (`dnanet.runtime.distributed.write_tsv_in_parts`), else atomically into the claimed
    `output`; returns rows per status (all processes')."""
    if not processes.distributed:
        with (
            output.writing() as temporary,
            open(temporary, "w", newline="") as handle,
            reporter.counter("scoring", None, "variants") as progress,
        ):
            return write(handle, progress)

    def rows(handle: TextIO) -> dict[str, int]:
        what = f"scoring (process 0 of {processes.world_size})"
        with reporter.counter(what, None, "variants") as progress:
            return write(handle, progress)

    return distributed.write_tsv_in_parts(out, processes, rows, partial(_binary_temporary, output))


@contextlib.contextmanager
def _binary_temporary(output) -> Iterator:
    """The claimed output's temporary, open for bytes; renamed into place when the block ends."""
    with output.writing() as temporary, open(temporary, "wb") as handle:
        yield handle


def _draw(folder: Path, top: TopVariants, run: Run, flank: int, reporter: Reporter) -> None:
    """One PNG per top variant (`dnanet.interpret.variant_plots.draw_variant`), each written
    atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    task = run.task
    objective = target_output(task, top.target)
    strands = 2 if run.reverse_complement_average else 1
    explained = output_name(task).replace("_", " ").replace("log odds", "log-odds")
    output = f"{explained} of {task.names[top.target]}"
    with reporter.counter("drawing ISM maps", None, "variants") as progress:
        for rank, (variant, effect) in enumerate(top.ranked(), 1):
            with write_atomically(folder / file_name(rank, variant)) as temporary:
                draw_variant(
                    temporary,
                    run.model,
                    objective,
                    strands,
                    variant,
                    effect,
                    output,
                    flank,
                    top.effect_name,
                )
            progress(rank)
