"""`dnanet bottleneck`: how many tokens H tanh units can chain (n -> n + 1), per H, N and seed."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dnanet.cli import choices
from dnanet.cli.common import (
    QuietOption,
    ThreadsOption,
    app,
    err,
    out_console,
    user_errors,
)
from dnanet.cli.group import RESEARCH_PANEL
from dnanet.cli.report import ConsoleReporter
from dnanet.errors import DnanetError


def parse_ints(text: str, option: str, minimum: int) -> list[int]:
    """'1,2,4' -> [1, 2, 4], each at least `minimum`; duplicates dropped, order kept."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise DnanetError(
            f"{option} {text!r}: expected whole numbers separated by commas, e.g. 1,2,3"
        ) from None
    if not values:
        raise DnanetError(f"{option}: give at least one value")
    bad = [v for v in values if v < minimum]
    if bad:
        raise DnanetError(f"{option} {bad[0]}: each value must be at least {minimum}")
    return list(dict.fromkeys(values))


@app.command(rich_help_panel=RESEARCH_PANEL)
@user_errors
def bottleneck(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output folder: capacity.tsv, capacity.png, network_h2.png."
    ),
    hidden: str = typer.Option("1,2,3,4", help="Hidden tanh units H, comma-separated."),
    n: str = typer.Option(
        "5,11,15,20,30,50,100,150", "--n", help="Token counts N, comma-separated (N >= 3)."
    ),
    kmer: Optional[str] = typer.Option(
        None,
        help="DNA flavour instead of --n: k-mer sizes K (comma-separated, 1-6); "
        "tokens are the 4^K k-mers, each mapped to the next window of a de Bruijn "
        "sequence (shift by one base, append one).",
    ),
    seeds: int = typer.Option(3, min=1, help="Seeds per cell (0, 1, ...)."),
    optimizer: str = typer.Option(
        "sgd", autocompletion=choices.OPTIMIZERS, help="sgd (plain) or adam."
    ),
    lr: Optional[float] = typer.Option(
        None, help="Learning rate (default: 1.0 for sgd, 0.01 for adam)."
    ),
    steps: int = typer.Option(20_000, min=0, help="Full-batch training steps."),
    bias: bool = typer.Option(
        False, "--bias/--no-bias", help="Biases on the hidden and output units."
    ),
    overwrite: bool = typer.Option(False, help="Replace --out if it exists."),
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Train one-hot -> H tanh -> softmax networks on the chain n -> n + 1 (Skarupke 2016) for every
    H, N and seed (full batch, cross-entropy) and report the largest N each H learns perfectly.

      dnanet bottleneck --out runs/bottleneck
      dnanet bottleneck --optimizer adam --lr 0.01 --bias --out runs/bottleneck_adam
    """
    from rich.table import Table

    from dnanet.bottleneck.pipeline import run_experiment

    outcome = run_experiment(
        out,
        parse_ints(hidden, "--hidden", 1),
        parse_ints(kmer, "--kmer", 1) if kmer is not None else parse_ints(n, "--n", 3),
        kmers=kmer is not None,
        seeds=seeds,
        optimizer=optimizer,
        lr=lr,
        steps=steps,
        bias=bias,
        overwrite=overwrite,
        threads=threads,
        reporter=ConsoleReporter(quiet),
    )
    table = Table(title=outcome.title())
    table.add_column("hidden H", justify="right")
    table.add_column("largest N", justify="right")
    table.add_column("N tried", justify="left")
    for row in outcome.largest_rows():
        table.add_row(*row)
    out_console.print(table)
    if outcome.one_unit_line():
        out_console.print(outcome.one_unit_line(), highlight=False)
    err.print(outcome.files_line(), highlight=False)
