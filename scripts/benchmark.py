"""Benchmark every registered model family on the real data sets and write docs/benchmark.md.

For each task (scripts/benchmark_data.py), seed and model family in ``dnanet.models.MODELS``,
trains with the family's shipped config (``load_config(model=name, seed=seed)``, unchanged but
for the seed) through ``dnanet.training.experiment.train_model``. Tasks without fixed test files are
scored on train_model's internal seeded test split; tasks with fixed test files are trained on
the training files (split internally into train/validation/test, the internal test unused) and
scored on the test files with ``dnanet.inference.predict.predict``. A GC-content logistic regression
is scored the same way on every task and seed; its cell also counts the test records whose sequence
is in the training data (``split_duplicates``), which the page reports per data set (internal
splits leave them out of the test part, as ``train_model`` does by default).

Each finished (task, model, seed) cell is saved at once to the JSON beside the page
(docs/benchmark.json), so an interrupted run keeps its results; ``--resume`` skips those cells.

With ``--tuned``, each family also gets a tuned column (``<family>+tuned``,
scripts/benchmark_tuned.py): searched per task and seed with ``--tuned-trials`` trials of
`dnanet.tune.study` on the validation part, the best config retrained and scored on the same test
set.

Run:  python scripts/benchmark.py [--data ../shared/data] [--quick] [--seeds 3]
      [--models cnn,lstm] [--tasks ctcf-101bp,...] [--all-rbp] [--jobs 2] [--threads 1] [--resume]
      [--tuned [--tuned-trials 20]] [--folds 5]

With ``--folds K``, each family also gets an ensemble column (``<family>+ens<K>``,
scripts/benchmark_folds.py): K members on K folds of the training part, the mean of their
probabilities scored on the same test set.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmark_data beside this file

from benchmark_data import (
    NOTES,
    TaskData,
    TaskSpec,
    all_tasks,
    default_task_names,  # noqa: E402
    gc_baseline,
    load_task,
)
from benchmark_folds import bayes_lines, ensemble_lines, ensemble_name, folds_of, run_ensemble  # noqa: E402
from benchmark_tuned import DEFAULT_TRIALS, family_of, run_tuned, tuned_name, tuning_lines  # noqa: E402

import dnanet  # noqa: E402
from dnanet.config.run_config import load_config  # noqa: E402
from dnanet.data.leakage import overlap  # noqa: E402
from dnanet.data.loaders import make_loader  # noqa: E402
from dnanet.data.sets import SequenceSet  # noqa: E402
from dnanet.errors import DnanetError  # noqa: E402
from dnanet.inference.predict import predict  # noqa: E402
from dnanet.models import MODELS  # noqa: E402
from dnanet.runtime.device import resolve_device  # noqa: E402
from dnanet.training.experiment import PreparedSplit, prepare_split, train_model  # noqa: E402
from dnanet.training.metrics import classification_metrics  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUICK_EPOCHS = 5
SEQUENCE_FAMILIES = [name for name in MODELS if name != "ternary_mlp"]
GC = "gc"  # the model name of the GC-content baseline in the JSON
KEPT_METRICS = ("n", "accuracy", "auroc", "auprc", "f1", "mcc")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data", help="the data folder"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: one seed, at most {QUICK_EPOCHS} epochs"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell: 0 .. N-1 (default 3)")
    parser.add_argument(
        "--models",
        default=",".join(SEQUENCE_FAMILIES),
        help="comma-separated families (default: cnn,lstm,transformer; ternary_mlp is the reaction-"
        "network model, compared in docs/guide/crn.md)",
    )
    parser.add_argument(
        "--tasks", default=",".join(default_task_names()), help="comma-separated tasks"
    )
    parser.add_argument("--all-rbp", action="store_true", help="add the other four RBP proteins")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="cells run in parallel processes (default 2)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "benchmark.md", help="the Markdown page"
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep the JSON's finished cells, run the rest"
    )
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="add a tuned column per family: dnanet tune's search "
        "per task and seed (validation part only), the best config retrained and scored",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        help="add an ensemble column per family (<family>+ens<K>): K members on K folds, the "
        "mean of their probabilities scored (scripts/benchmark_folds.py)",
    )
    parser.add_argument(
        "--tuned-trials",
        type=int,
        default=DEFAULT_TRIALS,
        help=f"trial budget of each tuned cell's search (default {DEFAULT_TRIALS})",
    )
    args = parser.parse_args(argv)
    args.models, args.tasks = args.models.split(","), args.tasks.split(",")
    if args.all_rbp:
        args.tasks += [
            name
            for name in all_tasks(args.data)
            if name.startswith("rbp-") and name not in args.tasks
        ]
    for kind, names, valid in (
        ("model", args.models, MODELS),
        ("task", args.tasks, all_tasks(args.data)),
    ):
        unknown = [name for name in names if name not in valid]
        if unknown:
            parser.error(f"unknown {kind} {', '.join(unknown)}; valid: {', '.join(valid)}")
    if not args.data.is_dir():
        parser.error(f"{args.data}: no such data folder (give --data)")
    args.seeds = 1 if args.quick else args.seeds
    return args


def summarise(metrics: dict) -> dict:
    """The scalar metrics kept in the JSON (per-class details dropped)."""
    return {key: metrics.get(key) for key in KEPT_METRICS}


def test_batches(
    sequences: SequenceSet, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(codes uint8 (B, L_max), lengths int64 (B,)) batches of a set, in order, for `predict`."""
    return ((batch["codes"], batch["lengths"]) for batch in make_loader(sequences, batch_size))


def run_model(
    task_data: TaskData, name: str, seed: int, quick: bool, device: torch.device, config=None
) -> dict:
    """Train one family on one seed (its shipped config, or `config`: a tuned one); score the
    fixed test set, or else the internal test split."""
    if config is None:
        config = load_config(model=name, seed=seed)
        if quick:
            config = load_config(
                model=name, seed=seed, epochs=min(QUICK_EPOCHS, config.train.epochs)
            )
    result = train_model(config, task_data.train, task_data.task, task_data.provenance, device)
    metrics = result.test_metrics
    if task_data.test is not None:
        probs = predict(
            result.model,
            test_batches(task_data.test, config.train.batch_size),
            reverse_complement_average=result.description["reverse_complement_average"],
            activate=task_data.task.activate,
        )
        metrics = classification_metrics(task_data.test.targets, probs, task_data.task.names)
    epoch_seconds = [record["seconds"] for record in result.history]
    return {
        "metrics": summarise(metrics),
        "epochs": len(result.history),
        "best_epoch": result.description["best_epoch"],
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
    }


def run_gc(task_data: TaskData, seed: int) -> dict:
    """GC baseline: fit on the training files (internal split: on the train+validation part of the
    default config's split for this seed, duplicates of training records left out of its test
    part as for the models) and score like the models. Also counts the task's duplicates
    (`split_duplicates`)."""
    train, test = task_data.train, task_data.test
    prepared = prepare_split(load_config(seed=seed), train, task_data.task)
    duplicates = split_duplicates(task_data, prepared)
    if test is None:
        split = prepared.split
        train, test = (
            train.subset(np.sort(np.concatenate([split.train, split.validation]))),
            train.subset(split.test),
        )
    probs = gc_baseline(train, test, task_data.task.n_outputs)
    return {
        "metrics": summarise(classification_metrics(test.targets, probs, task_data.task.names)),
        "duplicates": duplicates,
    }


def split_duplicates(task_data: TaskData, prepared: PreparedSplit) -> dict:
    """Duplicates across a task's splits (as train_model counts them: one strand, or both when the
    run averages strands): ``test`` records (internal split: before duplicates are left out),
    ``in_training`` (test records whose sequence is in the training data: internal split, in its
    train or validation part; fixed test, in the training files), ``removed`` (left out of the
    scores: the internal split's; fixed test sets are scored whole, as published), and sequences
    under two or more classes in the training files (``across_classes``)."""
    counts, both = prepared.duplicates, bool(prepared.train_config.reverse_complement)
    if task_data.test is None:
        removed = counts["removed"]["test"]
        leaked = {
            "test": len(prepared.split.test) + removed,
            "in_training": counts["test_in_train"] + counts["test_in_validation"],
            "removed": removed,
        }
    else:
        leaked = {
            "test": len(task_data.test),
            "in_training": overlap(task_data.train, task_data.test, both),
            "removed": 0,
        }
    return {**leaked, "across_classes": counts["across_classes"], "both_strands": both}


def load_results(path: Path, resume: bool, quick: bool) -> tuple[list[dict], list[dict]]:
    """The finished cells in the JSON and the invocations that made them, if resuming (same
    --quick setting), else none."""
    if not resume or not path.exists():
        return [], []
    stored = json.loads(path.read_text())
    meta = stored["meta"]
    if meta["quick"] != quick:
        sys.exit(
            f"{path} holds a {'quick' if meta['quick'] else 'full'} run; "
            f"--resume needs the same --quick setting (or drop --resume to start afresh)"
        )
    invocations = meta.get("invocations") or [  # a JSON from before the list was kept
        {
            "date": meta["date"],
            "command": meta["command"],
            "cells": len(stored["results"]),
            "wall_seconds": meta["wall_seconds"],
        }
    ]
    return stored["results"], invocations


def save_results(path: Path, meta: dict, results: list[dict]) -> None:
    """Write the JSON atomically (a crash mid-write leaves the previous version)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    os.replace(temporary, path)


def machine() -> str:
    """OS, architecture, core count and CPU model, for the page."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu})"


def mean_sd(values: list[float]) -> str:
    """'mean ± sample sd' to 3 decimals ('—' for no values)."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def values_of(results: list[dict], task: str, model: str, key: str) -> list[float]:
    """One metric's per-seed values for a (task, model) cell."""
    return [
        r["metrics"][key]
        for r in results
        if r["task"] == task and r["model"] == model and r["metrics"].get(key) is not None
    ]


def verdict(results: list[dict], task: str, key: str, families: list[str], target: float) -> str:
    """'met' or 'missed' for the family with the best mean, against `target`."""
    means = {m: float(np.mean(v)) for m in families if (v := values_of(results, task, m, key))}
    if not means:
        return "—"
    best = max(means, key=means.get)
    if means[best] >= target:
        return f"met ({best} {means[best]:.3f})"
    return f"**missed** (best {best} {means[best]:.3f} < {target:.3f})"


def results_table(
    tasks: dict[str, TaskSpec], results: list[dict], families: list[str]
) -> list[str]:
    """The main table's Markdown lines: one row per (task, metric)."""
    header = [
        "data set / task",
        "metric",
        "GC baseline",
        *families,
        "best published reference",
        "target",
        "verdict",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in tasks.values():
        if not any(r["task"] == task.name for r in results):
            continue
        for row, metric in enumerate(task.metrics):
            gc = values_of(results, task.name, GC, metric.key)
            target = (
                metric.target if metric.target is not None else (float(np.mean(gc)) if gc else None)
            )
            target_text = f"≥ {metric.target:.3f}" if metric.target is not None else "> GC baseline"
            cells = [
                task.name if row else f"{task.name}: {task.title}",
                metric.key,
                mean_sd(gc),
                *(mean_sd(values_of(results, task.name, m, metric.key)) for m in families),
                metric.reference,
                target_text,
                "—"
                if target is None
                else verdict(results, task.name, metric.key, families, target),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def timing_table(results: list[dict], families: list[str]) -> list[str]:
    """Markdown lines: per task and family, mean seconds per run, epochs run and seconds per
    epoch."""
    lines = ["| task | " + " | ".join(families) + " |", "|---|" + "---|" * len(families)]
    for task in dict.fromkeys(r["task"] for r in results):
        cells = []
        for model in families:
            runs = [r for r in results if r["task"] == task and r["model"] == model]
            cells.append(
                "—"
                if not runs
                else f"{np.mean([r['seconds'] for r in runs]):.0f} s "
                f"({np.mean([r['epochs'] for r in runs]):.0f} "
                f"epochs × {np.mean([r['seconds_per_epoch'] for r in runs]):.1f} s)"
            )
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines


def duplicates_table(tasks: dict[str, TaskSpec], results: list[dict]) -> list[str]:
    """Markdown lines: per task, its test records that are also in its training data (from the
    lowest seed's GC cell, which counts them: `split_duplicates`)."""
    lines = [
        "| task | test records | also in training | left out of the scores | sequences under two "
        "classes (training data) | strands compared |",
        "|---|---|---|---|---|---|",
    ]
    for name in tasks:
        cells = sorted(
            (r for r in results if r["task"] == name and r["model"] == GC and "duplicates" in r),
            key=lambda r: r["seed"],
        )
        if not cells:
            continue
        counts = cells[0]["duplicates"]
        share = f" ({counts['in_training'] / counts['test']:.1%})" if counts["test"] else ""
        lines.append(
            f"| {name} | {counts['test']:,} | {counts['in_training']:,}{share} | "
            f"{counts['removed']:,} | {counts['across_classes']:,} | "
            f"{'both' if counts['both_strands'] else 'forward'} |"
        )
    return lines if len(lines) > 2 else []


def duplicates_section(tasks: dict[str, TaskSpec], results: list[dict]) -> list[str]:
    """The page's section on duplicates across splits ([] when no cell counted them)."""
    table = duplicates_table(tasks, results)
    if not table:
        return []
    return [
        "## Duplicates across splits (seed 0)",
        "",
        "Test records whose exact sequence (either strand where the run averages strands) is "
        "also in the training data. Internal splits leave them out of the test part, as "
        "`dnanet train` does by default; fixed test files are scored whole, as the published "
        "references were.",
        "",
        *table,
        "",
    ]


def render(path: Path, tasks: dict[str, TaskSpec], results: list[dict], meta: dict) -> str:
    """Write the Markdown page from all results in the JSON; return it."""
    order = list(MODELS)
    families = sorted(
        {r["model"] for r in results} - {GC},
        key=lambda m: (
            order.index(family_of(m)) if family_of(m) in order else len(order),
            m != family_of(m),
        ),
    )
    cell_seconds = sum(r["seconds"] for r in results)
    lines = ["# dnanet benchmark", ""]
    if meta["quick"]:
        lines += [
            f"> **Quick smoke run** (1 seed, at most {QUICK_EPOCHS} epochs): not benchmark "
            "results.",
            "",
        ]
    default_seeds = {r["seed"] for r in results if r["model"] in families and "tuned" not in r}
    tuned_seeds = {r["seed"] for r in results if "tuned" in r}
    lines += [
        f"Each model family with its shipped config, {len(default_seeds) or meta['seeds']} "
        "seed(s) per cell"
        + (
            f"; `+tuned` columns: searched with {meta['tuned_trials']} trials per cell, "
            f"seed(s) {', '.join(map(str, sorted(tuned_seeds)))} (see Tuned columns). "
            if meta.get("tuned_trials") and tuned_seeds
            else ". "
        )
        + "Generated by `scripts/benchmark.py`; raw per-seed results in "
        f"`{path.with_suffix('.json').name}`.",
        "",
        *results_table(tasks, results, families),
        "",
        *duplicates_section(tasks, results),
        "## Time per run (mean over seeds: seconds, epochs run × seconds per epoch)",
        "",
        *timing_table([r for r in results if r["model"] != GC], families),
        "",
        *tuning_lines(results, families),
        *ensemble_lines(results, families),
        *bayes_lines(tasks, results, families, values_of),
        "## Run",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}; {meta.get('jobs', 1)} parallel job(s) × {meta['threads']} "
        f"torch thread(s); device: {meta['device']}",
        f"- torch {meta['torch']}, dnanet {meta['dnanet']}",
        "- invocations (a later one with `--resume` keeps the cells of those before):",
        *(
            f"  - {run['date'][:16].replace('T', ' ')}: `{run['command']}`"
            + (f" ({run['note']})" if run.get("note") else "")
            + f": {run['cells']} cell(s), {run['wall_seconds'] / 60:.1f} min"
            for run in meta["invocations"]
        ),
        f"- sum of all cells' times: {cell_seconds / 60:.1f} min",
        "",
        NOTES,
        "",
    ]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


_WORKER: dict = {}  # per process: the settings from init_worker and a cache of loaded tasks


def init_worker(
    data: Path, quick: bool, device: str, threads: int, tuned_trials: int = DEFAULT_TRIALS
) -> None:
    """Set up a process that runs cells: its settings and torch thread count."""
    torch.set_num_threads(threads)
    _WORKER.update(
        tasks=all_tasks(data),
        quick=quick,
        device=torch.device(device),
        loaded={},
        tuned_trials=tuned_trials,
    )


def run_cell(name: str, model: str, seed: int) -> dict:
    """Run one (task, model, seed) cell in this process; the result as stored in the JSON."""
    loaded = _WORKER["loaded"]
    if name not in loaded:
        loaded.clear()  # keep one task's sequences in memory at a time
        loaded[name] = load_task(_WORKER["tasks"][name])
    start = time.perf_counter()
    if model == GC:
        cell = run_gc(loaded[name], seed)
    elif folds_of(model):
        quick_epochs = QUICK_EPOCHS if _WORKER["quick"] else None
        cell = run_ensemble(
            loaded[name], model, seed, quick_epochs, _WORKER["device"], test_batches, summarise
        )
    elif model != family_of(model):
        cell = run_tuned(
            loaded[name],
            model,
            seed,
            _WORKER["quick"],
            QUICK_EPOCHS,
            _WORKER["tuned_trials"],
            _WORKER["device"],
            run_model,
        )
    else:
        cell = run_model(loaded[name], model, seed, _WORKER["quick"], _WORKER["device"])
    return {
        "task": name,
        "model": model,
        "seed": seed,
        **cell,
        "seconds": round(time.perf_counter() - start, 2),
    }


def missing_cells(args: argparse.Namespace, results: list[dict]) -> list[tuple[str, str, int]]:
    """The (task, model, seed) cells not in `results`, task by task (with --jobs > 1 the slowest
    families first, so parallel workers finish together)."""
    done = {(r["task"], r["model"], r["seed"]) for r in results}
    families = [
        *args.models,
        *(tuned_name(name) for name in args.models if args.tuned),
        *(ensemble_name(name, args.folds) for name in args.models if args.folds),
    ]
    models = [GC, *families] if args.jobs == 1 else [GC, *reversed(families)]
    return [
        (name, model, seed)
        for name in args.tasks
        for model in models
        for seed in range(args.seeds)
        if (name, model, seed) not in done
    ]


def run_cells(
    args: argparse.Namespace, results: list[dict], meta: dict, start: float, json_path: Path
) -> None:
    """Run every missing cell (in `args.jobs` processes of `args.threads` torch threads each),
    saving each result as soon as it is done."""

    def finished(cell: dict) -> None:
        results.append(cell)
        meta["wall_seconds"] = time.perf_counter() - start
        this_run = meta["invocations"][-1]
        this_run["cells"], this_run["wall_seconds"] = this_run["cells"] + 1, meta["wall_seconds"]
        save_results(json_path, meta, results)
        print_cell(cell)

    settings = (args.data, args.quick, meta["device"], args.threads, args.tuned_trials)
    cells = missing_cells(args, results)
    if args.jobs == 1:
        init_worker(*settings)
        for cell in cells:
            finished(run_cell(*cell))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        args.jobs, mp_context=context, initializer=init_worker, initargs=settings
    ) as pool:
        for future in as_completed([pool.submit(run_cell, *cell) for cell in cells]):
            finished(future.result())


def print_cell(cell: dict) -> None:
    """One line per finished cell: its scores and timing."""
    scores = "  ".join(
        f"{key} {cell['metrics'][key]:.3f}"
        for key in ("auroc", "accuracy")
        if cell["metrics"][key] is not None
    )
    epochs = (
        f"  ({cell['epochs']} epochs, {cell['seconds_per_epoch']:.1f} s/epoch)"
        if "epochs" in cell
        else ""
    )
    print(
        f"{cell['task']:16} {cell['model']:12} seed {cell['seed']}  {scores}  "
        f"{cell['seconds']:7.1f} s{epochs}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    tasks, json_path = all_tasks(args.data), args.out.with_suffix(".json")
    results, invocations = load_results(json_path, args.resume, args.quick)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "threads": args.threads,
        "jobs": args.jobs,
        "device": str(device),
        "torch": torch.__version__,
        "dnanet": dnanet.__version__,
        "command": shlex.join(["python", *sys.argv]),
        "quick": args.quick,
        "seeds": args.seeds,
        # a resumed run without --tuned keeps the tuned cells it found, and says their budget
        "tuned_trials": args.tuned_trials
        if args.tuned
        else max((r["tuned"]["trials"] for r in results if "tuned" in r), default=None),
        "wall_seconds": 0.0,
    }
    this_run = {"date": meta["date"], "command": meta["command"], "cells": 0, "wall_seconds": 0.0}
    meta["invocations"] = [*invocations, this_run]
    start = time.perf_counter()
    try:
        run_cells(args, results, meta, start, json_path)
    except DnanetError as error:
        sys.exit(f"benchmark: {error}")
    except KeyboardInterrupt:
        print(
            f"interrupted: finished cells are in {json_path}; rerun with --resume", file=sys.stderr
        )
        sys.exit(130)
    finally:
        meta["wall_seconds"] = time.perf_counter() - start
        meta["invocations"][-1]["wall_seconds"] = meta["wall_seconds"]
        if not meta["invocations"][-1]["cells"]:  # nothing ran: the page is only redrawn
            meta["invocations"].pop()
        if results:
            print(render(args.out, tasks, results, meta))
        print(
            f"total wall time: {meta['wall_seconds'] / 60:.1f} min ({meta['wall_seconds']:.0f} s)"
        )


if __name__ == "__main__":
    main()
