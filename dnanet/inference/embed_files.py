"""`dnanet embed` as library calls: a run's embeddings of some inputs, in memory (`embed_arrays`)
or streamed into a Parquet, NumPy or TSV file, with a projection plot (`embed_to_file`).

Both read the vectors through one path, `embedding_chunks` (`dnanet.inference.embed.iter_embeddings`
over `dnanet.data.streaming.iter_batches`), so a notebook gets the vectors the command writes.

`embed_to_file` claims its outputs before the long work (`dnanet.files.outputs.claimed`) and
writes each atomically; under torchrun (`processes` of `dnanet.runtime.distributed.start`) every
process embeds its shard of the records into a part and rank 0 streams the parts, in order, into
the one output (`dnanet.runtime.distributed.write_in_parts`). Rank 0 alone tells the reporter.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from dnanet.data.streaming import count_records, iter_batches
from dnanet.errors import DnanetError
from dnanet.examples import heldout_inputs
from dnanet.files.outputs import check_output_kind, claimed
from dnanet.inference.embed import (
    RecordColumns,
    check_output_format,
    check_representation,
    combine_members,
    ids_path,
    iter_embeddings,
    write_embeddings,
)
from dnanet.inference.lengths import LengthWatch
from dnanet.inputs.sources import (
    GenomeSettings,
    check_settings_used,
    input_notes,
    parse_inputs,
    resolve_inputs,
)
from dnanet.progress import Reporter
from dnanet.runs.load import Run, load_run, not_learned
from dnanet.runtime.distributed import Processes, write_in_parts
from dnanet.runtime.shards import Shard

PLOT_SAMPLE = 20_000  # points at most in the projection plot (sampled evenly)

Chunks = Iterator[tuple[list[str], np.ndarray]]  # (ids, vectors float32 (B, D)) per batch


@dataclass(frozen=True)
class EmbeddedFile:
    """What `embed_to_file` wrote: `count` vectors of `width` values in `out` (the .npy's ids in
    `ids_file`), the `plot` if asked, by `processes` processes; `notes`: what it told the
    reporter (the not-learned warning, skipped intervals, repeated ids)."""

    out: Path
    count: int
    width: int
    ids_file: Optional[Path]
    plot: Optional[Path]
    processes: int
    notes: list[str]


def check_embed_outputs(out: Path, plot: Optional[Path]) -> None:
    """Refuse at once an --out that is no regular file path or of no known format, and a --plot
    that is no .png."""
    check_output_kind(out, folder=False)
    check_output_format(out)
    if plot is not None and plot.suffix.lower() != ".png":
        raise DnanetError(f"{plot}: --plot writes a PNG; name it .png")


def embed_arrays(
    run: Run,
    items: list,
    *,
    layer: str = "embedding",
    pool: Optional[str] = None,
    members: Optional[str] = None,
    batch_size: int = 256,
    settings: Optional[GenomeSettings] = None,
    reporter: Optional[Reporter] = None,
) -> tuple[list[str], np.ndarray]:
    """The ids and vectors float32 ``(N, D)`` of every record of `items`, in input order: the
    vectors `dnanet embed` writes (`layer`, `pool`: `dnanet.inference.embed`). `items`: resolved
    inputs (`dnanet.inputs.sources.LabelledInput`s with a source), or the command line's input
    strings (empty: the bundled held-out example); `settings` reads BED inputs and backgrounds.
    The not-learned warning and the inputs' notes go to `reporter`. No records: ``(0, 0)``.
    `members`: an ensemble's vectors side by side (concat) or averaged (mean)."""
    reporter = reporter or Reporter()
    check_representation(run.model, layer, pool)
    combine_members(run.model, members)
    note_if_not_learned(run, reporter)
    resolved = embedding_inputs(items, settings, run, reporter)
    watch = LengthWatch.for_run(run)
    watched = _tracker(None, watch, resolved) if watch is not None else None
    ids, blocks = [], []
    with reporter.counter("embedding", None, "records") as update:
        chunks = embedding_chunks(run.model, resolved, layer, pool, batch_size, on_batch=watched)
        for chunk_ids, vectors in chunks:
            ids.extend(chunk_ids)
            blocks.append(vectors)
            update(len(ids))
    for note in input_notes(resolved):
        reporter.note(note)
    if watch is not None and watch.note():
        reporter.note(watch.note(), "warning")
    return ids, np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)


def embed_to_file(
    run: Run | Path | str,
    inputs: list,
    out: Path,
    *,
    layer: str = "embedding",
    pool: Optional[str] = None,
    members: Optional[str] = None,
    plot: Optional[Path] = None,
    batch_size: int = 256,
    shard: Optional[Shard] = None,
    settings: Optional[GenomeSettings] = None,
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    processes: Optional[Processes] = None,
    reporter: Optional[Reporter] = None,
    strict_lengths: bool = False,
) -> EmbeddedFile:
    """`dnanet embed`: the vectors of `inputs` (as for `embed_arrays`) streamed into `out`
    (.parquet, .npy with NAME.ids.txt beside it, .tsv: `dnanet.inference.embed.write_embeddings`),
    and with `plot` a PNG of their first two principal components coloured by input. `run`: a loaded
    `Run`, or a run folder loaded on `device` once the outputs are claimed. `shard`: only that
    block of the records (a TSV header only in the first). `members`: as for `embed_arrays`.
    Under torchrun (`processes`) the processes split the records and rank 0 writes the one
    output; other ranks return a count of 0. Records shorter or longer than every training record
    get one warning (`strict_lengths`: the first is refused; `dnanet.inference.lengths`; one
    process: under torchrun each rank's records are not counted)."""
    out, plot = Path(out), Path(plot) if plot is not None else None
    processes = processes or Processes()
    reporter = (reporter or Reporter()) if processes.is_main else Reporter()  # rank 0 speaks
    first_note = len(reporter.notes)
    check_embed_outputs(out, plot)
    with ExitStack() as claims:
        outputs = [out, ids_path(out) if out.suffix.lower() == ".npy" else None, plot]
        claimed_outputs = {
            path: claims.enter_context(claimed(path, overwrite, reporter=reporter))
            for path in outputs
            if path is not None and processes.is_main
        }  # before the long work; rank 0 writes
        loaded = run if isinstance(run, Run) else load_run(run, device)
        check_representation(loaded.model, layer, pool)  # a refused request is one line
        combine_members(loaded.model, members)
        note_if_not_learned(loaded, reporter)
        items = embedding_inputs(inputs, settings, loaded, reporter)
        title = f"{loaded.folder.name}: {layer}{f' ({pool})' if pool else ''}"
        genome = any(item.source.kind not in ("fasta", "sequences") for item in items)
        output = EmbeddingOutput(out, plot, title, claimed_outputs, reporter, genome)
        sample = PlotSample(PLOT_SAMPLE, [item.label for item in items])
        how = (layer, pool, batch_size)
        watch = LengthWatch.for_run(loaded, strict_lengths)
        count = _embed_block(loaded.model, items, how, output, sample, shard, processes, watch)
    for note in input_notes(items):
        reporter.note(note)
    if watch is not None and watch.note():
        reporter.note(watch.note(), "warning")
    return EmbeddedFile(
        out,
        count,
        sample.width,
        ids_path(out) if out.suffix.lower() == ".npy" else None,
        plot,
        processes.world_size,
        reporter.texts()[first_note:],
    )


def note_if_not_learned(run: Run, reporter: Reporter, advice: str = "") -> None:
    """The warning of a run whose model did not learn (`dnanet.runs.load.not_learned`), plus
    `advice`."""
    warning = not_learned(run.record, str(run.folder))
    if warning:
        reporter.note(warning + advice, "warning")


def embedding_inputs(
    inputs: list, settings: Optional[GenomeSettings], run: Run, reporter: Reporter
) -> list:
    """Input strings or `LabelledInput`s (none: the bundled held-out example, which `reporter`
    is told of) -> resolved inputs; BED intervals are read at the run's training window unless
    `settings` names one."""
    settings = replace(settings or GenomeSettings(), trained_window=run.input_width)
    items = resolve_inputs(parse_inputs(inputs, heldout_inputs, reporter), settings)
    check_settings_used(items, settings)
    return items


def embedding_chunks(
    model: nn.Module,
    items: list,
    layer: str,
    pool: Optional[str],
    batch_size: int,
    records: Optional[range] = None,
    on_batch: Optional[Callable] = None,
) -> Chunks:
    """(ids, vectors float32 ``(B, D)``) of the records of `items` (only the record numbers in
    `records` when given), batch by batch in input order; `on_batch(batch)` sees each batch
    before it is embedded. The one path of `embed_arrays` and `embed_to_file`."""
    batches = iter_batches(items, batch_size, records=records)
    if on_batch is not None:
        batches = _seen(batches, on_batch)
    return iter_embeddings(model, batches, layer, pool)


def _tracker(sample: Optional["PlotSample"], watch: Optional[LengthWatch], items: list) -> Callable:
    """What each batch is shown to before it is embedded: the plot's sample (its inputs) and the
    training-lengths watch (either may be None)."""

    def track(batch) -> None:
        if sample is not None:
            sample.track(batch.sources)
        if watch is not None:
            watch.observe_batch(batch, items)

    return track


def _seen(batches, on_batch: Callable):
    for batch in batches:
        on_batch(batch)
        yield batch


def _embed_block(
    model: nn.Module,
    items: list,
    how: tuple[str, Optional[str], int],
    output: "EmbeddingOutput",
    sample: "PlotSample",
    shard: Optional[Shard],
    processes: Processes,
    watch: Optional[LengthWatch] = None,
) -> int:
    """Embed this process's block of the records (`shard`, else its rank's share) into `output`
    (under torchrun, into a part that rank 0 merges); `how`: (layer, pool, batch size). Returns
    the records written (0 on other ranks)."""
    layer, pool, batch_size = how
    part = shard or processes.shard
    counts = count_records(items) if part.count > 1 else None  # a shard needs the total first
    records = part.records(sum(counts)) if counts is not None else None
    if records is not None and not records:  # more shards than records: the first gives the width
        chunks = _width_only(embedding_chunks(model, items, layer, pool, 1, range(1)))
    else:
        track = None if processes.distributed else _tracker(sample, watch, items)
        chunks = embedding_chunks(model, items, layer, pool, batch_size, records, track)
    if processes.distributed:
        return _embed_in_parts(chunks, output, sample, counts, processes)
    return output.write(chunks, sample, "embedding", header=part.first)


class EmbeddingOutput:
    """The output file (and plot) of `embed_to_file`, written atomically from (ids, vectors)
    chunks; `claimed`: path -> its claimed `dnanet.files.outputs.Output` (the file, the .npy's
    ids file, the plot), on rank 0; progress goes to `reporter`."""

    def __init__(
        self,
        out: Path,
        plot: Optional[Path],
        title: str,
        claimed: dict,
        reporter: Reporter,
        genome: bool = False,
    ):
        self.out, self.plot, self.title, self.reporter = out, plot, title, reporter
        self.claimed, self.genome = claimed, genome  # genome: coordinate columns

    def write(self, chunks: Chunks, sample: "PlotSample", what: str, header: bool = True) -> int:
        """Stream `chunks` into the output (`sample` sees every vector, for the plot); return the
        count."""
        with self.reporter.counter(what, None, "records") as progress, ExitStack() as outputs:

            def on_chunk(ids, vectors):
                sample.add(vectors, keep=self.plot is not None)  # no plot: count, keep nothing
                progress(sample.seen)

            temporary = outputs.enter_context(self.claimed[self.out].writing())
            npy = self.out.suffix.lower() == ".npy"
            ids_temporary = (
                outputs.enter_context(self.claimed[ids_path(self.out)].writing()) if npy else None
            )
            labels = RecordColumns(
                lambda: [sample.groups[source] for source in sample.sources], self.genome
            )
            count = write_embeddings(
                self.out,
                temporary,
                chunks,
                ids_temporary,
                on_chunk=on_chunk,
                header=header,
                labels=labels,
            )
            if self.plot is not None:
                _draw(sample, self.claimed[self.plot], f"{self.title}, {count:,} records")
        return count


def _embed_in_parts(
    chunks: Chunks,
    output: EmbeddingOutput,
    sample: "PlotSample",
    counts: list[int],
    processes: Processes,
) -> int:
    """Under torchrun: each process writes its shard's vectors (`chunks`) to a .npy part (ids
    beside it); rank 0 then streams the parts in rank order into the output, as one process would
    write it. Returns the number of records (rank 0; 0 elsewhere)."""
    written = []
    speaker = output.reporter if processes.is_main else Reporter()

    def write_part(stem: Path) -> None:
        part = stem.with_suffix(".npy")
        seen = 0
        what = f"embedding (process 0 of {processes.world_size})"
        with speaker.counter(what, None, "records") as progress:

            def on_chunk(ids, vectors):
                nonlocal seen
                seen += len(ids)
                progress(seen)

            write_embeddings(part, part, chunks, ids_path(part), on_chunk=on_chunk)

    def merge(stems: list[Path]) -> None:
        written.append(output.write(part_chunks(stems, counts, sample), sample, "writing"))

    write_in_parts(output.out, processes, write_part, merge)
    return sum(written)


def part_chunks(stems: list[Path], counts: list[int], sample: "PlotSample", rows: int = 4096):
    """(ids, vectors float32 ``(B, D)``) chunks of up to `rows` read back from the .npy parts in
    order (memory-mapped: one chunk in memory at a time); `sample` gets each row's input file
    index (known from the records per file, `counts`), for the plot's groups."""
    ends = np.cumsum(counts)
    number = 0
    for stem in stems:
        part = stem.with_suffix(".npy")
        vectors = np.load(part, mmap_mode="r")
        with open(ids_path(part), encoding="utf-8") as handle:
            ids = (line.rstrip("\n") for line in handle)
            for start in range(0, len(vectors), rows):
                chunk = np.array(vectors[start : start + rows])
                sample.track(
                    np.searchsorted(
                        ends, np.arange(number, number + len(chunk)), side="right"
                    ).tolist()
                )
                number += len(chunk)
                yield list(islice(ids, len(chunk))), chunk


def _width_only(chunks: Chunks) -> Chunks:
    """The first (ids, vectors ``(B, D)``) chunk emptied to ([], ``(0, D)``): an empty shard's
    file still has the vectors' width (a TSV header, a ``(0, D)`` array, Parquet columns)."""
    for ids, vectors in chunks:
        yield [], vectors[:0]
        return


class PlotSample:
    """An even random sample (reservoir) of vectors and their groups, for the projection plot."""

    def __init__(self, size: int, groups: list[str]):
        self.size, self.groups, self.seen, self.width = size, groups, 0, 0
        self.vectors: list[np.ndarray] = []
        self.labels: list[str] = []
        self.sources: list[int] = []
        self.rng = np.random.default_rng(0)

    def track(self, sources: list[int]) -> None:
        """The input index of each row of the next vectors `add` gets."""
        self.sources = sources

    def add(self, vectors: np.ndarray, keep: bool = True) -> None:
        """Count a batch's vectors ``(B, D)``; with `keep`, sample copies of them (a row view would
        keep its whole batch alive: memory grew with the number of records)."""
        self.width = vectors.shape[1]
        if not keep:
            self.seen += len(vectors)
            return
        for vector, source in zip(vectors, self.sources):
            if len(self.vectors) < self.size:
                self.vectors.append(vector.copy())
                self.labels.append(self.groups[source])
            else:
                slot = int(self.rng.integers(0, self.seen + 1))
                if slot < self.size:
                    self.vectors[slot], self.labels[slot] = vector.copy(), self.groups[source]
            self.seen += 1


def _draw(sample: PlotSample, output, title: str) -> None:
    """The projection plot into `output` (its `dnanet.files.outputs.Output`)."""
    from dnanet.inference.embed_plots import plot_projection  # matplotlib: only when drawing

    if not sample.vectors:
        return
    with output.writing() as temporary:
        plot_projection(
            np.stack(sample.vectors), sample.labels, temporary.with_suffix(".png"), title
        )
        temporary.with_suffix(".png").replace(temporary)
