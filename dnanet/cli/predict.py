"""`dnanet predict`: a TSV of every record's predictions (streamed, shardable, torchrun-aware), or
a track along a genome. Its own module because it is the largest command of the everyday three
(`evaluate` and `example` stay in `dnanet.cli.core`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

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
    GenomeOption,
    genome_settings,
    print_notes,
    write_track,
)
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
        "one file per class / label / target: X.<name>.bw).",
    ),
    overwrite: bool = OverwriteOption,
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
        "Default: the --window the run was trained with (BED inputs without it: "
        "each interval as it is).",
    ),
    region: Optional[List[str]] = typer.Option(
        None,
        "--region",
        help="Track: a region to cover, CHROM or "
        "CHROM:START-END (1-based, inclusive, e.g. chr1:1-2000000); repeat for "
        "several. Default: the BED files given, else every chromosome.",
    ),
    step: int = typer.Option(
        50,
        min=1,
        help="Track: bases between windows; each value covers the step-wide bin "
        "around its window's centre.",
    ),
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
    labels with probability >= 0.5, separated by ';'), or id, pred_<target>... (regression).
    Files are streamed, so memory does not grow with their size. Under torchrun the processes
    split the records and rank 0 writes the one TSV.

      dnanet predict runs/ctcf unknown.fa.gz --out predictions.tsv

      torchrun --nproc-per-node 4 -m dnanet predict runs/ctcf unknown.fa.gz \\
        --out predictions.tsv --device cuda

    With --genome and --out X.bw (or .bedGraph), the model slides along the genome instead and
    writes a track, streamed with a progress bar (bedGraph: memory does not grow with the region;
    bigWig keeps its zoom levels, about 13 bytes per value, in memory until the file is closed):

      dnanet predict runs/peaks --genome hg38.fa --region chr1:1-2000000 --step 50 --out track.bw
    """
    from dnanet.runtime import distributed
    from dnanet.examples import heldout_inputs
    from dnanet.inference.predict import write_predictions
    from dnanet.files.outputs import check_output_kind
    from dnanet.inputs.sources import LabelledInput
    from dnanet.runs.load import load_run
    from dnanet.inputs.sources import check_settings_used, input_notes, resolve_inputs
    from dnanet.data.streaming import count_records
    from dnanet.data.tasks import Task
    from dnanet.inference.tracks import track_format

    given_shard = inference_shard(shard)
    to_stdout = str(out) == "-"
    if not to_stdout:
        check_output_kind(out, folder=False)
    if track_format(out) is not None:
        if given_shard is not None or distributed.launched_processes() > 1:
            raise DnanetError(f"{out}: a track is written by one process; drop --shard / torchrun")
        loaded = load_run(run, setup_torch(threads, device))
        warn_if_not_learned(loaded.record, str(run))
        with sigterm_as_interrupt():
            return write_track(
                loaded,
                genome,
                window,
                region or [],
                list(fasta or []),
                step,
                batch_size,
                out,
                quiet,
                overwrite,
            )
    if region:
        raise DnanetError("--region makes a track: name --out X.bw (bigWig) or X.bedGraph")
    processes, torch_device = distributed.start(setup_torch(threads, device))
    err.quiet = not processes.is_main  # rank 0 speaks for all
    try:
        output = claim_output(out, overwrite) if processes.is_main and not to_stdout else None
        loaded = load_run(run, torch_device)
        model, description = loaded.model, loaded.record
        warn_if_not_learned(description, str(run))
        the_task = Task.from_dict(description["task"])
        paths = list(fasta) if fasta else [item.path for item in parse_inputs([], heldout_inputs)]
        settings = genome_settings(genome, window, run=loaded)
        paths = resolve_inputs([LabelledInput(None, path) for path in paths], settings)
        check_settings_used(paths, settings)
        part = given_shard or processes.shard
        total = (
            sum(count_records(paths)) if part.count > 1 else None
        )  # a shard needs the total first
        records = part.records(total) if total is not None else None

        def write(handle, progress=None) -> int:
            return write_predictions(
                handle,
                model,
                the_task,
                paths,
                batch_size,
                description["reverse_complement_average"],
                progress,
                records=records,
                header=part.first,
            )

        with sigterm_as_interrupt():
            if processes.distributed:
                _predict_in_parts(write, out, output, processes, quiet)
            elif to_stdout:
                held = _HeaderWithFirstRow(sys.stdout)
                write(held)
                held.finish()
                print_notes(input_notes(paths))
                return
            else:
                with (
                    output.writing() as temporary,
                    open(temporary, "w", newline="") as handle,
                    record_progress("predicting", quiet) as progress,
                ):
                    count = write(handle, progress)
    finally:
        distributed.stop()
    if processes.is_main:
        print_notes(input_notes(paths))
    if processes.distributed:
        if str(out) != "-":
            err.print(f"{total} predictions written to {out} by {processes.world_size} processes")
    elif given_shard is not None:
        err.print(f"shard {given_shard}: {count} predictions written to {out}")
    else:
        err.print(f"{count} predictions written to {out}")


class _HeaderWithFirstRow:
    """Standard output for `predict --out -` that holds the header row until the first record's row
    is written, so an input that fails before its first record (missing, unreadable, not FASTA)
    leaves nothing on standard output but the error on stderr; `finish` writes a header held alone
    (no records). Rows are streamed: an error further in comes after the rows before it."""

    def __init__(self, stream):
        self.stream, self.held = stream, None

    def write(self, text: str) -> None:
        if self.held is None:
            self.held = text
            return
        if self.held:
            text, self.held = self.held + text, ""
        self.stream.write(text)

    def finish(self) -> None:
        if self.held:
            self.stream.write(self.held)
            self.held = ""


def _predict_in_parts(write, out: Path, output, processes, quiet: bool) -> None:
    """Under torchrun: each process writes its shard's rows (`write(handle, progress)`; rank 0's
    part alone has the header) to a part file, and rank 0 copies the parts in rank order into `out`
    (through `output`, its `dnanet.files.outputs.Output`; None for standard output)."""
    from dnanet.runtime.distributed import concatenate, write_in_parts

    def write_part(stem: Path) -> None:
        with (
            open(stem.with_suffix(".tsv"), "w", newline="") as handle,
            record_progress(
                f"predicting (process 0 of {processes.world_size})", quiet or not processes.is_main
            ) as progress,
        ):
            write(handle, progress)

    def merge(stems: list[Path]) -> None:
        parts = [stem.with_suffix(".tsv") for stem in stems]
        if str(out) == "-":
            sys.stdout.flush()
            concatenate(parts, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        with output.writing() as temporary, open(temporary, "wb") as target:
            concatenate(parts, target)

    write_in_parts(
        Path("predictions.tsv") if str(out) == "-" else out, processes, write_part, merge
    )
