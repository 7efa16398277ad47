"""`dnanet crn export|simulate|verify`: a trained ternary_mlp as a chemical reaction network."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import typer

from dnanet.cli.common import (
    OverwriteOption,
    QuietOption,
    ThreadsOption,
    app,
    claim_output,
    err,
    out_console,
    parse_inputs,
    user_errors,
)
from dnanet.cli.group import RESEARCH_PANEL, EverydayFirst
from dnanet.errors import DnanetError

crn_app = typer.Typer(
    help="Compile a trained ternary_mlp into a chemical reaction network (JSON), simulate it "
    "with mass-action kinetics, and verify it against the network.",
    no_args_is_help=True,
    cls=EverydayFirst,  # a subcommand's --help wraps its prose like every other command's
)
app.add_typer(crn_app, name="crn", rich_help_panel=RESEARCH_PANEL)


@contextmanager
def _progress(description: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar of records, shown from the first report; yields the callback
    ``(records done, records in all)`` that the `dnanet.crn.pipeline` functions take."""
    from dnanet.cli.progress import progress_bar

    with progress_bar(err, quiet, "records", elapsed=True, transient=True) as bar:
        tasks = []

        def report(done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task(description, total=total))
            bar.update(tasks[0], completed=done)

        yield report


@crn_app.command("export")
@user_errors
def export(
    run: Path = typer.Argument(
        ..., metavar="RUN", help="A run folder made by `dnanet train --model ternary_mlp`."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="The network as JSON: species, reactions, initial, inputs, outputs, features.",
    ),
    overwrite: bool = OverwriteOption,
    reduce: bool = typer.Option(
        False,
        "--reduce",
        help="Fold unimolecular reactions away: one fan-out per used input "
        "and one bimolecular reaction per ReLU neuron.",
    ),
    text: bool = typer.Option(
        False, "--text", help="Also print the reactions, one per line (x3 -> a + b), on stdout."
    ),
):
    """Write RUN as a reaction network (JSON) whose steady state is its output.

    One pair of species (pos - neg) per class holds the network's output (logit); one input
    species per k-mer starts at the amount that the JSON's "features" entry describes.

      dnanet crn export runs/ternary --out net.json --reduce --text
    """
    from dnanet.crn.compile import network_text
    from dnanet.crn.pipeline import export_network

    output = claim_output(out, overwrite)
    network = export_network(run, output, reduce)
    if text:
        out_console.print(
            network_text(network), end="", highlight=False, markup=False, soft_wrap=True
        )
    err.print(
        f"{len(network['reactions'])} reactions over {len(network['species'])} species "
        f"({'reduced' if reduce else 'full'}) written to {out}",
        highlight=False,
        markup=False,
    )


@crn_app.command("simulate")
@user_errors
def simulate_command(
    network_path: Path = typer.Argument(
        ..., metavar="NET.json", help="A network written by `dnanet crn export`."
    ),
    inputs: List[Path] = typer.Argument(
        ..., metavar="FASTA", help="FASTA files (plain or .gz) to run it on."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output folder: outputs.tsv and trajectory_<n>.png."
    ),
    plots: int = typer.Option(
        3, min=0, help="Trajectory plots for this many records (the first ones)."
    ),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N records."),
    overwrite: bool = typer.Option(False, help="Replace --out if it exists."),
    quiet: bool = QuietOption,
):
    """Simulate NET.json's mass-action kinetics on FASTA records: outputs, classes, plots.

    Integrates the ODEs (unit rate constants) for every record until every reaction's flux is
    below 1e-12 (the steady state), and writes each record's outputs,
    predicted class and convergence time (the earliest time from which every output stays within
    1e-3 of its steady state).

      dnanet crn simulate net.json heldout.fa --out runs/net_sim
    """
    import numpy as np

    from dnanet.crn.pipeline import simulate_fasta

    output = claim_output(out, overwrite, folder=True)
    with _progress("simulating", quiet) as on_progress:
        simulation = simulate_fasta(network_path, inputs, output, plots, limit, on_progress)
    runs, seconds = simulation.runs, simulation.seconds
    times = np.array([r.convergence_time for r in runs])
    out_console.print(
        f"{len(runs)} records in {seconds:.1f} s ({seconds / len(runs):.3f} s each); convergence "
        f"time median {np.median(times):.4g}, max {times.max():.4g}; steady state reached by "
        f"{sum(r.steady for r in runs)}/{len(runs)}",
        highlight=False,
    )
    err.print(
        f"results in {out}/outputs.tsv" + (", trajectory_*.png" if plots else ""),
        highlight=False,
        markup=False,
    )


@crn_app.command("verify")
@user_errors
def verify_command(
    run: Path = typer.Argument(
        ..., metavar="RUN", help="A run folder made by `dnanet train --model ternary_mlp`."
    ),
    inputs: List[str] = typer.Argument(
        None,
        metavar="FASTA",
        help="FASTA files to check on (default: the bundled CTCF held-out files).",
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="The report (JSON): every check, and per record its features, "
        "nn_output (logits) and crn_output (ODE steady state).",
    ),
    overwrite: bool = OverwriteOption,
    network_path: Optional[Path] = typer.Option(
        None,
        "--network",
        metavar="NET.json",
        help="Also check this exported network; the kinetic checks then run on it.",
    ),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N records."),
    full_records: int = typer.Option(
        20, min=0, help="Records on which the full (unreduced) network's ODE also runs."
    ),
    seed: int = typer.Option(0, help="Seed of the random rate constants."),
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Check RUN's reaction networks against RUN on FASTA records; exit code 0 only if all pass.

    Compiles RUN into its full and reduced networks and checks them on every record. Checks: at most
    two reactants per reaction; each species consumed by at most one reaction; reaction and species
    counts match the formulas; weights and biases rebuilt from the reactions; firing each reaction
    to completion in order (within 1e-9); the ODE steady state (within 1e-3, same class, every
    record); random rate constants in [0.1, 10] reach the same state. It also reports how
    convergence time relates to the network's confidence (Spearman), without asserting.

      dnanet crn verify runs/ternary heldout_bound.fa heldout_background.fa --out report.json
    """
    from dnanet.crn.pipeline import verify_run
    from dnanet.examples import heldout_inputs
    from dnanet.runtime.threads import use_threads

    output = claim_output(out, overwrite)
    use_threads(threads)
    paths = [item.path for item in parse_inputs(inputs, heldout_inputs)]
    with _progress("ODE at unit and random rates", quiet) as on_progress:
        report = verify_run(
            run, paths, output, network_path, limit, seed, full_records, on_progress
        )
    _print_checks(report, out)
    if not report["passed"]:
        failed = [name for name, check in report["checks"].items() if not check["passed"]]
        raise DnanetError(f"{len(failed)} check(s) failed: {', '.join(failed)} (details in {out})")


def _print_checks(report: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(
        title=f"{len(report['records'])} records; networks "
        + ", ".join(
            f"{name} {size['reactions']} reactions / {size['species']} species"
            for name, size in report["networks"].items()
        )
    )
    table.add_column("check")
    table.add_column("result")
    table.add_column("measured")
    for name, check in report["checks"].items():
        table.add_row(name, "pass" if check["passed"] else "[red]FAIL[/red]", _measured(check))
    out_console.print(table)
    relation = report["convergence_vs_confidence"]
    rho, p = relation["spearman_rho"], relation["p_value"]
    numbers = "undefined" if rho is None or p is None else f"Spearman rho {rho:.3f}, p {p:.2g}"
    out_console.print(
        f"convergence time vs confidence (logit margin): {numbers} (reported, not checked); "
        f"report in {out}",
        highlight=False,
    )


def _measured(check: dict) -> str:
    """A check's measured values in one short line (the JSON report has them in full)."""
    parts = []
    for key, value in check.items():
        if isinstance(value, dict) and "expected_reactions" in value:
            parts.append(
                f"{key} {value['reactions']}/{value['expected_reactions']} reactions, "
                f"{value['species']}/{value['expected_species']} species"
            )
        elif key.startswith(("max_", "same_class", "species_consumed")):
            shown = (
                ", ".join(
                    f"{k} {v if isinstance(v, list) else format(v, '.2g')}"
                    for k, v in value.items()
                )
                if isinstance(value, dict)
                else format(value, ".3g")
            )
            parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)
