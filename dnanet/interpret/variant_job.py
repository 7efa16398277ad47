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
import tempfile
from dataclasses import dataclass, field
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
from dnanet.interpret.variant_null import NullTest, check_null, fill_q_values, resolution
from dnanet.interpret.variant_pairs import prepare_pair, read_pairs
from dnanet.interpret.variant_plots import TopVariants, draw_variant, file_name
from dnanet.interpret.variant_scoring import pair_scorer
from dnanet.interpret.variant_vcf import is_vcf_output, write_vcf
from dnanet.interpret.variants import (
    BASE_COLUMNS,
    MemberSpread,
    Variant,
    prepare,
    read_vcf,
)
from dnanet.progress import Reporter
from dnanet.runs.load import Run
from dnanet.runtime import distributed
from dnanet.runtime.shards import Shard


@dataclass(frozen=True)
class NullChoice:
    """--null and --null-size: the kind of control draws (`dnanet.interpret.variant_null`; "none":
    no p-values) and how many per variant."""

    kind: str = "none"
    size: int = 100

    @property
    def drawn(self) -> bool:
        return self.kind != "none"


@dataclass(frozen=True)
class VariantOutcome:
    """What `score_variants` wrote: rows per status (`counts`, of every process under torchrun)
    into `out`, scored with `window` bases (None: pairs scored as they are), for `shard` (None: all
    rows) by `processes` processes; with --plot, the `drawn` top variants by |`ranked_by`| (the
    column, e.g. diff_bound or lfc_chip) in `plot`; the notes told (the model did not learn);
    the `null` drawn, whether its q-values were filled (`q_filled`: not in a shard), an
    ensemble's `members`, and the VCF lines left out (`vcf_left_out`, malformed, --out .vcf.gz)."""

    out: Path
    counts: dict[str, int]
    window: int | None
    shard: Shard | None
    processes: int
    plot: Path | None
    drawn: int
    ranked_by: str | None
    notes: list[str]
    null: NullChoice = NullChoice()
    q_filled: bool = False
    members: int = 1
    vcf_left_out: int | None = None

    def summary_lines(self) -> list[str]:
        """The closing lines of `dnanet variants`: rows written and scored, a line per other status
        that occurred, the null's draws and p-value resolution, and where the plots are."""
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
        lines += self._null_lines()
        if self.vcf_left_out:
            lines.append(
                f"note: {self.vcf_left_out:,} malformed lines left out of the VCF (not VCF records)"
            )
        if self.plot is not None:
            lines.append(
                f"ISM maps of the top {self.drawn} variants (by |{self.ranked_by}|) in {self.plot}/"
            )
        return lines

    def _null_lines(self) -> list[str]:
        lines = []
        if self.members > 1:
            lines.append(f"ensemble of {self.members} members: sd_ columns are their spread")
        if not self.null.drawn:
            return lines
        lines.append(
            f"null: {self.null.size:,} {self.null.kind} draws per variant; p-values resolve down "
            f"to 1/{self.null.size + 1:,} = {resolution(self.null.size):.3g}"
        )
        if not self.q_filled:
            lines.append(
                "note: q_ columns are empty in a shard: Benjamini-Hochberg needs every shard's "
                "p-values (join the shards, then dnanet.interpret.variant_null.fill_q_values)"
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
    null: NullChoice = NullChoice(),
    reporter: Reporter | None = None,
) -> pd.DataFrame:
    """The rows and columns `dnanet variants RUN --vcf VCF --genome G` (or ``--pairs FASTA``)
    writes, in input order: written by the command's own writer and read back
    (`read_effects_table`), so numbers are the printed ones (6 significant digits); `null`: the
    --null draws (p, q and null_sd columns). `reporter` hears the progress."""
    reporter = reporter if reporter is not None else Reporter()
    check_null(null.kind, null.size)
    source = VariantInput(vcf, genome, pairs, window)
    width = source.width(run)
    with tempfile.TemporaryDirectory() as folder:
        rows, table = Path(folder) / "rows.tsv", Path(folder) / "table.tsv"
        with (
            open(rows, "w", newline="") as handle,
            reporter.counter("scoring", None, "variants") as progress,
        ):
            variants = partial(source.variants, width)
            _effects(run, variants, batch_size, null, source.genome, True, None, handle, progress)
        if null.drawn:
            fill_q_values(rows, table)
        return read_effects_table((table if null.drawn else rows).read_text())


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
    plot_rank: str | None = None,
    null: NullChoice = NullChoice(),
    shard: Shard | None = None,
    overwrite: bool = False,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> VariantOutcome:
    """`dnanet variants RUN (--vcf VCF --genome G | --pairs FASTA) --out OUT`: one row per ALT
    allele or pair, in input order, into `out` (written atomically; a VCF with the effects in
    INFO when `out` ends in .vcf, .vcf.gz or .vcf.bgz: `dnanet.interpret.variant_vcf`). `shard`:
    only that block of the rows; under torchrun the processes split them. `plot`: a folder of
    ISM maps of the `plot_top` variants of largest effect on `target` (default:
    `resolve_target`'s), ranked by `plot_rank` (default: the tested effect, the log-odds change
    for classification; `dnanet.interpret.variants.ranking_effect`), `plot_flank` bases each
    side. `null`: control draws per variant and their p-values
    (`dnanet.interpret.variant_null`), q-values over the whole table (not in a shard). An
    ensemble run adds its members' spread (sd_ columns). `run`: a run folder (loaded after `out`
    is claimed, on `device` with `threads`) or a loaded `Run`. Every process calls this; rank 0
    alone tells `reporter`."""
    reporter = reporter if reporter is not None else Reporter()
    _check_outputs(vcf, pairs, out, plot, target, shard)
    check_null(null.kind, null.size)
    source = VariantInput(vcf, genome, pairs, window)
    processes, torch_device = distributed.start(work_device(run, device, threads))
    speaker = reporter if processes.is_main else Reporter()  # rank 0 speaks for all
    start = len(speaker.notes)
    whole = shard is None or shard.count == 1
    finish = TableFinish(null.drawn and whole, vcf if is_vcf_output(out) else None, out, source)
    try:
        with claimed_by(processes.is_main, out, overwrite, speaker) as output:
            loaded = loaded_run(run, torch_device)
            note_not_learned(loaded, speaker)
            finish.names = list(loaded.task.names)
            width = source.width(loaded)
            top = _top(loaded, target, plot_top, plot_rank) if plot is not None else None
            part = shard or processes.shard
            rows = part.records(source.count()) if part.count > 1 else None
            variants = partial(_chosen, source, width, rows)
            write = partial(
                _effects, loaded, variants, batch_size, null, source.genome, part.first, top
            )
            counts = _write_table(write, out, output, processes, speaker, finish)
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
        null,
        finish.fill_q,
        len(loaded.members) if loaded.is_ensemble else 1,
        finish.left_out if finish.vcf is not None else None,
    )


@dataclass
class TableFinish:
    """What becomes of the rows once all are written, before they are --out: the q-values filled
    (`fill_q`: a null over the whole table) and, for a VCF --out, the input `vcf` written back
    with them (`dnanet.interpret.variant_vcf.write_vcf`; `names`: the run's outputs, set once it
    is loaded). `left_out`: the VCF lines left out."""

    fill_q: bool
    vcf: Path | None = None
    out: Path | None = None
    source: "VariantInput | None" = None
    names: list[str] = field(default_factory=list)
    left_out: int = 0

    @property
    def needed(self) -> bool:
        return self.fill_q or self.vcf is not None

    def __call__(self, rows: Path, target: Path) -> None:
        """Finish the TSV `rows` into `target` (a side file of the claimed output holds the filled
        table on its way into a VCF)."""
        table = rows
        if self.fill_q:
            table = rows.with_suffix(".filled") if self.vcf is not None else target
            fill_q_values(rows, table)
        if self.vcf is not None:
            sizes = dict(self.source.genome.sizes) if self.source.genome is not None else {}
            compressed = self.out.name.lower().endswith((".gz", ".bgz"))
            self.left_out = write_vcf(self.vcf, table, target, self.names, sizes, compressed)


def _check_outputs(
    vcf, pairs, out: Path, plot: Path | None, target: str | None, shard: Shard | None
) -> None:
    """The options' errors, before any input is read."""
    _check_one_input(vcf, pairs)
    if out.is_dir():
        raise DnanetError(f"{out}: is a directory, expected a file name")
    if is_vcf_output(out) and pairs is not None:
        raise DnanetError(
            f"{out}: a VCF output writes the --vcf input back with the effects; "
            "--pairs has no VCF to write back (write a .tsv)"
        )
    if is_vcf_output(out) and shard is not None and shard.count > 1:
        raise DnanetError(
            f"{out}: --shard splits a multi-allelic record's alleles between shards; "
            "write .tsv shards (or run the VCF output unsharded, or under torchrun)"
        )
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


def _top(run: Run, target: str | None, count: int, rank: str | None = None) -> TopVariants:
    """What --plot keeps: the `count` variants of largest effect `rank` (default: the tested
    effect) on `target`'s output."""
    task = run.task
    index = resolve_target(task, target)
    key = variant_rows.ranking_effect(task, rank)
    return TopVariants(
        count,
        index,
        task.names[index],
        partial(variant_rows.headline_effect, task, target=index, key=key),
        key,
    )


def _effects(
    run: Run,
    variants: Callable[[], Iterator[Variant]],
    batch_size: int,
    null: NullChoice,
    genome,
    header: bool,
    top: TopVariants | None,
    handle: TextIO,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """The rows of ``variants()`` (prepared Variants) into `handle`, through
    `dnanet.interpret.variants.write_effects` (looked up when called), scored `2 * batch_size`
    windows at a time; `top` sees every scored variant; an ensemble's spread and the `null`'s
    columns (its snv draws read `genome`, None for pairs) follow the effects. Returns rows per
    status."""
    score = pair_scorer(run.model, run.record, run.task, 2 * batch_size)
    extras = (MemberSpread(run.task),) if run.is_ensemble else ()
    if null.drawn:
        windows = max(4096, 2 * batch_size)
        extras += (NullTest(run.task, null.kind, null.size, score, genome, windows),)
    return variant_rows.write_effects(
        handle,
        variants(),
        score,
        run.task,
        batch_size,
        progress,
        header=header,
        on_scored=top.add if top is not None else None,
        extras=extras,
    )


def _write_table(
    write, out: Path, output, processes, reporter: Reporter, finish: TableFinish
) -> dict[str, int]:
    """The rows through ``write(handle, progress)``: in parts under torchrun
    (`dnanet.runtime.distributed.write_tsv_in_parts`), else into the claimed `output` (through a
    side file and `finish` when the table needs a second pass); returns rows per status (all
    processes')."""
    if not processes.distributed:
        with (
            output.writing() as temporary,
            reporter.counter("scoring", None, "variants") as progress,
        ):
            rows = temporary.with_suffix(".rows") if finish.needed else temporary
            with open(rows, "w", newline="") as handle:
                counts = write(handle, progress)
            if finish.needed:
                finish(rows, temporary)
            return counts

    def rows(handle: TextIO) -> dict[str, int]:
        what = f"scoring (process 0 of {processes.world_size})"
        with reporter.counter(what, None, "variants") as progress:
            return write(handle, progress)

    target = partial(_binary_temporary, output, finish)
    return distributed.write_tsv_in_parts(out, processes, rows, target)


@contextlib.contextmanager
def _binary_temporary(output, finish: TableFinish) -> Iterator:
    """The claimed output's temporary (or its side file, then `finish`), open for bytes; renamed
    into place when the block ends."""
    with output.writing() as temporary:
        rows = temporary.with_suffix(".rows") if finish.needed else temporary
        with open(rows, "wb") as handle:
            yield handle
        if finish.needed:
            finish(rows, temporary)


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
