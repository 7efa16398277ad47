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
    claim_output,
    err,
    out_console,
    user_errors,
)
from dnanet.cli.group import RESEARCH_PANEL
from dnanet.errors import DnanetError

DEFAULT_LR = {"sgd": 1.0, "adam": 0.01}


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
    from dnanet.bottleneck.experiment import OPTIMIZERS
    from dnanet.bottleneck.pipeline import make_chains, run_experiment
    from dnanet.cli.progress import progress_bar
    from dnanet.runtime.threads import use_threads

    if optimizer not in OPTIMIZERS:
        raise DnanetError(f"--optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    hiddens = parse_ints(hidden, "--hidden", 1)
    chains = make_chains(
        parse_ints(kmer, "--kmer", 1) if kmer is not None else parse_ints(n, "--n", 3),
        kmers=kmer is not None,
    )
    rate = DEFAULT_LR[optimizer] if lr is None else lr
    if not rate > 0:
        raise DnanetError(f"--lr {rate:g}: must be positive")
    output = claim_output(out, overwrite, folder=True)
    use_threads(threads)
    with progress_bar(err, quiet, "steps", elapsed=True) as bar:
        task = bar.add_task("training", total=1)
        results, seconds = run_experiment(
            output,
            hiddens,
            chains,
            kmer is not None,
            seeds,
            optimizer,
            rate,
            steps,
            bias,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    _report(results, bias, seconds, out)


def _report(results, bias: bool, seconds: float, out: Path) -> None:
    from rich.table import Table

    from dnanet.bottleneck.experiment import h1_bound, largest_learned

    table = Table(title=f"Largest N learned perfectly by every seed ({seconds:.0f} s)")
    table.add_column("hidden H", justify="right")
    table.add_column("largest N", justify="right")
    table.add_column("N tried", justify="left")
    for hidden, largest in largest_learned(results).items():
        tried = sorted({r.n for r in results if r.hidden == hidden})
        shown = (
            "none"
            if largest is None
            else f">= {largest} (grid max)"
            if largest == max(tried)
            else str(largest)
        )
        table.add_row(str(hidden), shown, ",".join(map(str, tried)))
    out_console.print(table)
    single = [r for r in results if r.hidden == 1 and r.n >= 4]
    if single and not bias:
        exact = sum(abs(r.accuracy - h1_bound(r.n)) < 1e-9 for r in single)
        out_console.print(
            f"H=1 without biases: accuracy is exactly 2/(N-1) in {exact} of {len(single)} cells "
            "with N >= 4 (one tanh unit can make only two outputs win)",
            highlight=False,
        )
    err.print(
        f"results in {out}/capacity.tsv, capacity.png"
        + (", network_h2.png" if any(r.hidden == 2 for r in results) else ""),
        highlight=False,
    )
