"""`dnanet embed`: one vector per sequence, streamed to Parquet, NumPy or TSV."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli import choices
from dnanet.cli.common import (
    ConsoleReporter,
    DeviceOption,
    OverwriteOption,
    QuietOption,
    RunArgument,
    StrictLengthsOption,
    ThreadsOption,
    app,
    err,
    inference_shard,
    setup_torch,
    shard_option,
    user_errors,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    BackgroundSeedOption,
    GenomeOption,
    RunWindowOption,
)

PLOT_SAMPLE = 20_000  # dnanet.inference.embed_files.PLOT_SAMPLE (not imported: a fast --help)


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
    members: Optional[str] = typer.Option(
        None,
        help="An ensemble (dnanet train --folds): its members' vectors side by side (concat, "
        "the default) or their mean (mean).",
        autocompletion=choices.MEMBERS,
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
    strict_lengths: bool = StrictLengthsOption,
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
    from dnanet.inference.embed_files import check_embed_outputs, embed_to_file
    from dnanet.inputs.sources import GenomeSettings
    from dnanet.runtime import distributed

    check_embed_outputs(out, plot)  # before the device: a wrong --out is refused at once
    given_shard = inference_shard(shard)
    processes, torch_device = distributed.start(setup_torch(threads, device))
    err.quiet = not processes.is_main  # rank 0 speaks for all
    try:
        done = embed_to_file(
            run,
            inputs,
            out,
            layer=layer,
            pool=pool,
            members=members,
            plot=plot,
            batch_size=batch_size,
            shard=given_shard,
            settings=GenomeSettings(genome, window, background_ratio, seed),
            overwrite=overwrite,
            device=torch_device,
            processes=processes,
            reporter=ConsoleReporter(quiet),
            strict_lengths=strict_lengths,
        )
    finally:
        distributed.stop()
    if processes.is_main:
        err.print(
            (f"shard {given_shard}: " if given_shard else "")
            + f"{done.count:,} vectors of {done.width} values written to {out}"
            + (f" (ids in {done.ids_file})" if done.ids_file else "")
            + (f"; plot in {plot}" if plot else "")
            + (f" by {processes.world_size} processes" if processes.distributed else ""),
            highlight=False,
        )
