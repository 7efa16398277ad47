"""Throughput and memory of `dnanet attribute`: sequences per second on one CPU thread, for every
method and model family, and peak memory against the number of records.

    python scripts/benchmark_attribution.py --out bench-attribution [--length 200] [--repeats 3]

For each family (the shipped configs/<family>.yaml) a run is trained for one epoch on the bundled
CTCF example (throughput does not depend on how well a model learned), then each method fills
the arrays `dnanet attribute` writes (`attribute_arrays`, the model loaded once, one thread) for
random sequences of `--length` bases: a number of records that takes seconds (ISM fewer: it
predicts 3 mutants per base, 6 with both strands), `--repeats` times; the table gives the median
sequences per second. A second table runs saliency on N and 4N records: memory stays flat
because the (N, 4, L) arrays are memory-mapped files, filled a batch at a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FAMILIES = ("cnn", "lstm", "transformer")
RECORDS = {"saliency": 400, "deepliftshap": 40, "integrated_gradients": 10, "ism": 4}
REPO = Path(__file__).resolve().parent.parent


def write_fasta(path: Path, n: int, length: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    with open(path, "w") as handle:
        for i in range(n):
            handle.write(f">r{i}\n{''.join(letters[rng.integers(0, 4, length)])}\n")
    return path


def throughput(run_folder: Path, fasta: Path, method: str, n: int, repeats: int) -> float:
    """Median sequences per second of `attribute_arrays` (what `dnanet attribute` fills), one
    thread, the model loaded once."""
    import torch

    from dnanet.interpret.attribution_workflow import attribute_arrays
    from dnanet.runs.load import load_run

    torch.set_num_threads(1)
    run = load_run(run_folder, "cpu")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        attribute_arrays(run, [fasta], method=method)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def peak_memory(*arguments: str) -> float:
    """Peak resident memory (MB) of one `dnanet` process, measured by GNU time when present."""
    command = [sys.executable, "-m", "dnanet", *arguments, "--threads", "1", "--quiet"]
    probe = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], cwd=REPO, capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise RuntimeError(probe.stderr[-2000:])
    return int(probe.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="work folder (runs, inputs)")
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--methods", default=",".join(RECORDS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",")
    print(f"| family | {' | '.join(methods)} |")
    print("|---|" + "---:|" * len(methods))
    for family in args.families.split(","):
        run = args.out / f"run-{family}"
        if not (run / "model.json").exists():
            config = REPO / "configs" / f"{family}.yaml"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dnanet",
                    "train",
                    "--out",
                    str(run),
                    "--config",
                    str(config),
                ]
                + ["--epochs", "1", "--threads", "1", "--quiet", "--overwrite"],
                check=True,
                cwd=REPO,
            )
        cells = []
        for method in methods:
            fasta = write_fasta(args.out / f"{method}.fa", RECORDS[method], args.length)
            speed = throughput(run, fasta, method, RECORDS[method], args.repeats)
            cells.append(f"{speed:.1f}")
        print(f"| {family} | {' | '.join(cells)} |", flush=True)
    print(f"\nsequences of {args.length} bases per second, one thread, median of {args.repeats}")
    print("\n| records | peak memory (MB), saliency, cnn |")
    print("|---:|---:|")
    run = args.out / "run-cnn"
    for n in (2000, 8000):
        fasta = write_fasta(args.out / f"memory-{n}.fa", n, args.length)
        out = args.out / f"memory-{n}.npz"
        megabytes = peak_memory("attribute", str(run), str(fasta), "--out", str(out), "--overwrite")
        print(f"| {n:,} | {megabytes:.0f} |", flush=True)


if __name__ == "__main__":
    main()
