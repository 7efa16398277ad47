"""`dnanet embed`: one vector per sequence, streamed to Parquet, NumPy or TSV."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from dnanet.cli.common import (DeviceOption, ThreadsOption, app, err, parse_inputs, setup_torch, user_errors,
                               warn_if_not_learned)
from dnanet.errors import DnanetError

PLOT_SAMPLE = 20_000


@app.command()
@user_errors
def embed(
    run: Path = typer.Argument(..., help="A run folder made by `dnanet train`."),
    inputs: List[str] = typer.Argument(None, help="FASTA files (plain or .gz); CLASS=PATH names the group a file's "
                                       "points get in --plot (default: the file name). Default: the bundled CTCF "
                                       "held-out files.", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .parquet (an id column and float32 columns "
                             "dim_0, dim_1, ...), .npy (an (N, D) float32 array; the ids, one per line, go to "
                             "NAME.ids.txt beside it) or .tsv (id, dim_0, ...). One row per record, in input order."),
    layer: str = typer.Option("embedding", help="embedding: the trunk output that feeds the head (CNN, LSTM: the "
                              "dense layer after mean+max pooling; transformer: its [CLS] or mean token, as trained). "
                              "tokens: the last sequence layer's per-position output (CNN: last conv block; LSTM: "
                              "both directions; transformer: last encoder layer), pooled by --pool."),
    pool: Optional[str] = typer.Option(None, help="With --layer tokens: mean (default) or max over each sequence's "
                                       "positions, or cls (a transformer trained with pooling: cls)."),
    plot: Optional[Path] = typer.Option(None, help="Also draw a PNG: the first two principal components, coloured "
                                        f"by input file or class (at most {PLOT_SAMPLE:,} points, sampled evenly)."),
    batch_size: int = typer.Option(256, min=1, help="Sequences per batch (vectors do not depend on it)."),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Write one embedding vector per FASTA record, streamed in batches (constant memory).

    Vectors come from the forward strand, in eval mode; the same input gives the same vectors at
    any batch size. Sequences longer than a transformer's max_len are embedded window by window
    and averaged (its "chunk and pool" policy).

      dnanet embed runs/ctcf bound=bound.fa background=background.fa --out emb.parquet --plot emb.png
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from dnanet.data import iter_batches
    from dnanet.embed import check_output_format, check_representation, ids_path, iter_embeddings, write_embeddings
    from dnanet.examples import heldout_inputs
    from dnanet.runs import atomic_file, load_run

    check_output_format(out)
    if plot is not None and plot.suffix.lower() != ".png":
        raise DnanetError(f"{plot}: --plot writes a PNG; name it .png")
    model, description = load_run(run, setup_torch(threads, device))
    warn_if_not_learned(description, str(run))
    check_representation(model, layer, pool)
    parsed = parse_inputs(inputs, heldout_inputs)
    sample = _PlotSample(PLOT_SAMPLE, [item.label for item in parsed])
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, disable=quiet) as bar:
        counter = bar.add_task("embedding: 0 records")
        batches = _tracking(iter_batches([item.path for item in parsed], batch_size), sample)

        def progress(ids, vectors):
            sample.add(vectors, keep=plot is not None)  # no plot: count, keep nothing
            bar.update(counter, description=f"embedding: {sample.seen:,} records")

        with ExitStack() as outputs:
            temporary = outputs.enter_context(atomic_file(out))
            ids_temporary = outputs.enter_context(atomic_file(ids_path(out))) if out.suffix.lower() == ".npy" else None
            count = write_embeddings(out, temporary, iter_embeddings(model, batches, layer, pool),
                                     ids_temporary, on_chunk=progress)
            if plot is not None:
                _draw(sample, plot, f"{run.name}: {layer}{f' ({pool})' if pool else ''}, {count:,} records")
    err.print(f"{count:,} vectors of {sample.width} values written to {out}"
              + (f" (ids in {ids_path(out)})" if out.suffix.lower() == ".npy" else "")
              + (f"; plot in {plot}" if plot else ""), highlight=False)


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


def _draw(sample: _PlotSample, path: Path, title: str) -> None:
    from dnanet.plots import plot_projection
    from dnanet.runs import atomic_file

    if not sample.vectors:
        return
    with atomic_file(path) as temporary:
        plot_projection(np.stack(sample.vectors), sample.labels, temporary.with_suffix(".png"), title)
        temporary.with_suffix(".png").replace(temporary)
