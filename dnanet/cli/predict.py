"""`dnanet predict`: a TSV of every record's predictions (streamed, shardable, torchrun-aware:
`dnanet.inference.predictions`), or a track along a genome (`dnanet.inference.tracks`). Its own
module because it is the largest command of the everyday three (`evaluate` and `example` stay in
`dnanet.cli.core`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from dnanet.cli.calibrate import ConformalOption
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
    shard_option,
    user_errors,
)
from dnanet.cli.genome import GenomeOption
from dnanet.errors import DnanetError


@app.command()
@user_errors
def predict(
    run: Path = RunArgument,
    fasta: List[Path] = typer.Argument(
        None,
        help="FASTA files (plain or .gz), or BED files with --genome (one "
        "record per interval, named chrom:start-end(strand)); for a track, BED files "
        "of the regions to cover. Default: the bundled CTCF held-out files.",
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="TSV to write ('-' for standard output); or a track along the "
        "genome, X.bw (bigWig) or X.bedGraph: one value per --step bases (with several outputs, "
        "one file per class / label / target / signal track: X.<name>.bw).",
    ),
    profiles: Optional[Path] = typer.Option(
        None,
        "--profiles",
        help="Profile runs (--task profile): also write NAME.npz of the predicted reads per "
        "base, expm1(log total) x probability: 'ids' (N,) and one float32 (N, W) array per "
        "track, W the run's output width (records must be the run's input width).",
        show_default=False,
    ),
    overwrite: bool = OverwriteOption,
    conformal: Optional[float] = ConformalOption,
    calibrated: bool = typer.Option(
        False,
        "--calibrated",
        help="Classification: temperature-scaled probabilities from the run's calibration.json "
        "(the predicted class is unchanged; --conformal implies it).",
    ),
    batch_size: int = typer.Option(
        256, min=1, help="Sequences per batch (results do not depend on it)."
    ),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = typer.Option(
        None,
        "--window",
        min=1,
        help="BED inputs: read N bases centred on each "
        "summit or interval centre; track: the window the model reads at each step. "
        "Default: the --window the run was trained with, or the one length of all its training "
        "records (records of several lengths: BED intervals as they are).",
    ),
    region: Optional[List[str]] = typer.Option(
        None,
        "--region",
        help="Track: a region to cover, CHROM or "
        "CHROM:START-END (1-based, inclusive, e.g. chr1:1-2000000); repeat for "
        "several. Default: the BED files given, else every chromosome.",
    ),
    step: Optional[int] = typer.Option(
        None,
        min=1,
        help="Track: bases between windows; each value covers the step-wide bin "
        "around its window's centre. Default: 50; a signal run's track tiles by its output width.",
        show_default=False,
    ),
    strict_lengths: bool = StrictLengthsOption,
    shard: Optional[str] = shard_option(
        "Only shard 1 has the header row, so the shards' TSVs laid end to end in "
        "shard order are the unsharded output: cat p.1.tsv p.2.tsv ... > p.tsv."
    ),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Predict every record: a TSV with one row per record, in input order.

    Columns: id, predicted, prob_<class>... (classification; multilabel: predicted lists the
    labels with probability >= 0.5, separated by ';'), id, pred_<target>... (regression), or id,
    pred_<track>... (a signal run: the predicted total reads per track over the output width).
    Files are streamed, so memory does not grow with their size. Under torchrun the processes
    split the records and rank 0 writes the one TSV.

      dnanet predict runs/ctcf unknown.fa.gz --out predictions.tsv

      torchrun --nproc-per-node 4 -m dnanet predict runs/ctcf unknown.fa.gz \\
        --out predictions.tsv --device cuda

    With --genome and --out X.bw (or .bedGraph), the model slides along the genome instead and
    writes a track, streamed with a progress bar (bedGraph: memory does not grow with the region;
    bigWig keeps its zoom levels, about 13 bytes per value, in memory until the file is closed):

      dnanet predict runs/peaks --genome hg38.fa --region chr1:1-2000000 --step 50 --out track.bw

    A signal run (trained with --signal) predicts coverage: its TSV has the predicted total reads
    per track; --profiles NAME.npz adds a profile run's reads per base. Its track (one file per
    track, X.<track>.bw, or X.bw for one) tiles the regions by the run's output width, each tile
    predicted from the input window centred on it: a profile run writes the predicted reads per
    base, a counts run the predicted reads in each target-width tile (their sum, not per base):

      dnanet predict runs/chip peaks.narrowPeak --genome hg38.fa --out p.tsv --profiles p.npz

      dnanet predict runs/chip --genome hg38.fa --region chr1:1-2000000 --out predicted.bw

    With --conformal ALPHA (from the run's calibration.json), each row also has its prediction
    set, 'set' (classes joined by ','; for the records of each class, the set holds the true class
    at least 1 - ALPHA of the time), and temperature-scaled probabilities; a multilabel run has
    set_<label> (1, 0 or 0,1), a regression or counts run low_<target> and high_<target>:

      dnanet predict runs/ctcf unknown.fa.gz --conformal 0.1 --out predictions.tsv
    """
    from dnanet.examples import heldout_inputs
    from dnanet.files.outputs import check_output_kind
    from dnanet.inference.predictions import write_prediction_table
    from dnanet.inference.tracks import track_format, write_tracks
    from dnanet.runtime import distributed

    given_shard = inference_shard(shard)
    if str(out) != "-":
        check_output_kind(out, folder=False)
    options = dict(window=window, batch_size=batch_size, overwrite=overwrite, device=device)
    options.update(genome=genome, threads=threads, reporter=ConsoleReporter(quiet))
    if track_format(out) is not None:
        if given_shard is not None or distributed.launched_processes() > 1 or profiles:
            raise DnanetError(
                f"{out}: a track is written by one process, without --profiles (a TSV's option); "
                "drop --shard / torchrun / --profiles"
            )
        if conformal is not None or calibrated:
            raise DnanetError(f"{out}: --conformal and --calibrated are a TSV's options")
        written = write_tracks(
            run, out, regions=region or [], beds=fasta or [], step=step, **options
        )
        err.print(escape(written.summary()), highlight=False, soft_wrap=True)
        return
    if region:
        raise DnanetError("--region makes a track: name --out X.bw (bigWig) or X.bedGraph")
    err.quiet = distributed.launched_rank() != 0  # rank 0 speaks for all
    options.update(conformal=conformal, calibrated=calibrated, strict_lengths=strict_lengths)
    options.update(default=heldout_inputs, shard=given_shard, profiles=profiles)
    predicted = write_prediction_table(run, fasta or [], out, **options)
    if predicted.summary() is not None:
        err.print(predicted.summary())
