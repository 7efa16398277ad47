"""Benchmark: FASTA -> encoded batches throughput of the dnanet loader against common baselines.

Generates one random-ACGT FASTA file (default 200,000 records x 200 bp, 60-column lines) and a
gzip copy in a temporary directory, then times, on both files in the same run:

1. dnanet loader: ``dnanet.data.streaming.iter_batches([path], batch_size=256)``, consuming
   every batch (uint8 codes ``(B, L_max)``, the loader's real output; one-hot happens in the model).
2. dnanet loader + one-hot: the same plus ``dnanet.inputs.encode.one_hot`` per batch (float32
   (B,4,L)).
3. Bio.SeqIO.parse + a naive per-base Python loop one-hot into a float32 array per record. This
   is slow, so it is timed on the first ``--naive-records`` records and the rate extrapolated.
4. Bio.SeqIO.parse raw read: ``str(record.seq)`` per record, no encoding.
5. pyfastx raw read: iterating ``pyfastx.Fastx(path)``, no encoding.

Each row is the median of ``--repeats`` runs; Mbp/s counts sequence bases (not file bytes).
Ratios compare row 1 to rows 3-5; the targets are >= 4x Bio.SeqIO.parse (checked both against
SeqIO + naive encoding and, the strict reading, the SeqIO raw read) and >= 0.5x pyfastx raw read.

Run:  python scripts/bench_data.py [--records 200000] [--length 200] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import gzip
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, TextIO

import numpy as np
import torch
from Bio import SeqIO

from dnanet.data.streaming import iter_batches
from dnanet.inputs.encode import one_hot

try:
    import pyfastx
except ImportError:  # the row is then printed as "not installed"
    pyfastx = None

Counter = Callable[[Path, int | None], tuple[int, int]]  # (path, record limit) -> (records, bases)


def write_fasta(
    directory: Path, records: int, length: int, width: int = 60, seed: int = 0
) -> tuple[Path, Path]:
    """Write random-ACGT records (lines of `width` bases) and a gzip copy; return both paths."""
    rng = np.random.default_rng(seed)
    plain, gz = directory / "bench.fa", directory / "bench.fa.gz"
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(plain, "wb") as out:
        for start in range(0, records, 10_000):
            block = letters[rng.integers(0, 4, size=(min(10_000, records - start), length))]
            parts = []
            for i, row in enumerate(block, start=start):
                seq = row.tobytes()
                lines = b"\n".join(seq[j : j + width] for j in range(0, length, width))
                parts.append(b">seq%d random\n%s\n" % (i, lines))
            out.write(b"".join(parts))
    with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        dst.write(src.read())
    return plain, gz


def dnanet_loader(path: Path, limit: int | None) -> tuple[int, int]:
    records = bases = 0
    for batch in iter_batches([path], batch_size=256):
        records += len(batch.ids)
        bases += int(batch.lengths.sum())
    return records, bases


def dnanet_one_hot(path: Path, limit: int | None) -> tuple[int, int]:
    records = bases = 0
    for batch in iter_batches([path], batch_size=256):
        one_hot(torch.from_numpy(batch.codes))
        records += len(batch.ids)
        bases += int(batch.lengths.sum())
    return records, bases


def _open_text(path: Path) -> TextIO:
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


_NAIVE_INDEX = {"A": 0, "C": 1, "G": 2, "T": 3, "a": 0, "c": 1, "g": 2, "t": 3}


def seqio_naive(path: Path, limit: int | None) -> tuple[int, int]:
    """What users typically write: SeqIO + a Python loop over bases into a float32 one-hot."""
    records = bases = 0
    with _open_text(path) as handle:
        for record in SeqIO.parse(handle, "fasta"):
            seq = str(record.seq)
            encoded = np.zeros((4, len(seq)), dtype=np.float32)
            for i, base in enumerate(seq):
                channel = _NAIVE_INDEX.get(base)
                if channel is not None:
                    encoded[channel, i] = 1.0
            records, bases = records + 1, bases + len(seq)
            if limit is not None and records >= limit:
                break
    return records, bases


def seqio_raw(path: Path, limit: int | None) -> tuple[int, int]:
    records = bases = 0
    with _open_text(path) as handle:
        for record in SeqIO.parse(handle, "fasta"):
            records, bases = records + 1, bases + len(str(record.seq))
    return records, bases


def pyfastx_raw(path: Path, limit: int | None) -> tuple[int, int]:
    records = bases = 0
    for _name, seq, *_ in pyfastx.Fastx(str(path)):
        records, bases = records + 1, bases + len(seq)
    return records, bases


def measure(fn: Counter, path: Path, repeats: int, limit: int | None = None) -> tuple[float, float]:
    """Median (bases/s, records/s) over `repeats` runs of `fn` on `path`."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        records, bases = fn(path, limit)
        seconds = time.perf_counter() - start
        rates.append((bases / seconds, records / seconds))
    return statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per row; the median is reported"
    )
    parser.add_argument(
        "--naive-records",
        type=int,
        default=20_000,
        help="records timed for the naive SeqIO row (rate extrapolated)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument(
        "--keep-dir",
        type=Path,
        default=None,
        help="write the test files here and keep them (default: a temporary directory)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, "
        f"pyfastx {pyfastx.version() if pyfastx else 'not installed'}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep_dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        begin = time.perf_counter()
        plain, gz = write_fasta(directory, args.records, args.length)
        print(
            f"Generated {args.records:,} records x {args.length} bp "
            f"in {time.perf_counter() - begin:.1f} s: "
            f"{plain.stat().st_size / 1e6:.1f} MB plain, {gz.stat().st_size / 1e6:.1f} MB gzip "
            f"({directory}); median of {args.repeats} runs\n"
        )
        naive_n = min(args.naive_records, args.records)
        rows: list[tuple[str, Counter | None, int | None]] = [
            ("dnanet loader (iter_batches, uint8 codes)", dnanet_loader, None),
            ("dnanet loader + one_hot (float32)", dnanet_one_hot, None),
            (
                f"Bio.SeqIO.parse + naive per-base one-hot "
                f"(first {naive_n:,} records, extrapolated)",
                seqio_naive,
                naive_n,
            ),
            ("Bio.SeqIO.parse raw read (str(record.seq))", seqio_raw, None),
            ("pyfastx.Fastx raw read", pyfastx_raw if pyfastx else None, None),
        ]
        results: dict[tuple[str, str], tuple[float, float]] = {}
        print("| Reader | Plain Mbp/s | Plain records/s | Gzip Mbp/s | Gzip records/s |")
        print("|---|---:|---:|---:|---:|")
        for name, fn, limit in rows:
            cells = []
            for kind, path in (("plain", plain), ("gzip", gz)):
                if fn is None:
                    cells += ["not installed", "not installed"]
                    continue
                bps, rps = results[name, kind] = measure(fn, path, args.repeats, limit)
                cells += [f"{bps / 1e6:.1f}", f"{rps:,.0f}"]
            print(f"| {name} | " + " | ".join(cells) + " |")

        loader = rows[0][0]
        print("\n| dnanet loader vs | Plain | Gzip | Target |")
        print("|---|---:|---:|---|")
        for name, fn, _ in rows[2:]:
            target = {seqio_naive: 4.0, seqio_raw: 4.0, pyfastx_raw: 0.5}.get(fn)
            cells = []
            for kind in ("plain", "gzip"):
                if (name, kind) not in results:
                    cells.append("n/a")
                    continue
                ratio = results[loader, kind][0] / results[name, kind][0]
                verdict = "" if target is None else (" PASS" if ratio >= target else " MISS")
                cells.append(f"{ratio:.2f}x{verdict}")
            label = name.split(" (")[0] if fn is not pyfastx_raw else name
            target_text = f">= {target:g}x" + {
                seqio_naive: " (SeqIO incl. encoding: lenient reading)",
                seqio_raw: " (SeqIO read only: strict reading)",
            }.get(fn, "")
            if fn is pyfastx_raw and pyfastx is None:
                target_text += " (pyfastx not installed)"
            print(f"| {label} | {cells[0]} | {cells[1]} | {target_text} |")
        print(f"\nTotal time (generation + timing): {time.perf_counter() - begin:.1f} s")


if __name__ == "__main__":
    main()
