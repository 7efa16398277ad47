"""`dnanet attribute`: per-base attributions of a run's output, in TF-MoDISco's array layout."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli import choices  # option completions from the registries
from dnanet.cli.common import (
    ConsoleReporter,
    DeviceOption,
    OverwriteOption,
    QuietOption,
    RunArgument,
    ThreadsOption,
    app,
    err,
    inference_shard,
    setup_torch,
    shard_option,
    user_errors,
)
from dnanet.cli.genome import GENOME_INPUTS_HELP, GenomeOption, RunWindowOption

PLOTTED_RECORDS = 3  # dnanet.interpret.attribution_workflow.PLOTTED_RECORDS (fast --help)


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
        help="ism: exact in-silico mutagenesis (3 mutants per base, twice with strand "
        "averaging; a one-hot CNN recomputes only each base's receptive field, other models a "
        "full pass per mutant: limit it with --region), arr_0 = the deltas centred over A C G T; "
        "saliency: the gradient w.r.t. the one-hot input, centred over A C G T; grad_x_input: "
        "saliency at each record's own base, 0 at the others; deepliftshap: DeepLIFT/SHAP "
        "hypothetical contributions (tangermeme) against --references dinucleotide shuffles of "
        "each record, with a summation check per record; integrated_gradients: the gradient "
        "integrated from each shuffle to the record, averaged over the shuffles.",
        autocompletion=choices.ATTRIBUTION_METHODS,
    ),
    target: Optional[str] = typer.Option(
        None,
        help="The output explained: a class (log-odds log(p/(1-p)) of its "
        "probability), a regression target (its value) or a signal run's track (its "
        "predicted log(1 + reads)). Default: a binary run's first (positive) class, or "
        "a single regression target or track; other runs must name one.",
    ),
    profile: bool = typer.Option(
        False,
        "--profile",
        help="Profile runs: explain the --target track's predicted profile instead of its "
        "counts, as ChromBPNet does: the sum over the output bases of (profile logit - "
        "their mean) x softmax(profile logits), the softmax held constant.",
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
    references: int = typer.Option(
        20,
        min=1,
        help="deepliftshap, integrated_gradients: dinucleotide shuffles of each record used as "
        "references (cost grows with it).",
    ),
    seed: int = typer.Option(
        0,
        help="deepliftshap, integrated_gradients: seed of the shuffles (shuffle k of every record "
        "is drawn with seed + k, so shards and batch sizes give the same references).",
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
    multilabel), value (regression) or predicted log(1 + reads) (a signal run's track; with
    --profile, a profile run's predicted profile, weighted as ChromBPNet weighs it). When the run
    averages both strands (model.json reverse_complement_average), the attributions explain that
    strand-averaged output: mutants are predicted on both strands, and gradients flow through both
    back to the forward bases. Runs in float32 on every device.

    deepliftshap and integrated_gradients add per record the references' mean output (baseline)
    and the summation check's error (summation_error: the contributions' sum minus the output's
    difference from the baseline) to NAME.npz, and print one line that counts and names the
    records whose error passes 1% of their difference (at least 0.01). DeepLIFT's exact rules
    cover ReLU, GELU, LeakyReLU and max pooling; layers without one (attention and layer norms,
    the LSTM, the explained output) take integrated gradients over that layer alone.

    Under torchrun the processes split the records and rank 0 writes the one file. The files load
    into TF-MoDISco (modisco-lite) as they are:

      dnanet attribute runs/ctcf bound.fa --method ism --out attr.npz --plot attr.png

      dnanet attribute runs/peaks peaks.narrowPeak --genome hg38.fa --window 200 --out attr.npz

      modisco motifs -s attr.ohe.npz -a attr.npz -n 2000 -w 101
    """
    from dnanet.inputs.sources import GenomeSettings
    from dnanet.interpret.attribution_workflow import attribute_to_file, check_attribute_request
    from dnanet.runtime import distributed

    check_attribute_request(out, plot, records, region)  # before the device: refused at once
    given_shard = inference_shard(shard)
    processes, torch_device = distributed.start(setup_torch(threads, device))
    err.quiet = not processes.is_main  # rank 0 speaks for all
    try:
        done = attribute_to_file(
            run,
            fasta,
            out,
            method=method,
            target=target,
            profile=profile,
            region=region,
            plot=plot,
            records=records,
            batch_size=batch_size,
            references=references,
            seed=seed,
            shard=given_shard,
            settings=GenomeSettings(genome, window),
            overwrite=overwrite,
            device=torch_device,
            processes=processes,
            reporter=ConsoleReporter(quiet),
        )
    finally:
        distributed.stop()
    if processes.is_main:
        err.print(done.summary_line(given_shard), highlight=False, soft_wrap=True)
