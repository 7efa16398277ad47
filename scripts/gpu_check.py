"""Check dnanet on a CUDA GPU: speed, memory, and predictions that agree with the CPU's.

For each family (cnn, lstm, transformer, each with its shipped configs/<name>.yaml), trains a
few hundred optimiser steps on a planted 3-class set (GATA site, E-box, neither; random DNA, seeded)
through ``dnanet.training.experiment.train_model`` on the GPU, with the precision ``--device`` gets
(``dnanet.runtime.precision``: bf16 autocast where the GPU has it, else fp16 with loss scaling),
then reports:

- training throughput (sequences per second over the optimiser steps after the first epoch,
  which holds cuDNN's warm-up) and inference throughput (``dnanet.inference.predict.predict`` over
  the whole set, both strands when the run averages them);
- peak GPU memory of the training run (``torch.cuda.max_memory_allocated``);
- the largest difference between a probability computed on the GPU and on the CPU in float32,
  same weights, same sequences, against ``dnanet.runtime.precision.TOLERANCE`` for that precision.

Prints a Markdown table; exits 1 if a difference is over its tolerance, 2 if CUDA is missing.
``--device cpu --steps 6`` runs the same logic on the CPU in seconds (a smoke test of this script;
add ``--precision bf16`` to compare CPU bf16 with CPU float32).

Run:  bash scripts/gpu_check.sh [--models cnn,lstm,transformer] [--steps 300] [--length 500]
      [--batch-size N] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs from a checkout without an install

from dnanet.config.run_config import load_config  # noqa: E402
from dnanet.data.loaders import make_loader  # noqa: E402
from dnanet.data.sets import SequenceSet  # noqa: E402
from dnanet.data.tasks import Task  # noqa: E402
from dnanet.errors import DnanetError  # noqa: E402
from dnanet.inference.predict import predict  # noqa: E402
from dnanet.inputs.encode import BYTE_TO_CODE  # noqa: E402
from dnanet.runtime.precision import SETTINGS, TOLERANCE, precision_for  # noqa: E402
from dnanet.synthetic.planted import planted_set  # noqa: E402
from dnanet.training.experiment import train_model  # noqa: E402
from dnanet.training.loop import TrainingMonitor  # noqa: E402

FAMILIES = ("cnn", "lstm", "transformer")
MOTIFS = {"gata": "AGATAAGG", "ebox": "CCACGTGG"}
EPOCHS = 3  # the steps are split into this many epochs: the first is warm-up, the others are timed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--device", default="cuda", help="cuda (default), cuda:N, or cpu for a smoke run"
    )
    parser.add_argument("--models", default=",".join(FAMILIES), help="comma-separated families")
    parser.add_argument(
        "--steps", type=int, default=300, help=f"optimiser steps per family, in {EPOCHS} epochs"
    )
    parser.add_argument("--length", type=int, default=500, help="bases per sequence (default 500)")
    parser.add_argument(
        "--per-class", type=int, default=2000, help="sequences per class (3 classes)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="training batch (default: the shipped config's)",
    )
    parser.add_argument("--infer-batch", type=int, default=256, help="inference batch size")
    parser.add_argument(
        "--compare", type=int, default=1000, help="sequences predicted on both devices"
    )
    parser.add_argument(
        "--precision", default="auto", choices=SETTINGS, help="train.precision (default auto)"
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.models = args.models.split(",")
    unknown = [name for name in args.models if name not in FAMILIES]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; valid: {', '.join(FAMILIES)}")
    if args.steps < EPOCHS:
        parser.error(f"--steps must be at least {EPOCHS}")
    return args


def consensus_pwm(consensus: str, match: float = 0.91) -> np.ndarray:
    """A PWM ``(4, W)`` giving each consensus base probability `match`, the others the rest
    evenly."""
    pwm = np.full((4, len(consensus)), (1 - match) / 3)
    pwm[["ACGT".index(base) for base in consensus], np.arange(len(consensus))] = match
    return pwm


def planted_data(per_class: int, length: int) -> tuple[SequenceSet, Task]:
    """The seeded 3-class planted set (none, gata, ebox) as a SequenceSet with its task."""
    planted = planted_set(
        {name: consensus_pwm(site) for name, site in MOTIFS.items()}, per_class, length, seed=0
    )
    task = Task("multiclass", sorted(set(planted.labels), key=planted.labels.index))
    flat = np.frombuffer(b"".join(planted.sequences).translate(BYTE_TO_CODE), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in planted.sequences])]).astype(np.int64)
    targets = np.array([task.names.index(label) for label in planted.labels], dtype=np.int64)
    return SequenceSet(planted.ids, flat, offsets, targets), task


class StepClock(TrainingMonitor):
    """Times the optimiser steps of each epoch (validation left out): `seconds[e]` and `steps[e]`.
    Each step ends with ``loss.item()``, which waits for the GPU, so the clock is honest."""

    def __init__(self):
        self.seconds: list[float] = []
        self.steps: list[int] = []
        self.start = 0.0

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self.start = time.perf_counter()
        self.seconds.append(0.0)
        self.steps.append(0)

    def step_done(self) -> None:
        self.seconds[-1] = time.perf_counter() - self.start
        self.steps[-1] += 1


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batches(sequences: SequenceSet, batch_size: int):
    return ((batch["codes"], batch["lengths"]) for batch in make_loader(sequences, batch_size))


def check_family(
    name: str, sequences: SequenceSet, task: Task, device: torch.device, args: argparse.Namespace
) -> dict:
    """Train one family on `device`, time it, and compare its predictions with the CPU's."""
    config = load_config(
        model=name, batch_size=args.batch_size, epochs=EPOCHS, precision=args.precision
    )
    train = dataclasses.replace(
        config.train, steps_per_epoch=max(1, args.steps // EPOCHS), patience=EPOCHS
    )
    config = dataclasses.replace(config, train=train)
    precision = precision_for(device, args.precision)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    clock = StepClock()
    result = train_model(config, sequences, task, [], device, clock)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    timed = slice(1, None) if len(clock.steps) > 1 else slice(None)  # the first epoch warms up
    train_rate = sum(clock.steps[timed]) * train.batch_size / max(sum(clock.seconds[timed]), 1e-9)
    rc = result.description["reverse_complement_average"]
    predict(
        result.model,
        batches(
            sequences.subset(np.arange(min(len(sequences), args.infer_batch))), args.infer_batch
        ),
        rc,
        activate=task.activate,
        precision=precision,
    )  # warm-up
    synchronize(device)
    start = time.perf_counter()
    predict(
        result.model,
        batches(sequences, args.infer_batch),
        rc,
        activate=task.activate,
        precision=precision,
    )
    synchronize(device)
    infer_rate = len(sequences) / (time.perf_counter() - start)
    compared = sequences.subset(np.arange(min(len(sequences), args.compare)))
    here = predict(
        result.model,
        batches(compared, args.infer_batch),
        rc,
        activate=task.activate,
        precision=precision,
    )
    cpu_model = copy.deepcopy(result.model).to("cpu")
    reference = predict(
        cpu_model, batches(compared, args.infer_batch), rc, activate=task.activate
    )  # float32
    difference = float(np.abs(here - reference).max())
    tolerance = TOLERANCE[precision.name]
    return {
        "model": name,
        "precision": precision.name,
        "batch_size": train.batch_size,
        "steps": sum(clock.steps),
        "train_seq_per_s": train_rate,
        "infer_seq_per_s": infer_rate,
        "peak_gpu_mib": peak,
        "test_accuracy": result.test_metrics["accuracy"],
        "max_prob_difference": difference,
        "tolerance": tolerance,
        "ok": difference <= tolerance,
    }


def table(rows: list[dict]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| model | precision | batch | steps | train seq/s | inference seq/s | peak GPU MiB | "
        "test accuracy | max abs prob diff vs CPU fp32 | tolerance | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = "-" if row["peak_gpu_mib"] is None else f"{row['peak_gpu_mib']:,.0f}"
        lines.append(
            f"| {row['model']} | {row['precision']} | {row['batch_size']} | {row['steps']} | "
            f"{row['train_seq_per_s']:,.0f} | {row['infer_seq_per_s']:,.0f} | {peak} | "
            f"{row['test_accuracy']:.3f} | {row['max_prob_difference']:.2e} | "
            f"{row['tolerance']:.0e} | {'yes' if row['ok'] else 'NO'} |"
        )
    return "\n".join(lines)


def describe(device: torch.device) -> str:
    """One line: the device, torch and CUDA versions."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        what = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    else:
        what = f"CPU, {torch.get_num_threads()} threads"
    return f"{what}; torch {torch.__version__}, CUDA {torch.version.cuda}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available here (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda}); run it on a machine with an NVIDIA GPU, or add --device cpu "
            "for a smoke run of this script",
            file=sys.stderr,
        )
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    sequences, task = planted_data(args.per_class, args.length)
    print(
        f"gpu_check: {describe(device)}; {len(sequences):,} planted sequences of {args.length} bp, "
        f"{args.steps} steps per family",
        flush=True,
    )
    rows = []
    for name in args.models:
        try:
            rows.append(check_family(name, sequences, task, device, args))
        except DnanetError as error:
            print(f"gpu_check: {name}: {error}", file=sys.stderr)
            return 1
        print(f"gpu_check: {name} done", flush=True)
    print(table(rows))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"device": describe(device), "length": args.length, "rows": rows}, indent=1)
        )
    failed = [row["model"] for row in rows if not row["ok"]]
    if failed:
        print(
            f"gpu_check: {', '.join(failed)}: GPU predictions differ from the CPU's by more than "
            "the tolerance",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
