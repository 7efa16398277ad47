"""`dnanet attribute`: per-base attributions of a run's output, in TF-MoDISco's array layout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from dnanet.cli import choices  # option completions from the registries
from dnanet.interpret.attribution_job import AttributionJob
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
    setup_torch,
    shard_option,
    sigterm_as_interrupt,
    user_errors,
    warn_if_not_learned,
)
from dnanet.cli.genome import GENOME_INPUTS_HELP, GenomeOption, RunWindowOption
from dnanet.errors import DnanetError

PLOTTED_RECORDS = 3


@app.command()
@user_errors
def attribute(
    run: Path = RunArgument,
    fasta: List[Path] = typer.Argument(
        None,
        help="FASTA files (plain or .gz). Default: the bundled CTCF held-out "
        "files." + GENOME_INPUTS_HELP.split(" CLASS=")[0],
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Attributions file to write, NAME.npz: arr_0 = attributions "
        "(N, 4, L) float32, plus ids, lengths, reference, and deltas for ism; the one-hot "
        "sequences (N, 4, L) go to NAME.ohe.npz (arr_0). Records shorter than the longest (L) "
        "are padded with zero columns.",
    ),
    overwrite: bool = OverwriteOption,
    method: str = typer.Option(
        "saliency",
        help="ism: exact in-silico mutagenesis (every other base at every "
        "position predicted; 3 passes per base, 6 with strand averaging: slow, limit it with "
        "--region), arr_0 = the deltas centred over A C G T at each position; saliency: the "
        "gradient of the output w.r.t. the one-hot input, centred over A C G T; grad_x_input: "
        "saliency at each record's own base, 0 at the others.",
        autocompletion=choices.ATTRIBUTION_METHODS,
    ),
    target: Optional[str] = typer.Option(
        None,
        help="The output explained: a class (log-odds log(p/(1-p)) of its "
        "probability) or a regression target (its value). Default: a binary run's "
        "first (positive) class or a single regression target; other runs must "
        "name one.",
    ),
    region: Optional[str] = typer.Option(
        None,
        metavar="START:END",
        help="Attribute only positions START to END-1 "
        "(0-based, half-open) of every record (other columns are 0); every record "
        "must be at least END long. Cuts ism's cost to 3 x (END-START) passes.",
    ),
    plot: Optional[Path] = typer.Option(
        None,
        help="Also draw a PNG: attribution logos (each base's letter scaled by "
        f"its attribution) of the --records (default: the first {PLOTTED_RECORDS}).",
    ),
    records: Optional[str] = typer.Option(
        None, metavar="ID,ID", help="Record ids to draw with --plot."
    ),
    batch_size: int = typer.Option(
        128,
        min=1,
        help="Sequences per forward pass: records (saliency, grad_x_input) "
        "or mutated copies (ism); at most 65,536 padded bases. Values do not depend on it.",
    ),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = RunWindowOption,
    shard: Optional[str] = shard_option(
        "Each shard's NAME.npz holds its block of the records, padded to the "
        "longest record of the whole input: np.concatenate the per-record arrays "
        "(arr_0, deltas, reference, ids, lengths; NAME.ohe.npz arr_0) in shard "
        "order for the unsharded file. --plot draws records of the shard."
    ),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Write per-base attributions of every record toward one output of the run.

    The output is what `dnanet predict` reports for --target, as log-odds (classification,
    multilabel) or value (regression). When the run averages both strands (model.json
    reverse_complement_average), the attributions explain that strand-averaged output: mutants are
    predicted on both strands, and gradients flow through both back to the forward bases. Runs in
    float32 on every device. Under torchrun the processes split the records and rank 0 writes the
    one file. The files load into TF-MoDISco (modisco-lite) as they are:

      dnanet attribute runs/ctcf bound.fa --method ism --out attr.npz --plot attr.png

      dnanet attribute runs/peaks peaks.narrowPeak --genome hg38.fa --window 200 --out attr.npz

      modisco motifs -s attr.ohe.npz -a attr.npz -n 2000 -w 101
    """
    from dnanet.interpret import attribution
    from dnanet.runtime import distributed
    from dnanet.interpret.attribution_files import check_disk, check_region, read_layout
    from dnanet.cli.genome import genome_settings, print_notes
    from dnanet.examples import heldout_inputs
    from dnanet.inputs.sources import LabelledInput
    from dnanet.runs.load import load_run
    from dnanet.inputs.sources import check_settings_used, input_notes, resolve_inputs
    from dnanet.data.tasks import Task

    if out.suffix.lower() != ".npz":
        raise DnanetError(f"{out}: --out writes NumPy .npz files; name it NAME.npz")
    if plot is not None and plot.suffix.lower() != ".png":
        raise DnanetError(f"{plot}: --plot writes a PNG; name it .png")
    if records is not None and plot is None:
        raise DnanetError("--records chooses the records --plot draws; give --plot too")
    given_shard = inference_shard(shard)
    if plot is not None and distributed.launched_processes() > 1:
        raise DnanetError(
            "--plot is drawn by one process: run it without torchrun (or with --shard K/N)"
        )
    span = _parse_region(region)
    processes, torch_device = distributed.start(setup_torch(threads, device))
    err.quiet = not processes.is_main  # rank 0 speaks for all
    try:
        # refused at once if it exists (without --overwrite) or another process writes it
        claimed = {}
        if processes.is_main:
            from dnanet.interpret.attribution_files import sequences_path

            claimed = {
                path: claim_output(path, overwrite)
                for path in (out, sequences_path(out), plot)
                if path is not None
            }
        loaded = load_run(run, torch_device)
        model, description = loaded.model, loaded.record
        task = Task.from_dict(description["task"])
        attribution.check_method(model, method)
        target_index = attribution.resolve_target(task, target)
        warn_if_not_learned(description, str(run), advice="; its attributions are not meaningful")
        paths = list(fasta) if fasta else [item.path for item in parse_inputs([], heldout_inputs)]
        settings = genome_settings(genome, window, run=loaded)
        inputs = resolve_inputs([LabelledInput(None, path) for path in paths], settings)
        check_settings_used(inputs, settings)
        layout = read_layout(inputs)
        notes = input_notes(inputs)  # of the full reading (a shard's stops at its last record)
        check_region(layout, span)
        rows = (given_shard or processes.shard).records(len(layout.ids))
        drawn = _plotted(records, layout, span, rows) if plot is not None else []
        check_disk(out, len(rows), layout.longest, method == "ism")
        strands = 2 if description["reverse_complement_average"] else 1
        target_name, output = (
            task.names[target_index],
            "value" if task.kind == "regression" else "log_odds",
        )
        job = AttributionJob(
            model,
            inputs,
            method,
            attribution.target_output(task, target_index),
            strands,
            span,
            batch_size,
            layout.longest,
            rows,
            quiet,
        )
        written = (
            range(len(layout.ids)) if processes.distributed else rows
        )  # the records in the file
        metadata = {
            "ids": np.array(layout.ids[written.start : written.stop], dtype=str),
            "lengths": layout.lengths[written.start : written.stop],
            "method": np.array(method),
            "target": np.array(target_name),
            "output": np.array(output),
            "strands": np.array(strands),
            "region": np.array(span or (0, layout.longest)),
        }
        with sigterm_as_interrupt():
            if processes.distributed:
                job.in_parts(claimed, out, processes, metadata)
            else:
                job.write(
                    claimed,
                    out,
                    metadata,
                    plot,
                    drawn,
                    f"{run.name}: {method} toward {target_name}",
                )
    finally:
        distributed.stop()
    if not processes.is_main:
        return
    from dnanet.interpret.attribution_files import sequences_path

    print_notes(notes)
    where = f"shard {given_shard}: " if given_shard is not None else ""
    by = f" by {processes.world_size} processes" if processes.distributed else ""
    err.print(
        f"{where}{len(written):,} records: {method} attributions toward {target_name} "
        f"({output.replace('_', '-')}{', both strands averaged' if strands == 2 else ''}) written "
        f"to {out}{by}, one-hot sequences to "
        f"{sequences_path(out)}" + (f"; logos in {plot}" if drawn else ""),
        highlight=False,
        soft_wrap=True,
    )


def _parse_region(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"START:END"`` -> (start, end), 0-based half-open, start < end."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*", text)
    if not match or int(match[1]) >= int(match[2]):
        raise DnanetError(
            f"--region '{text}': expected START:END with 0 <= START < END (0-based, END excluded), "
            "e.g. 40:60"
        )
    return int(match[1]), int(match[2])


def _plotted(
    records: Optional[str], layout, span: Optional[tuple[int, int]], rows: range
) -> list[tuple[str, int, int, int]]:
    """(id, row, start, end) of each record to draw (row: its place among `rows`, the records this
    run writes): those `records` names (comma-separated), else the first few; the stretch drawn is
    `span`, else the whole record (checked up front)."""
    from dnanet.interpret.attribution_plots import MAX_PLOTTED_BASES

    if records is None:
        chosen = list(rows[:PLOTTED_RECORDS])
    else:
        names = [name.strip() for name in records.split(",") if name.strip()]
        index = {
            identifier: i for i, identifier in reversed(list(enumerate(layout.ids))) if i in rows
        }  # first
        missing = [name for name in names if name not in index]
        if missing or not names:
            shard = "" if len(rows) == len(layout.ids) else " of this shard"
            raise DnanetError(
                f"--records: no record named {', '.join(missing) or '(none given)'} in the "
                f"input{shard}"
            )
        chosen = [index[name] for name in names]
    drawn = [
        (layout.ids[i], i - rows.start, *(span or (0, int(layout.lengths[i])))) for i in chosen
    ]
    for identifier, _, start, end in drawn:
        if end - start > MAX_PLOTTED_BASES:
            raise DnanetError(
                f"--plot: record {identifier} has {end - start:,} bases to draw, more than "
                f"{MAX_PLOTTED_BASES:,}; choose a stretch with --region"
            )
    return drawn
