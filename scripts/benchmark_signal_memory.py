"""Peak memory of a signal run's data path against the size of its target store.

    python scripts/benchmark_signal_memory.py --out bench-signal [--sizes 10000 1000000]
        [--width 1000] [--tracks 2] [--dtype float16]

For each size N, a store of N windows is written as `dnanet.data.signal` lays one out (codes of
``width`` bases and a ``(N, T, width)`` profile block, memory-mapped .npy), then a fresh process
runs what training does with it and reports its peak private memory (the most of RssAnon, the
process's own heap, sampled every 20 ms; pages of the memory-mapped store count as file cache
there, which the kernel reclaims, not as the process's memory; peak RSS with them is printed too):
`Task.with_statistics` (the training windows' mean profile and lambda, read in chunks), one
training pass of up to `--batches` jittered, shuffled batches through `dnanet.data.loaders`, and
the scoring of a 5% held-out part batch by batch (`dnanet.training.signal_metrics.ProfileScores`,
with outputs made from the targets, so no model time is measured). Prints a Markdown table: the
store's size on disk and each step's peak memory. The store is written in chunks, so writing a
10^6-window store needs no more memory than a small one either.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def write_store(folder: Path, windows: int, width: int, tracks: int, dtype: str) -> None:
    """Codes ``(windows x width)`` and targets ``(windows, tracks, width)`` in chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "done").exists():
        return
    rng = np.random.default_rng(0)
    codes = np.lib.format.open_memmap(
        folder / "codes.npy", mode="w+", dtype=np.uint8, shape=(windows * width,)
    )
    targets = np.lib.format.open_memmap(
        folder / "targets.npy", mode="w+", dtype=dtype, shape=(windows, tracks, width)
    )
    chunk = max(1, (1 << 26) // (width * tracks))
    for start in range(0, windows, chunk):
        stop = min(windows, start + chunk)
        codes[start * width : stop * width] = rng.integers(0, 4, (stop - start) * width)
        targets[start:stop] = rng.poisson(0.2, (stop - start, tracks, width))
    codes.flush(), targets.flush()
    (folder / "done").write_text("")


def measure(folder: Path, batches: int) -> dict:
    """In this process: the data path of training on the store (see the module docstring)."""
    import torch

    from dnanet.data.loaders import make_loader
    from dnanet.data.signal import SignalSet, SignalTargets, training_targets
    from dnanet.data.tasks import Task
    from dnanet.training.signal_metrics import ProfileScores

    peaks, private = {}, PrivateMemory()
    codes = np.load(folder / "codes.npy", mmap_mode="r")
    stored = np.load(folder / "targets.npy", mmap_mode="r")
    windows, tracks, width = stored.shape
    jitter = 16
    output = width - 2 * jitter
    offsets = np.arange(windows + 1, dtype=np.int64) * width
    ids = [f"w{i}" for i in range(0)]  # ids are not read by this path
    targets = SignalTargets(stored, "profile", output, jitter)
    sequences = SignalSet(ids, codes, offsets, targets, jitter)
    sequences.ids = range(windows)
    order = np.random.default_rng(1).permutation(windows)
    held_out = np.sort(order[: max(1, windows // 20)])
    train = np.sort(order[len(held_out) :])
    names = [f"track{t}" for t in range(tracks)]
    start = time.perf_counter()
    task = Task("profile", names, width=output).with_statistics(training_targets(targets, train))
    peaks["statistics"] = private.take()
    loader = make_loader(sequences, 64, train, shuffle=True, steps=min(batches, len(train) // 64))
    for batch in loader:
        batch["targets"].sum()
    peaks["training pass"] = private.take()
    scores = ProfileScores(task)
    for batch in make_loader(sequences, 256, held_out):
        observed = batch["targets"]
        totals, profile = observed[:, :tracks], observed[:, tracks:]
        shares = profile.reshape(len(observed), tracks, output) + 1
        shares = shares / shares.sum(-1, keepdim=True)
        scores.add(torch.cat([totals, shares.flatten(1)], 1), observed)
    scores.metrics()
    peaks["held-out scoring"] = private.take()
    seconds = round(time.perf_counter() - start, 1)
    return {
        "windows": windows,
        "seconds": seconds,
        **peaks,
        "peak RSS with the store": _peak_rss_mb(),
    }


class PrivateMemory:
    """The most of /proc/self/status RssAnon (MB), sampled every 20 ms in a thread."""

    def __init__(self):
        self.peak = 0.0
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()

    def _sample(self) -> None:
        while True:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) / 1024)
            time.sleep(0.02)

    def take(self) -> float:
        """The peak so far; sampling goes on."""
        time.sleep(0.05)
        return round(self.peak, 1)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the stores")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--width", type=int, default=1000, help="bases per window (and profile)")
    parser.add_argument("--tracks", type=int, default=2)
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--batches", type=int, default=200, help="training batches measured")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure, arguments.batches)))
        return
    rows = []
    for size in arguments.sizes:
        folder = arguments.out / f"store-{size}"
        write_store(folder, size, arguments.width, arguments.tracks, arguments.dtype)
        child = [sys.executable, __file__, "--out", str(arguments.out), "--measure", str(folder)]
        child += ["--batches", str(arguments.batches)]
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["store GB"] = round(sum(p.stat().st_size for p in folder.iterdir()) / 1e9, 2)
        rows.append(row)
    steps = ["statistics", "training pass", "held-out scoring"]
    keys = ["windows", "store GB", *steps, "peak RSS with the store", "seconds"]
    titles = [f"{key} (MB)" if key in steps or key.startswith("peak") else key for key in keys]
    print("| " + " | ".join(titles) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print(
            "| " + " | ".join(f"{row[k]:,}" if k == "windows" else str(row[k]) for k in keys) + " |"
        )


if __name__ == "__main__":
    main()
