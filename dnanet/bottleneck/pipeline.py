"""`dnanet bottleneck` end to end: the chains, every (hidden, chain, seed) cell trained, and the
results written atomically into one folder: ``capacity.tsv`` (hidden, n, seed, accuracy, and the
k-mer size K for the DNA flavour), ``capacity.png`` and ``network_h2.png`` (the best two-unit
network, when H = 2 was run). Training progress goes to a `dnanet.progress.Reporter`; the
outcome holds the results and the lines a terminal shows of them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from dnanet.bottleneck.experiment import (
    OPTIMIZERS,
    CellResult,
    Chain,
    buckets,
    h1_bound,
    integer_chain,
    kmer_chain,
    largest_learned,
    train_grid,
)
from dnanet.errors import DnanetError
from dnanet.files.outputs import claimed
from dnanet.progress import Reporter
from dnanet.runtime.threads import use_threads

DEFAULT_LR = {"sgd": 1.0, "adam": 0.01}


def make_chains(sizes: list[int], kmers: bool) -> list[Chain]:
    """The chains of token counts N, or of k-mer sizes K when `kmers` (4**K tokens chained along a
    de Bruijn sequence); a size out of range is a one-line error."""
    return [kmer_chain(k) for k in sizes] if kmers else [integer_chain(size) for size in sizes]


@dataclass(frozen=True)
class BottleneckOutcome:
    """What `run_experiment` trained and wrote: every cell's result (sorted by hidden, n, seed),
    the seconds training took, the folder `out` and its `files`, and the notes told."""

    out: Path
    results: list[CellResult]
    seconds: float
    bias: bool
    files: list[Path]
    notes: list[str]

    def title(self) -> str:
        return f"Largest N learned perfectly by every seed ({self.seconds:.0f} s)"

    def largest_rows(self) -> list[tuple[str, str, str]]:
        """Per hidden size H: H, the largest N every seed learned ('none', or '>= N (grid max)'
        when it is the largest N tried) and the N tried, comma-separated."""
        rows = []
        for hidden, largest in largest_learned(self.results).items():
            tried = sorted({r.n for r in self.results if r.hidden == hidden})
            shown = (
                "none"
                if largest is None
                else f">= {largest} (grid max)"
                if largest == max(tried)
                else str(largest)
            )
            rows.append((str(hidden), shown, ",".join(map(str, tried))))
        return rows

    def one_unit_line(self) -> str | None:
        """How often one tanh unit without biases reached exactly 2/(N-1) (None: no such cell)."""
        single = [r for r in self.results if r.hidden == 1 and r.n >= 4]
        if not single or self.bias:
            return None
        exact = sum(abs(r.accuracy - h1_bound(r.n)) < 1e-9 for r in single)
        return (
            f"H=1 without biases: accuracy is exactly 2/(N-1) in {exact} of {len(single)} cells "
            "with N >= 4 (one tanh unit can make only two outputs win)"
        )

    def files_line(self) -> str:
        return f"results in {self.out}/capacity.tsv, capacity.png" + (
            ", network_h2.png" if any(r.hidden == 2 for r in self.results) else ""
        )


def run_experiment(
    out: str | Path,
    hiddens: Sequence[int],
    sizes: Sequence[int],
    *,
    kmers: bool = False,
    seeds: int = 3,
    optimizer: str = "sgd",
    lr: Optional[float] = None,
    steps: int = 20_000,
    bias: bool = False,
    overwrite: bool = False,
    threads: Optional[int] = None,
    reporter: Reporter | None = None,
) -> BottleneckOutcome:
    """Train every (hidden, chain, seed) cell and write the folder `out` (module docstring; an
    existing one only with `overwrite`). `sizes`: token counts N, or k-mer sizes K when `kmers`
    (`make_chains`; capacity.tsv then gets a K column). `lr` None: `DEFAULT_LR` of the optimizer.
    Training steps are counted on `reporter`."""
    reporter = reporter if reporter is not None else Reporter()
    told_before = len(reporter.notes)
    if optimizer not in OPTIMIZERS:
        raise DnanetError(f"--optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    chains = make_chains(list(sizes), kmers)
    rate = DEFAULT_LR[optimizer] if lr is None else lr
    if not rate > 0:
        raise DnanetError(f"--lr {rate:g}: must be positive")
    with claimed(Path(out), overwrite, folder=True, reporter=reporter) as output:
        use_threads(threads)
        started = time.perf_counter()
        total = steps * len(hiddens) * len(buckets(chains))
        with reporter.counter("training", total, "steps") as update:
            results = train_grid(
                list(hiddens),
                chains,
                list(range(seeds)),
                optimizer,
                rate,
                steps,
                bias,
                on_progress=lambda done, _: update(done),
            )
        seconds = time.perf_counter() - started
        settings = (
            f"{optimizer}, lr {rate:g}, {steps:,} steps, {'with' if bias else 'no'} biases, "
            f"{seeds} seeds"
        )
        with output.writing() as folder:
            write_results(folder, results, kmers, settings)
    files = sorted(path for path in Path(out).iterdir() if path.is_file())
    return BottleneckOutcome(
        Path(out), results, seconds, bias, files, reporter.texts()[told_before:]
    )


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
