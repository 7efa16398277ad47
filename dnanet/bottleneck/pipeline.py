"""`dnanet bottleneck` end to end: the chains, every (hidden, chain, seed) cell trained, and the
results written atomically into one folder: ``capacity.tsv`` (hidden, n, seed, accuracy, and the
k-mer size K for the DNA flavour), ``capacity.png`` and ``network_h2.png`` (the best two-unit
network, when H = 2 was run)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from dnanet.bottleneck.experiment import CellResult, Chain, integer_chain, kmer_chain, train_grid


def make_chains(sizes: list[int], kmers: bool) -> list[Chain]:
    """The chains of token counts N, or of k-mer sizes K when `kmers` (4**K tokens chained along a
    de Bruijn sequence); a size out of range is a one-line error."""
    return [kmer_chain(k) for k in sizes] if kmers else [integer_chain(size) for size in sizes]


def run_experiment(
    output,
    hiddens: list[int],
    chains: list[Chain],
    kmers: bool,
    seeds: int,
    optimizer: str,
    lr: float,
    steps: int,
    bias: bool,
    on_progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[list[CellResult], float]:
    """Train every (hidden, chain, seed) cell and write the claimed folder `output`
    (`dnanet.files.outputs.Output`; module docstring).

    Returns the results sorted by hidden, n, seed, and the seconds training took. `kmers`: the
    chains are `make_chains`' k-mer ones (capacity.tsv gets a K column)."""
    started = time.perf_counter()
    results = train_grid(
        hiddens, chains, list(range(seeds)), optimizer, lr, steps, bias, on_progress=on_progress
    )
    seconds = time.perf_counter() - started
    settings = (
        f"{optimizer}, lr {lr:g}, {steps:,} steps, {'with' if bias else 'no'} biases, {seeds} seeds"
    )
    with output.writing() as folder:
        write_results(folder, results, kmers, settings)
    return results, seconds


def write_results(folder: Path, results: list[CellResult], kmers: bool, settings: str) -> None:
    """capacity.tsv, capacity.png (subtitled with `settings`) and network_h2.png into `folder`."""
    from dnanet.bottleneck.plots import plot_capacity, plot_network

    with open(folder / "capacity.tsv", "w", encoding="utf-8") as table:
        table.write("hidden\tn\tseed\taccuracy" + ("\tkmer" if kmers else "") + "\n")
        for r in results:
            k = f"\t{(r.n.bit_length() - 1) // 2}" if kmers else ""
            table.write(f"{r.hidden}\t{r.n}\t{r.seed}\t{r.accuracy:.6f}{k}\n")
    plot_capacity(results, folder / "capacity.png", settings)
    drawable = [r for r in results if r.hidden == 2]
    if drawable:
        best = max(
            drawable,
            key=lambda r: (r.accuracy == 1.0, r.n * (r.accuracy == 1.0), r.accuracy, -r.seed),
        )
        plot_network(best, folder / "network_h2.png")
