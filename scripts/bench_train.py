"""Benchmark: training speed against the machine's matmul ceiling, padding, and memory vs data size.

In one run, on this machine:

1. The fp32 matmul ceiling: GFLOP/s of a 1024 x 1024 matmul, measured in this process.
2. Per family (shipped configs/<family>.yaml, batch and length as configured/``--length``):
   a bare training step (forward, loss, backward, AdamW) on random 200 bp sequences: seq/s,
   FLOPs per sequence (torch's FLOP counter; the LSTM cell, which it misses, counted by hand),
   achieved GFLOP/s and its fraction of the ceiling; then `dnanet.training.experiment.train_model`
   end to end on as many planted sequences (validation and test included) and the ratio of its
   training throughput to the bare step's.
3. Padding overhead on variable-length data (lengths uniform in 100-1,000): the share of padded
   positions that are padding, random batches vs the length-bucketed `TrainingSampler`.
4. Peak anonymous memory (RssAnon, polled from /proc every 20 ms) of `dnanet train` on synthetic
   FASTA of each ``--records`` size: two classes, CNN, batch 64, ``train.steps_per_epoch: 20``,
   one epoch, validation and test 2% each (scored in full), so that what grows with the number
   of records (ids, duplicate checks, splits, held-out outputs) is what the table shows; the
   largest / smallest ratio closes it. ``--memory-only`` runs this table alone.

Figures are medians of ``--repeats`` timed runs; ratios are measured in one run, on a shared
machine, so compare them rather than absolute speeds.

Run:  python scripts/bench_train.py [--records 20000,1000000] [--families cnn,lstm,transformer]
      [--threads 1] [--repeats 15] [--memory-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from dnanet.config.run_config import load_config
from dnanet.data.loaders import TrainingSampler, padding_overhead
from dnanet.data.sets import SequenceSet
from dnanet.data.tasks import Task
from dnanet.models import build_model
from dnanet.training.experiment import model_arguments_of, train_model

TASK = Task("binary", ["background", "bound"])


def matmul_ceiling(size: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of a float32 (size x size) matmul in this process (best of 3 timings)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeats / best / 1e9


def lstm_cell_flops(model: torch.nn.Module, codes: torch.Tensor) -> int:
    """FLOPs of one training step's LSTM cells, which torch's counter does not see: per layer,
    direction and position, 4 gates x (inputs + hidden) x hidden multiply-adds; backward ~2x."""
    lstm = model.lstm
    positions = -(-codes.shape[1] // model.pool)
    total, inputs = 0, lstm.input_size
    for _ in range(lstm.num_layers):
        total += 2 * 2 * positions * 4 * (inputs + lstm.hidden_size) * lstm.hidden_size
        inputs = 2 * lstm.hidden_size
    return 3 * total * codes.shape[0]


def bare_step(family: str, length: int, repeats: int) -> dict:
    """Seq/s and FLOPs of the shipped config's training step on random sequences."""
    config = load_config(model=family)
    batch = config.train.batch_size
    torch.manual_seed(0)
    model = build_model(family, 2, model_arguments_of(config))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr)
    codes = torch.randint(0, 4, (batch, length), dtype=torch.uint8)
    targets = torch.randint(0, 2, (batch,))

    def step() -> None:
        loss = TASK.loss(model(codes), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops() + (lstm_cell_flops(model, codes) if family == "lstm" else 0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[2:])
    return {
        "batch": batch,
        "seq_per_s": batch / seconds,
        "mflop_per_seq": flops / batch / 1e6,
        "gflop_per_s": flops / seconds / 1e9,
    }


def planted_set(records: int, length: int, seed: int = 0) -> SequenceSet:
    """Random sequences, half of them with a CTCF-like core planted (class 1)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(records, length), dtype=np.uint8)
    targets = np.arange(records) % 2
    motif = np.array(
        [1, 1, 3, 2, 2, 2, 2, 1, 3, 1, 1, 2], dtype=np.uint8
    )  # CCTGGGGCTACC... as codes
    starts = rng.integers(0, length - len(motif), size=records)
    for row in np.flatnonzero(targets):
        codes[row, starts[row] : starts[row] + len(motif)] = motif
    offsets = np.arange(records + 1, dtype=np.int64) * length
    return SequenceSet([f"s{i}" for i in range(records)], codes.ravel(), offsets, targets)


def end_to_end(family: str, length: int, bare: dict) -> float:
    """Training throughput of `train_model` (seq/s over its epochs' training time, validation
    included) as a fraction of the bare step's."""
    config = load_config(model=family, epochs=2)
    sequences = planted_set(40 * config.train.batch_size * 2, length)
    result = train_model(config, sequences, TASK, [], torch.device("cpu"))
    trained = result.description["split"]["train"] * len(result.history)
    seconds = sum(record["seconds"] for record in result.history)
    return trained / seconds / bare["seq_per_s"]


def padding_rows(batch: int = 64, records: int = 20_000) -> list[tuple[str, float]]:
    lengths = np.random.default_rng(0).integers(100, 1_001, size=records)
    sampler = TrainingSampler(records, records, torch.Generator().manual_seed(0), batch, lengths)
    order = np.fromiter(sampler, dtype=np.int64)
    batches = [lengths[order[i : i + batch]] for i in range(0, records, batch)]
    bucketed = 1 - lengths.sum() / sum(int(b.max()) * len(b) for b in batches)
    return [
        ("random batches", padding_overhead(lengths, batch, sample=2_000)),
        ("length-bucketed", bucketed),
    ]


def write_fasta(path: Path, records: int, length: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as handle:
        for start in range(0, records, 10_000):
            block = letters[rng.integers(0, 4, size=(min(10_000, records - start), length))]
            handle.write(
                b"".join(b">r%d\n%s\n" % (start + i, row.tobytes()) for i, row in enumerate(block))
            )


def peak_rss_anon(command: list[str], env: dict) -> tuple[int, float, int]:
    """(peak RssAnon in KiB, seconds, exit code) of a command, polled from /proc."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    while process.poll() is None:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.02)
    stderr = process.communicate()[1]
    if process.returncode:
        print(stderr, file=sys.stderr)
    return peak, time.perf_counter() - start, process.returncode


def memory_rows(sizes: list[int], length: int, threads: int) -> list[tuple[int, int, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "cnn.yaml"
        settings = load_config(model="cnn", epochs=1).to_dict()
        settings["train"].update(steps_per_epoch=20, batch_size=64)
        settings["data"].update(val_fraction=0.02, test_fraction=0.02)
        config.write_text(yaml.safe_dump(settings))
        for size in sizes:
            half = Path(folder) / f"{size}"
            half.mkdir()
            write_fasta(half / "a.fa", size // 2, length, seed=1)
            write_fasta(half / "b.fa", size - size // 2, length, seed=2)
            command = [
                sys.executable,
                "-m",
                "dnanet",
                "train",
                f"a={half / 'a.fa'}",
                f"b={half / 'b.fa'}",
                "-c",
                str(config),
                "--out",
                str(half / "run"),
                "--threads",
                str(threads),
                "--quiet",
            ]
            peak, seconds, code = peak_rss_anon(
                command, {**os.environ, "OMP_NUM_THREADS": str(threads)}
            )
            rows.append((size, peak if code == 0 else -1, seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="cnn,lstm,transformer")
    parser.add_argument(
        "--records", default="20000,1000000", help="data sizes for the memory table"
    )
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--memory-only", action="store_true", help="only the memory table (no speed or padding)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.memory_only:
        speed_tables(args)
    print_memory_table(args)


def speed_tables(args: argparse.Namespace) -> None:
    """The speed table against the matmul ceiling, then the padding table."""
    ceiling = matmul_ceiling()
    print(
        f"# bench_train: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), {os.cpu_count()} cores; "
        f"fp32 matmul ceiling {ceiling:.1f} GFLOP/s\n"
    )
    print(
        "| family | batch | train seq/s | MFLOP/seq | GFLOP/s | of ceiling "
        "| `train_model` / bare step |"
    )
    print("|---|---|---|---|---|---|---|")
    for family in args.families.split(","):
        bare = bare_step(family, args.length, args.repeats)
        ratio = end_to_end(family, args.length, bare)
        print(
            f"| {family} | {bare['batch']} | {bare['seq_per_s']:.0f} "
            f"| {bare['mflop_per_seq']:.1f} | "
            f"{bare['gflop_per_s']:.1f} | {bare['gflop_per_s'] / ceiling:.2f} | {ratio:.2f} |",
            flush=True,
        )
    print("\n| batches of lengths 100-1,000 (batch 64) | padding share |\n|---|---|")
    for name, share in padding_rows():
        print(f"| {name} | {share:.1%} |")


def print_memory_table(args: argparse.Namespace) -> None:
    """Peak RssAnon of `dnanet train` per ``--records`` size and the largest / smallest ratio."""
    print(
        f"\n| records of {args.length} bp | peak RssAnon of `dnanet train` (MiB) | seconds |\n"
        "|---|---|---|"
    )
    rows = memory_rows([int(size) for size in args.records.split(",")], args.length, args.threads)
    for size, peak, seconds in rows:
        print(
            f"| {size:,} | {peak / 1024:.0f} | {seconds:.0f} |"
            if peak >= 0
            else f"| {size:,} | failed | |",
            flush=True,
        )
    if len(rows) > 1 and min(peak for _, peak, _ in rows) > 0:
        print(
            f"\nlargest / smallest: {rows[-1][1] / rows[0][1]:.2f}x RssAnon "
            f"for {rows[-1][0] / rows[0][0]:.0f}x records"
        )


if __name__ == "__main__":
    main()
