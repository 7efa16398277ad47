"""`dnanet embed`: one vector per sequence, streamed to Parquet, NumPy or TSV."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from dnanet.cli import choices
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
    parse_inputs,
    record_progress,
    setup_torch,
    shard_option,
    sigterm_as_interrupt,
    user_errors,
    warn_if_not_learned,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    BackgroundSeedOption,
    GenomeOption,
    RunWindowOption,
    genome_settings,
    print_notes,
)
from dnanet.errors import DnanetError

PLOT_SAMPLE = 20_000


@app.command()
@user_errors
def embed(
    run: Path = RunArgument,
    inputs: List[str] = typer.Argument(
        None,
        help="FASTA files (plain or .gz); CLASS=PATH names the group a file's "
        "points get in --plot (default: the file name). Default: the bundled CTCF "
        "held-out files." + GENOME_INPUTS_HELP,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output file: .parquet (an id column and float32 columns "
        "dim_0, dim_1, ...), .npy (an (N, D) float32 array; the ids, one per line, go to "
        "NAME.ids.txt beside it) or .tsv (id, dim_0, ...). One row per record, in input order.",
    ),
    overwrite: bool = OverwriteOption,
    layer: str = typer.Option(
        "embedding",
        help="embedding: the trunk output that feeds the head (CNN, LSTM: the "
        "dense layer after mean+max pooling; transformer: its [CLS] or mean token, as trained). "
        "tokens: the last sequence layer's per-position output (CNN: last conv block; LSTM: "
        "both directions; transformer: last encoder layer), pooled by --pool.",
        autocompletion=choices.LAYERS,
    ),
    pool: Optional[str] = typer.Option(
        None,
        help="With --layer tokens: mean (default) or max over each sequence's "
        "positions, or cls (a transformer trained with pooling: cls).",
        autocompletion=choices.POOLS,
    ),
    plot: Optional[Path] = typer.Option(
        None,
        help="Also draw a PNG: the first two principal components, coloured "
        f"by input file or class (at most {PLOT_SAMPLE:,} points, sampled evenly).",
    ),
    batch_size: int = typer.Option(
        256, min=1, help="Sequences per batch (vectors do not depend on it)."
    ),
    shard: Optional[str] = shard_option(
        "Put the shards together in shard order: .tsv: only shard 1 has the header "
        "row, so cat e.1.tsv e.2.tsv ... > e.tsv; .npy: np.concatenate the arrays and "
        "cat the NAME.ids.txt files; .parquet: pd.concat of pd.read_parquet of each. "
        "--plot then shows the shard's records."
    ),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = RunWindowOption,
    background_ratio: int = BackgroundRatioOption,
    seed: int = BackgroundSeedOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Write one embedding vector per FASTA record, streamed in batches (constant memory).

    Vectors come from the forward strand, in eval mode; the same input gives the same vectors at
    any batch size. Sequences longer than a transformer's max_len are embedded window by window
    and averaged (its "chunk and pool" policy). Under torchrun the processes split the records
    and rank 0 writes the one output (and plot).

      dnanet embed runs/ctcf bound=bound.fa background=background.fa \\
        --out emb.parquet --plot emb.png
    """
    from dnanet.runtime import distributed
    from dnanet.inference.embed import check_output_format, check_representation, ids_path, iter_embeddings
    from dnanet.examples import heldout_inputs
    from dnanet.files.outputs import check_output_kind
    from dnanet.runs.load import load_run
    from dnanet.inputs.sources import check_settings_used, input_notes, resolve_inputs
    from dnanet.data.streaming import count_records, iter_batches

    check_output_kind(out, folder=False)
    check_output_format(out)
    if plot is not None and plot.suffix.lower() != ".png":
        raise DnanetError(f"{plot}: --plot writes a PNG; name it .png")
    given_shard = inference_shard(shard)
    processes, torch_device = distributed.start(setup_torch(threads, device))
    err.quiet = not processes.is_main  # rank 0 speaks for all
    try:
        claimed = [
            claim_output(path, overwrite) if processes.is_main else None
            for path in (out, ids_path(out) if out.suffix.lower() == ".npy" else None, plot)
            if path is not None
        ]  # before the long work; rank 0 writes
        loaded = load_run(run, torch_device)
        model = loaded.model
        check_representation(
            model, layer, pool
        )  # before any warning: a refused request is one line
        warn_if_not_learned(loaded.record, str(run))
        settings = genome_settings(genome, window, background_ratio, seed, loaded)
        parsed = resolve_inputs(parse_inputs(inputs, heldout_inputs), settings)
        check_settings_used(parsed, settings)
        paths = parsed  # FASTA paths and BED / background inputs alike (dnanet.inputs.sources)
        part = given_shard or processes.shard
        counts = count_records(paths) if part.count > 1 else None  # a shard needs the total first
        records = part.records(sum(counts)) if counts is not None else None
        sample = _PlotSample(PLOT_SAMPLE, [item.label for item in parsed])
        output = _Output(
            out, plot, f"{run.name}: {layer}{f' ({pool})' if pool else ''}", quiet, claimed
        )

        batches = iter_batches(paths, batch_size, records=records)
        if (
            records is not None and not records
        ):  # more shards than records: the first record gives the width
            chunks = _width_only(
                iter_embeddings(model, iter_batches(paths, 1, records=range(1)), layer, pool)
            )
        else:
            chunks = iter_embeddings(
                model, batches if processes.distributed else _tracking(batches, sample), layer, pool
            )
        with sigterm_as_interrupt():
            if processes.distributed:
                count = _embed_in_parts(chunks, output, sample, counts, processes)
            else:
                count = output.write(chunks, sample, "embedding", header=part.first)
    finally:
        distributed.stop()
    if processes.is_main:
        print_notes(input_notes(parsed))
        err.print(
            (f"shard {given_shard}: " if given_shard else "")
            + f"{count:,} vectors of {sample.width} values written to {out}"
            + (f" (ids in {ids_path(out)})" if out.suffix.lower() == ".npy" else "")
            + (f"; plot in {plot}" if plot else "")
            + (f" by {processes.world_size} processes" if processes.distributed else ""),
            highlight=False,
        )


class _Output:
    """The output file (and plot) of `embed`, written atomically from (ids, vectors) chunks;
    `claimed`: their `dnanet.files.outputs.Output`s (the file, the .npy's ids file, the plot), on rank
    0."""

    def __init__(self, out: Path, plot: Optional[Path], title: str, quiet: bool, claimed: list):
        self.out, self.plot, self.title, self.quiet = out, plot, title, quiet
        self.claimed = {output.path: output for output in claimed if output is not None}

    def write(self, chunks, sample: "_PlotSample", what: str, header: bool = True) -> int:
        """Stream `chunks` into the output (`sample` sees every vector, for the plot); return the
        count."""
        from dnanet.inference.embed import ids_path, write_embeddings

        with record_progress(what, self.quiet) as progress, ExitStack() as outputs:

            def on_chunk(ids, vectors):
                sample.add(vectors, keep=self.plot is not None)  # no plot: count, keep nothing
                progress(sample.seen)

            temporary = outputs.enter_context(self.claimed[self.out].writing())
            npy = self.out.suffix.lower() == ".npy"
            ids_temporary = (
                outputs.enter_context(self.claimed[ids_path(self.out)].writing()) if npy else None
            )
            count = write_embeddings(
                self.out, temporary, chunks, ids_temporary, on_chunk=on_chunk, header=header
            )
            if self.plot is not None:
                _draw(sample, self.claimed[self.plot], f"{self.title}, {count:,} records")
        return count


def _embed_in_parts(
    chunks, output: _Output, sample: "_PlotSample", counts: list[int], processes
) -> int:
    """Under torchrun: each process writes its shard's vectors (`chunks`) to a .npy part (ids
    beside it); rank 0 then streams the parts in rank order into the output, as one process would
    write it. Returns the number of records (rank 0; 0 elsewhere)."""
    from dnanet.runtime.distributed import write_in_parts
    from dnanet.inference.embed import ids_path, write_embeddings

    written = []

    def write_part(stem: Path) -> None:
        part = stem.with_suffix(".npy")
        seen = 0

        def on_chunk(ids, vectors):
            nonlocal seen
            seen += len(ids)
            progress(seen)

        with record_progress(
            f"embedding (process 0 of {processes.world_size})",
            output.quiet or not processes.is_main,
        ) as progress:
            write_embeddings(part, part, chunks, ids_path(part), on_chunk=on_chunk)

    def merge(stems: list[Path]) -> None:
        written.append(output.write(_part_chunks(stems, counts, sample), sample, "writing"))

    write_in_parts(output.out, processes, write_part, merge)
    return sum(written)


def _part_chunks(stems: list[Path], counts: list[int], sample: "_PlotSample", rows: int = 4096):
    """(ids, vectors float32 ``(B, D)``) chunks of up to `rows` read back from the .npy parts in
    order (memory-mapped: one chunk in memory at a time); `sample.sources` gets each row's input
    file index (known from the records per file, `counts`), for the plot's groups."""
    from itertools import islice

    from dnanet.inference.embed import ids_path

    ends = np.cumsum(counts)
    number = 0
    for stem in stems:
        part = stem.with_suffix(".npy")
        vectors = np.load(part, mmap_mode="r")
        with open(ids_path(part), encoding="utf-8") as handle:
            ids = (line.rstrip("\n") for line in handle)
            for start in range(0, len(vectors), rows):
                chunk = np.array(vectors[start : start + rows])
                sample.sources = np.searchsorted(
                    ends, np.arange(number, number + len(chunk)), side="right"
                ).tolist()
                number += len(chunk)
                yield list(islice(ids, len(chunk))), chunk


def _width_only(chunks):
    """The first (ids, vectors ``(B, D)``) chunk emptied to ([], ``(0, D)``): an empty shard's
    file still has the vectors' width (a TSV header, a ``(0, D)`` array, Parquet columns)."""
    for ids, vectors in chunks:
        yield [], vectors[:0]
        return


def _tracking(batches, sample: "_PlotSample"):
    for batch in batches:
        sample.sources = batch.sources
        yield batch


class _PlotSample:
    """An even random sample (reservoir) of vectors and their groups, for the projection plot."""

    def __init__(self, size: int, groups: list[str]):
        self.size, self.groups, self.seen, self.width = size, groups, 0, 0
        self.vectors: list[np.ndarray] = []
        self.labels: list[str] = []
        self.sources: list[int] = []
        self.rng = np.random.default_rng(0)

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


def _draw(sample: _PlotSample, output, title: str) -> None:
    """The projection plot into `output` (its `dnanet.files.outputs.Output`)."""
    from dnanet.inference.embed_plots import plot_projection

    if not sample.vectors:
        return
    with output.writing() as temporary:
        plot_projection(
            np.stack(sample.vectors), sample.labels, temporary.with_suffix(".png"), title
        )
        temporary.with_suffix(".png").replace(temporary)
