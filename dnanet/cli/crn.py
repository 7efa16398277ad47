"""`dnanet crn export|simulate|verify`: a trained ternary_mlp as a chemical reaction network."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dnanet.cli.common import (
    OverwriteOption,
    QuietOption,
    ThreadsOption,
    app,
    err,
    out_console,
    user_errors,
)
from dnanet.cli.group import RESEARCH_PANEL, EverydayFirst
from dnanet.cli.report import ConsoleReporter
from dnanet.errors import DnanetError

crn_app = typer.Typer(
    help="Compile a trained ternary_mlp into a chemical reaction network (JSON), simulate it "
    "with mass-action kinetics, and verify it against the network.",
    no_args_is_help=True,
    cls=EverydayFirst,  # a subcommand's --help wraps its prose like every other command's
)
app.add_typer(crn_app, name="crn", rich_help_panel=RESEARCH_PANEL)


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
    from dnanet.crn.pipeline import export_network

    exported = export_network(
        run, out, reduce=reduce, overwrite=overwrite, reporter=ConsoleReporter()
    )
    if text:
        out_console.print(exported.text(), end="", highlight=False, markup=False, soft_wrap=True)
    err.print(exported.summary(), highlight=False, markup=False)


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
    from dnanet.crn.pipeline import simulate_fasta

    simulation = simulate_fasta(
        network_path,
        inputs,
        out,
        plots=plots,
        limit=limit,
        overwrite=overwrite,
        reporter=ConsoleReporter(quiet),
    )
    out_console.print(simulation.summary(), highlight=False)
    err.print(simulation.files_line(), highlight=False, markup=False)


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
    from rich.table import Table

    from dnanet.crn.pipeline import verify_run

    verification = verify_run(
        run,
        inputs,
        out,
        network_path=network_path,
        limit=limit,
        seed=seed,
        full_records=full_records,
        overwrite=overwrite,
        threads=threads,
        reporter=ConsoleReporter(quiet),
    )
    table = Table(title=verification.title())
    for column in ("check", "result", "measured"):
        table.add_column(column)
    for name, passed, measured in verification.rows():
        table.add_row(name, "pass" if passed else "[red]FAIL[/red]", measured)
    out_console.print(table)
    out_console.print(verification.convergence_line(), highlight=False)
    if not verification.passed:
        raise DnanetError(verification.failure())
