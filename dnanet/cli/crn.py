"""`dnanet crn export|simulate|verify`: a trained ternary_mlp as a chemical reaction network."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli.common import (OverwriteOption, ThreadsOption, app, claim_output, err, out_console, parse_inputs,
                               user_errors)
from dnanet.cli.group import RESEARCH_PANEL
from dnanet.errors import DnanetError

crn_app = typer.Typer(help="Compile a trained ternary_mlp into a chemical reaction network (JSON), simulate it "
                      "with mass-action kinetics, and verify it against the network.", no_args_is_help=True)
app.add_typer(crn_app, name="crn", rich_help_panel=RESEARCH_PANEL)


def _load_ternary(run: Path):
    """A run folder -> (its TernaryMLP in float64, class names); only runs that compile."""
    import torch

    from dnanet.crn import layer_weights
    from dnanet.runs import load_run

    loaded = load_run(run, "cpu")
    model = loaded.model
    if loaded.model_name != "ternary_mlp":
        raise DnanetError(f"{run}: a {loaded.model_name} model; only ternary_mlp runs compile to a "
                          "reaction network (train one with --model ternary_mlp)")
    if not loaded.task.is_classification:
        raise DnanetError(f"{run}: a {loaded.task.kind} run; only classification runs compile")
    if loaded.reverse_complement_average:
        raise DnanetError(f"{run}: averages both strands, the reaction network computes one "
                          "(train with train.reverse_complement: false)")
    try:
        layer_weights(model)
    except DnanetError as error:
        raise DnanetError(f"{run}: {error}") from None
    return model.to(torch.float64), loaded.task.names


def _read_features(paths: list[Path], limit: Optional[int], featurize) -> tuple[list[str], "np.ndarray"]:
    """Record ids and their input amounts ``(N, F)`` (``featurize(codes)``), the first `limit` records."""
    import numpy as np

    from dnanet.data import iter_batches

    ids, blocks = [], []
    for batch in iter_batches(paths, 256):
        ids += batch.ids
        blocks.append(featurize(batch.codes))
        if limit is not None and len(ids) >= limit:
            break
    if not ids:
        raise DnanetError("the FASTA files hold no records")
    return ids[:limit], np.concatenate(blocks)[:limit]


def _progress(quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, disable=quiet, transient=True)


@crn_app.command("export")
@user_errors
def export(
    run: Path = typer.Argument(..., metavar="RUN", help="A run folder made by `dnanet train --model ternary_mlp`."),
    out: Path = typer.Option(..., "--out", "-o", help="The network as JSON: species, reactions, initial, inputs, "
                             "outputs, features."),
    overwrite: bool = OverwriteOption,
    reduce: bool = typer.Option(False, "--reduce", help="Fold unimolecular reactions away: one fan-out per used input "
                                "and one bimolecular reaction per ReLU neuron."),
    text: bool = typer.Option(False, "--text", help="Also print the reactions, one per line (x3 -> a + b), on stdout."),
):
    """Write RUN as a reaction network (JSON) whose steady state is its output.

    One pair of species (pos - neg) per class holds the network's output (logit); one input
    species per k-mer starts at the amount that the JSON's "features" entry describes.

      dnanet crn export runs/ternary --out net.json --reduce --text
    """
    from dnanet.crn import compile_network, network_text, reduce_network
    output = claim_output(out, overwrite)
    model, classes = _load_ternary(run)
    network = compile_network(model, classes)
    if reduce:
        network = reduce_network(network)
    with output.writing() as temporary:
        temporary.write_text(json.dumps(network, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    if text:
        out_console.print(network_text(network), end="", highlight=False, markup=False, soft_wrap=True)
    err.print(f"{len(network['reactions'])} reactions over {len(network['species'])} species "
              f"({'reduced' if reduce else 'full'}) written to {out}", highlight=False, markup=False)


@crn_app.command("simulate")
@user_errors
def simulate_command(
    network_path: Path = typer.Argument(..., metavar="NET.json", help="A network written by `dnanet crn export`."),
    inputs: List[Path] = typer.Argument(..., metavar="FASTA", help="FASTA files (plain or .gz) to run it on."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: outputs.tsv and trajectory_<n>.png."),
    plots: int = typer.Option(3, min=0, help="Trajectory plots for this many records (the first ones)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N records."),
    overwrite: bool = typer.Option(False, help="Replace --out if it exists."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Simulate NET.json's mass-action kinetics on FASTA records: outputs, classes, plots.

    Integrates the ODEs (unit rate constants) for every record until every reaction's flux is
    below 1e-12 (the steady state), and writes each record's outputs,
    predicted class and convergence time (the earliest time from which every output stays within
    1e-3 of its steady state).

      dnanet crn simulate net.json heldout.fa --out runs/net_sim
    """
    import numpy as np

    from dnanet.crn import load_network, network_features
    from dnanet.crn_kinetics import simulate
    network = load_network(network_path)
    output = claim_output(out, overwrite, folder=True)
    try:
        ids, features = _read_features(inputs, limit, lambda codes: network_features(network, codes))
    except DnanetError as error:
        raise DnanetError(f"{network_path}: {error}" if "'features'" in str(error) else str(error)) from None
    started = time.perf_counter()
    with _progress(quiet) as bar:
        task = bar.add_task("simulating", total=len(ids))
        runs = [(simulate(network, f), bar.advance(task))[0] for f in features]
    seconds = time.perf_counter() - started
    with output.writing() as folder:
        _write_simulation(folder, network, ids, runs, plots)
    times = np.array([r.convergence_time for r in runs])
    out_console.print(f"{len(runs)} records in {seconds:.1f} s ({seconds / len(runs):.3f} s each); convergence time "
                      f"median {np.median(times):.4g}, max {times.max():.4g}; steady state reached by "
                      f"{sum(r.steady for r in runs)}/{len(runs)}", highlight=False)
    err.print(f"results in {out}/outputs.tsv" + (", trajectory_*.png" if plots else ""), highlight=False, markup=False)


def _write_simulation(folder: Path, network: dict, ids: list[str], runs: list, plots: int) -> None:
    from dnanet.crn_plots import plot_trajectory

    classes = list(network["outputs"])
    with open(folder / "outputs.tsv", "w", encoding="utf-8") as table:
        table.write("\t".join(["id", *classes, "predicted", "convergence_time", "steady"]) + "\n")
        for name, run in zip(ids, runs):
            values = [repr(float(v)) for v in run.final_outputs]
            table.write("\t".join([name, *values, classes[int(run.final_outputs.argmax())],
                                   repr(run.convergence_time), str(run.steady).lower()]) + "\n")
    for n, (name, run) in enumerate(zip(ids[:plots], runs[:plots]), start=1):
        plot_trajectory(run, classes, f"{name}: predicted {classes[int(run.final_outputs.argmax())]}",
                        folder / f"trajectory_{n}.png")


@crn_app.command("verify")
@user_errors
def verify_command(
    run: Path = typer.Argument(..., metavar="RUN", help="A run folder made by `dnanet train --model ternary_mlp`."),
    inputs: List[str] = typer.Argument(None, metavar="FASTA", help="FASTA files to check on (default: the "
                                       "bundled CTCF held-out files).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="The report (JSON): every check, and per record its features, "
                             "nn_output (logits) and crn_output (ODE steady state)."),
    overwrite: bool = OverwriteOption,
    network_path: Optional[Path] = typer.Option(None, "--network", metavar="NET.json", help="Also check this exported "
                                                "network; the kinetic checks then run on it."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N records."),
    full_records: int = typer.Option(20, min=0, help="Records on which the full (unreduced) network's ODE also runs."),
    seed: int = typer.Option(0, help="Seed of the random rate constants."),
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Check RUN's reaction networks against RUN on FASTA records; exit code 0 only if all pass.

    Compiles RUN into its full and reduced networks and checks them on every record. Checks: at most two reactants
    per reaction; each species consumed by at most one reaction; reaction and species counts
    match the formulas; weights and biases rebuilt from the reactions; firing each reaction to
    completion in order (within 1e-9); the ODE steady state (within 1e-3, same class, every
    record); random rate constants in [0.1, 10] reach the same state. It also reports how
    convergence time relates to the network's confidence (Spearman), without asserting.

      dnanet crn verify runs/ternary heldout_bound.fa heldout_background.fa --out report.json
    """
    import torch

    from dnanet.crn import compile_network, layer_weights, load_network
    from dnanet.crn_verify import verify
    from dnanet.examples import heldout_inputs
    from dnanet.runs import write_json

    output = claim_output(out, overwrite)
    if threads:
        torch.set_num_threads(threads)
    model, classes = _load_ternary(run)
    given = load_network(network_path) if network_path is not None else None
    full = compile_network(model, classes)
    if given is not None and (given["inputs"] != full["inputs"] or list(given["outputs"]) != list(full["outputs"])):
        raise DnanetError(f"{network_path}: its inputs or outputs are not those of {run} (export it from this run)")
    paths = [item.path for item in parse_inputs(inputs, heldout_inputs)]
    with torch.no_grad():
        ids, features = _read_features(paths, limit, lambda codes: model.features(torch.from_numpy(codes)).numpy())
        expected = model.forward_features(torch.from_numpy(features)).numpy()  # (N, C) logits
    with _progress(quiet) as bar:
        task = bar.add_task("ODE at unit and random rates", total=len(ids))
        report = verify(layer_weights(model), full, given, ids, features, expected, seed, full_records,
                        on_record=lambda: bar.advance(task))
    report = {"passed": report.pop("passed"), "run": str(run), "network": str(network_path or ""), **report}
    with output.writing() as temporary:
        write_json(temporary, report)
    _print_checks(report, out)
    if not report["passed"]:
        failed = [name for name, check in report["checks"].items() if not check["passed"]]
        raise DnanetError(f"{len(failed)} check(s) failed: {', '.join(failed)} (details in {out})")


def _print_checks(report: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{len(report['records'])} records; networks " + ", ".join(
        f"{name} {size['reactions']} reactions / {size['species']} species" for name, size in report["networks"].items()))
    table.add_column("check")
    table.add_column("result")
    table.add_column("measured")
    for name, check in report["checks"].items():
        table.add_row(name, "pass" if check["passed"] else "[red]FAIL[/red]", _measured(check))
    out_console.print(table)
    relation = report["convergence_vs_confidence"]
    rho, p = relation["spearman_rho"], relation["p_value"]
    numbers = "undefined" if rho is None or p is None else f"Spearman rho {rho:.3f}, p {p:.2g}"
    out_console.print(f"convergence time vs confidence (logit margin): {numbers} (reported, not checked); "
                      f"report in {out}", highlight=False)


def _measured(check: dict) -> str:
    """A check's measured values in one short line (the JSON report has them in full)."""
    parts = []
    for key, value in check.items():
        if isinstance(value, dict) and "expected_reactions" in value:
            parts.append(f"{key} {value['reactions']}/{value['expected_reactions']} reactions, "
                         f"{value['species']}/{value['expected_species']} species")
        elif key.startswith(("max_", "same_class", "species_consumed")):
            shown = ", ".join(f"{k} {v if isinstance(v, list) else format(v, '.2g')}" for k, v in value.items()) \
                if isinstance(value, dict) else format(value, ".3g")
            parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)
