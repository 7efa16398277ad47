"""Benchmark: inference throughput per family on one thread, shared computation against today's
per-window path.

In one run, on this machine, per family (shipped configs/<family>.yaml; weights as initialised,
batch-norm statistics set as after training; one strand; 200 bp windows unless said):

- ``forward``: the bare forward pass, ``model(codes)`` under no_grad in batches of 256.
- ``predict``: dnanet's prediction path (`dnanet.inference.predict.predict_batch`).
- ``track step S``: bases/s of a track over a random stretch at steps 1, 20 and 100
  (`dnanet.inference.windows.window_predictor`: shared for a one-hot CNN, per window otherwise)
  against the per-window path (``shared=False``, today's), and the largest difference of the two
  (``--track-width`` for longer windows, ``--only-tracks`` for these rows alone).
- ``ISM L bp``: sequences/s of in-silico mutagenesis (`dnanet.interpret.attribution.mutagenesis`,
  3 L mutants each) at 200 bp and 1 kb, against full passes (``shared=False``).
- ``variants``: SNVs/s (`dnanet.interpret.variant_scoring.pair_scorer`: reference and alternative
  window) against predicting both windows in full.

Each row gives the throughput, the ratio to the bare forward pass on the same windows (how many
times faster than running the model on every window or mutant from scratch) and to today's path,
the largest absolute difference from today's outputs, and the peak anonymous memory (RssAnon,
sampled every 5 ms) above the process's before the row. Figures are medians of ``--repeats``
timed runs in one process; compare ratios, not absolute speeds (the machine is shared). A last
table gives the shared track's peak memory over a short and a long stretch (flat in its length).

Run:  python scripts/bench_infer.py [--families cnn,lstm,transformer] [--repeats 3]
      [--track-bases 20000] [--track-width 200] [--only-tracks] [--ism-records 2]
      [--variants 2000] [--device cuda]

On a GPU (``--device cuda``) the forward passes run under mixed precision as dnanet's own do,
so the differences from today's outputs are those of 16-bit arithmetic, not of the sharing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from dnanet.config.run_config import load_config
from dnanet.data.tasks import Task
from dnanet.inference.predict import predict_batch
from dnanet.inference.windows import sharing_reason, window_predictor
from dnanet.interpret.attribution import mutagenesis, target_output
from dnanet.interpret.variant_scoring import pair_scorer
from dnanet.models import build_model
from dnanet.training.experiment import model_arguments_of

TASK = Task("binary", ["background", "bound"])
STEPS = (1, 20, 100)


class PeakMemory:
    """Peak RssAnon (MiB) above the value when entered, sampled every 5 ms in a thread."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = rss_anon()
        self.running = True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_anon())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.mib = (self.peak - self.start) / 1024


def rss_anon() -> int:
    """This process's RssAnon in KiB (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(work, repeats: int) -> tuple[float, object, float]:
    """(median seconds, the last result, peak MiB) of `work()` over `repeats` runs after one
    warm-up (the peak includes the warm-up: the first run allocates what later ones reuse)."""
    times, result = [], None
    with PeakMemory() as memory:
        work()
        for _ in range(repeats):
            start = time.perf_counter()
            result = work()
            times.append(time.perf_counter() - start)
    return statistics.median(times), result, memory.mib


def trained_looking(family: str) -> torch.nn.Module:
    """The shipped config's model in eval mode, batch norms holding non-trivial statistics."""
    torch.manual_seed(0)
    model = build_model(family, 2, model_arguments_of(load_config(model=family))).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


def forward_seconds(model, codes: torch.Tensor, repeats: int) -> float:
    """Median seconds of the bare forward pass over codes ``(N, L)`` in batches of 256 (on the
    model's device, waited for)."""
    device = next(model.parameters()).device
    codes = codes.to(device)

    def work():
        with torch.no_grad():
            outputs = [model(codes[i : i + 256]) for i in range(0, len(codes), 256)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return outputs

    return timed(work, repeats)[0]


def every_mutant(codes: torch.Tensor) -> torch.Tensor:
    """Every single-base substitution of codes ``(B, L)`` of A C G T: ``(3 B L, L)``."""
    records, length = codes.shape
    mutants = codes.repeat_interleave(3 * length, 0).clone()
    positions = torch.arange(length).repeat_interleave(3).repeat(records)
    shifts = torch.tensor([1, 2, 3]).repeat(length * records)
    rows = torch.arange(len(mutants))
    mutants[rows, positions] = ((mutants[rows, positions].long() + shifts) % 4).to(torch.uint8)
    return mutants


def rate(value: float) -> str:
    """A throughput, with three significant digits below 100."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def row(name, count, unit, seconds, bare, today, difference, memory) -> str:
    today_cell = f"{today / seconds:.1f}x" if today else "—"
    diff_cell = f"{difference:.1e}" if difference is not None else "—"
    return (
        f"| {name} | {rate(count / seconds)} {unit}/s | {bare / seconds:.2f}x | {today_cell} "
        f"| {diff_cell} | {memory:.0f} |"
    )


def compared(name, count, unit, bare, new, old, shares: bool, repeats: int) -> str:
    """A row for `new()` against today's `old()` (the same path when the family does not share:
    timed once, 1.0x by construction)."""
    seconds, found, memory = timed(new, repeats)
    if not shares:
        return row(name, count, unit, seconds, bare, seconds, 0.0, memory)
    today, expected, _ = timed(old, repeats)
    difference = max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(found, expected)
    )
    return row(name, count, unit, seconds, bare, today, difference, memory)


def family_rows(family: str, args) -> list[str]:
    model = trained_looking(family).to(args.device)
    run = SimpleNamespace(model=model, task=TASK, reverse_complement_average=False)
    shares = not sharing_reason(run)
    rng = np.random.default_rng(0)
    windows = torch.as_tensor(rng.integers(0, 4, (1024, 200), dtype=np.uint8))
    bare = forward_seconds(model, windows, args.repeats)
    lengths = np.full(256, 200)
    seconds, _, memory = timed(
        lambda: [
            predict_batch(model, windows[i : i + 256], lengths, activate=TASK.activate)
            for i in range(0, 1024, 256)
        ],
        args.repeats,
    )
    rows = [row("forward", 1024, "windows", bare, bare, 0, None, 0)]
    rows.append(row("predict", 1024, "windows", seconds, bare, 0, None, memory))
    rows += track_rows(run, shares, rng, args)
    if args.only_tracks:
        return rows
    rows += ism_rows(model, shares, rng, args)
    return rows + [variant_row(model, shares, rng, args)]


def track_rows(run, shares: bool, rng, args) -> list[str]:
    """Tracks over a random stretch at each step: shared (where it applies) against per window."""
    width, rows = args.track_width, []
    stretch = rng.integers(0, 4, args.track_bases + width, dtype=np.uint8)
    for step in STEPS:
        starts = np.arange(0, args.track_bases, step)
        cut = torch.as_tensor(np.lib.stride_tricks.sliding_window_view(stretch, width)[starts])
        bare = forward_seconds(run.model, cut, args.repeats)
        shared = window_predictor(run, width, 256)
        alone = window_predictor(run, width, 256, shared=False)
        rows.append(
            compared(
                f"track step {step}",
                args.track_bases,
                "bases",
                bare,
                lambda: [shared(stretch, starts)],
                lambda: [alone(stretch, starts)],
                shares,
                args.repeats,
            )
        )
    return rows


def ism_rows(model, shares: bool, rng, args) -> list[str]:
    """In-silico mutagenesis of random records at each length: shared against full passes."""
    objective, rows = target_output(TASK, 1), []
    for length in (200, 1000):
        codes = torch.as_tensor(rng.integers(0, 4, (args.ism_records, length), dtype=np.uint8))
        bare = forward_seconds(model, every_mutant(codes), args.repeats)
        codes = codes.to(args.device)
        lengths = torch.full((args.ism_records,), length, device=args.device)
        rows.append(
            compared(
                f"ISM {length} bp",
                args.ism_records,
                "seq",
                bare,
                lambda: [mutagenesis(model, codes, lengths, objective)[0].cpu()],
                lambda: [mutagenesis(model, codes, lengths, objective, shared=False)[0].cpu()],
                shares,
                args.repeats,
            )
        )
    return rows


def variant_row(model, shares: bool, rng, args) -> str:
    """SNVs (reference and alternative windows of 200 bp): shared against both in full."""
    refs = rng.integers(0, 4, (args.variants, 200), dtype=np.uint8)
    alts = refs.copy()
    alts[:, 100] = (alts[:, 100] + 1) % 4
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    ref_bytes, alt_bytes = (
        [letters[r].tobytes() for r in refs],
        [letters[a].tobytes() for a in alts],
    )
    bare = forward_seconds(model, torch.as_tensor(np.concatenate([refs, alts])), args.repeats)
    description = {"reverse_complement_average": False}
    shared = pair_scorer(model, description, TASK, 512)
    alone = pair_scorer(model, description, TASK, 512, shared=False)
    return compared(
        "variants (SNVs)",
        args.variants,
        "variants",
        bare,
        lambda: shared(ref_bytes, alt_bytes),
        lambda: alone(ref_bytes, alt_bytes),
        shares,
        args.repeats,
    )


def stretch_memory(args) -> list[str]:
    """The shared CNN track's peak memory over a short and a 10x longer stretch (step 20)."""
    model = trained_looking("cnn").to(args.device)
    run = SimpleNamespace(model=model, task=TASK, reverse_complement_average=False)
    predict = window_predictor(run, 200, 256)
    rows = []
    for bases in (args.track_bases * 10, args.track_bases * 100):
        stretch = np.random.default_rng(1).integers(0, 4, bases + 200, dtype=np.uint8)
        starts = np.arange(0, bases, 20)
        with PeakMemory() as memory:
            start = time.perf_counter()
            predict(stretch, starts)
            seconds = time.perf_counter() - start
        rows.append(f"| {bases:,} | {memory.mib:.0f} | {bases / seconds:,.0f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="cnn,lstm,transformer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--track-bases", type=int, default=20_000)
    parser.add_argument("--track-width", type=int, default=200, help="bases of a track window")
    parser.add_argument("--only-tracks", action="store_true", help="the track rows alone")
    parser.add_argument("--ism-records", type=int, default=2)
    parser.add_argument("--variants", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (figures for a GPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# bench_infer: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), {os.cpu_count()} cores, device {args.device}, "
        f"medians of {args.repeats}\n"
    )
    for family in args.families.split(","):
        reason = sharing_reason(SimpleNamespace(model=trained_looking(family)))
        print(f"## {family}: {reason or 'shared computation (one-hot CNN)'}\n")
        print("| work | throughput | vs bare forward | vs today | max diff | peak MiB |")
        print("|---|---|---|---|---|---|")
        for line in family_rows(family, args):
            print(line, flush=True)
        print()
    print("| shared CNN track, step 20: stretch bases | peak MiB | bases/s |\n|---|---|---|")
    for line in stretch_memory(args):
        print(line, flush=True)


if __name__ == "__main__":
    main()
