"""One training run end to end: split (and remove leaked duplicates), build the model, fit,
score the test split, describe.

`train_model` returns everything a run folder holds; `write_run` writes it atomically. The
CLI's `train` command is these two calls.
"""

from __future__ import annotations

import csv
import dataclasses
import multiprocessing
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from dnanet.config.run_config import Config, TrainConfig
from dnanet.data.folds import fold_split
from dnanet.data.leakage import leakage
from dnanet.data.loaders import code_batches, make_loader
from dnanet.data.sets import SequenceSet
from dnanet.data.signal import training_targets
from dnanet.data.splits import Split, make_split
from dnanet.data.strand import strand_test
from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.inference.calibration import (
    CALIBRATION_FILE,
    Calibration,
    fit_calibration,
    write_calibration,
)
from dnanet.inference.predict import predict
from dnanet.models import build_task_model
from dnanet.runs.check_file import CheckRecords, write_check_file
from dnanet.runs.save import save_model, write_json
from dnanet.runtime.distributed import Processes, per_process_batch
from dnanet.runtime.precision import precision_for
from dnanet.training.check_records import check_records
from dnanet.training.checkpoint import Checkpoint
from dnanet.training.learning_check import check_learning, check_losses, collapsed_answer
from dnanet.training.loop import TrainingMonitor, balancing_weights, fit, score_profiles
from dnanet.training.metrics import task_metrics
from dnanet.training.signal_metrics import ProfileScores
from dnanet.version import __version__

STRAND_SAMPLE = 50_000  # most training records the strand test reads
INFERENCE_BATCH = 256  # validation and test batches (at least train.batch_size; capped by bases)


@dataclass
class TrainingResult:
    """A trained model, its per-epoch history, test-split metrics and its model.json description;
    the test split's targets and ``activate``d outputs ``(N, C)`` that the metrics score (for the
    report's figures, `dnanet.report.page`); the validation part's, and the calibration fitted on
    them (`dnanet.inference.calibration`: temperature and conformal scores, calibration.json)."""

    model: nn.Module
    history: list[dict]
    test_metrics: dict
    description: dict
    test_targets: np.ndarray | None = None
    test_outputs: np.ndarray | None = None
    test_indices: np.ndarray | None = None  # the test records (indices into the read set)
    validation_indices: np.ndarray | None = None
    validation_targets: np.ndarray | None = None  # a profile run's: None
    validation_outputs: np.ndarray | None = None
    calibration: Calibration | None = None  # fitted on the validation part; a profile run: None
    check: CheckRecords | None = None  # check.safetensors (`dnanet.training.check_records`)


def model_arguments_of(config: Config) -> dict:
    """Constructor arguments for the config's model, the encoder's included (name excluded)."""
    encoder = config.encoder
    own = {key: value for key, value in config.model.items() if key != "name"}
    return {"encoder": encoder.name, "k": encoder.k, "stride": encoder.stride, **own}


@dataclass
class PreparedSplit:
    """The parts a run trains, validates and tests on, the train config with the strand settled,
    and what model.json keeps about them (``strand``, ``duplicates``:
    `dnanet.data.leakage.leakage`)."""

    split: Split
    train_config: TrainConfig
    strand: dict
    duplicates: dict


def prepare_split(
    config: Config,
    sequences: SequenceSet,
    task: Task,
    parts: np.ndarray | None = None,
    where: Callable[[int], str] | None = None,
) -> PreparedSplit:
    """Split `sequences` as ``config.data`` says (`dnanet.data.splits.make_split`; `parts` int8
    ``(N,)`` marks the records of fixed validation and test inputs, `where(i)` names record i's file
    and line), settle ``reverse_complement: auto`` on the training part, then count duplicate
    sequences (on both strands when the run averages them) and, unless
    ``data.keep_duplicates``, leave held-out records already seen in an earlier part out. A
    member of a K-fold ensemble (``data.folds``) validates on its fold (`dnanet.data.folds`)."""
    strata = sequences.targets if task.is_classification else None
    split = make_split(config.data, sequences.ids, config.seed, strata, parts, where)
    if config.data.folds > 1:  # an ensemble's member: its fold validates
        split = fold_split(split, config.data, sequences.ids, config.seed, strata)
    train_config, strand = resolve_strand(config.train, sequences, split.train, task, config.seed)
    split, duplicates = leakage(
        sequences, split, bool(train_config.reverse_complement), config.data.keep_duplicates
    )
    return PreparedSplit(split, train_config, strand, duplicates)


def train_model(
    config: Config,
    sequences: SequenceSet,
    task: Task,
    inputs: list[dict],
    device: torch.device,
    monitor: TrainingMonitor | None = None,
    checkpoint: Checkpoint | None = None,
    processes: Processes = Processes(),
    parts: np.ndarray | None = None,
    where: Callable[[int], str] | None = None,
    score_test: bool = True,
) -> TrainingResult:
    """Split `sequences` (`prepare_split`: random, seeded and stratified by class for
    classification, or by chromosome, or fixed by `parts`; duplicates counted and held-out ones
    removed), train the configured model for `task`, and score the test split. `monitor` hears the
    resolved settings, the duplicate counts and the training's progress
    (`dnanet.training.loop.TrainingMonitor`); with a `checkpoint`, training saves its state after
    every epoch and resumes from it when it exists (`dnanet.training.checkpoint`). Under
    torchrun (`processes`, `dnanet.runtime.distributed`) every process trains a
    DistributedDataParallel copy on its shard of each epoch, with train.batch_size as the global
    batch. On CUDA, mixed precision (``train.precision``, `dnanet.runtime.precision`), pinned
    batches and loader workers (`loader_settings`). ``score_test=False`` leaves the test split
    unscored (``test_metrics`` empty): a hyperparameter search (`dnanet.tune.study`) selects on
    validation only and must not look."""
    precision = precision_for(
        device, config.train.precision
    )  # an impossible setting fails before any work
    loading = loader_settings(device, processes)
    prepared = prepare_split(config, sequences, task, parts, where)
    split = prepared.split
    train_idx, val_idx, test_idx = split.train, split.validation, split.test
    train_targets = training_targets(sequences.targets, train_idx)  # a profile's: read lazily
    task = task.with_statistics(train_targets)
    torch.manual_seed(config.seed)
    arguments = model_arguments_of(config)
    try:
        model = build_task_model(config.model["name"], task, arguments)
        if task.kind == "profile":
            model.start_counts_at(task.prior[: len(task.names)])
        model = model.to(device)
    except ValueError as error:  # an argument combination the model rejects, e.g. d_model vs heads
        raise DnanetError(f"model settings: {error}") from None
    batch_size, seed = config.train.batch_size, config.seed
    train_config, strand = prepared.train_config, prepared.strand
    if processes.distributed:
        shards = DistributedSampler(
            train_idx, processes.world_size, processes.rank, shuffle=True, seed=seed
        )
        train_loader = make_loader(
            sequences,
            per_process_batch(batch_size, processes),
            train_idx,
            sampler=shards,
            **loading,
        )
        trained = DistributedDataParallel(
            model,
            device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=task.kind == "profile",  # the trunk's own head serves embed only
        )
    else:
        train_loader = make_loader(
            sequences,
            batch_size,
            train_idx,
            shuffle=True,
            seed=seed,
            steps=config.train.steps_per_epoch,
            **loading,
        )
        trained = model
    inference_batch = max(batch_size, INFERENCE_BATCH)
    val_loader = make_loader(sequences, inference_batch, val_idx, **loading)
    weights = (
        balancing_weights(task, train_targets)
        if config.train.class_weights and task.kind != "profile"
        else None
    )
    if monitor is not None:
        monitor.started(run_settings(config, task, device, strand, split))
        monitor.duplicates_counted(prepared.duplicates)
    history = fit(
        trained, train_loader, val_loader, train_config, task, seed, weights, monitor, checkpoint
    )
    rc_average = train_config.reverse_complement

    def outputs_of(indices: np.ndarray) -> np.ndarray:
        return predict(
            model,
            code_batches(sequences, inference_batch, indices, **loading),
            rc_average,
            activate=task.activate,
            precision=precision,
            capacity=len(indices),
        )

    def profile_scores(indices: np.ndarray) -> ProfileScores:
        loader = make_loader(sequences, inference_batch, indices, **loading)
        return score_profiles(model, loader, rc_average, task, precision)

    validation_outputs = validation_targets = calibration = None  # a profile run keeps none
    if task.kind == "profile":  # scored a batch at a time: held-out profiles never all in memory
        scores = profile_scores(val_idx)
        same = collapsed_answer(task, torch.from_numpy(scores["predicted"]))
        learning = check_losses(task, scores["loss"], scores["prior_loss"], same)
    else:
        validation_outputs, validation_targets = outputs_of(val_idx), sequences.targets[val_idx]
        learning = check_learning(
            task,
            train_targets,
            torch.from_numpy(validation_outputs),
            torch.from_numpy(validation_targets),
        )
        calibration = fit_calibration(task, validation_outputs, validation_targets)
    test_metrics: dict = {}
    test_targets = test_outputs = None
    if score_test and task.kind == "profile":
        scores = profile_scores(test_idx)
        test_metrics = scores.metrics()  # the report draws the first windows' whole rows:
        test_targets, test_outputs = scores["sample_targets"], scores["sample_outputs"]
    elif score_test:
        test_targets, test_outputs = sequences.targets[test_idx], outputs_of(test_idx)
        test_metrics = task_metrics(task, test_targets, test_outputs)
    if score_test:
        test_metrics.update(
            learned=learning.learned,
            learning=learning.to_dict(),
            duplicates_removed=prepared.duplicates["removed"]["test"],
        )
    description = {
        "model": {"name": config.model["name"], "arguments": arguments},
        "task": task.to_dict(),
        "classes": task.names,
        "encoder": {
            "name": config.encoder.name,
            "k": config.encoder.k,
            "stride": config.encoder.stride,
        },
        "reverse_complement_average": rc_average,
        "strand": strand,
        "config": config.to_dict(),
        "inputs": inputs,
        "training_lengths": length_range(sequences.lengths[train_idx]),
        "split": split.describe(),
        "duplicates": prepared.duplicates,
        **({"signal": sequences.provenance} if getattr(sequences, "provenance", None) else {}),
        "best_epoch": int(np.argmin([h["val_loss"] for h in history])) + 1,
        "learned": learning.learned,
        "learning": learning.to_dict(),
        "versions": {
            "dnanet": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return TrainingResult(
        model,
        history,
        test_metrics,
        description,
        test_targets,
        test_outputs,
        test_idx,
        val_idx,
        validation_targets,
        validation_outputs,
        calibration,
        check_records(
            model,
            config.model["name"],
            arguments,
            task,
            sequences,
            {"test": test_idx, "train": train_idx},
            rc_average,
        ),
    )


def length_range(lengths: np.ndarray) -> dict[str, int]:
    """model.json's ``training_lengths``: the shortest and longest training record (bases), so a
    run trained on records of one length knows its window (tracks, variants) and inference can
    say when a record is outside what the model saw (`dnanet.inference.lengths`)."""
    return {"min": int(lengths.min()), "max": int(lengths.max())}


def run_settings(
    config: Config, task: Task, device: torch.device, strand: dict, split: Split
) -> dict:
    """The resolved settings of a run, for the start of its log (`TrainingMonitor.started`)."""
    encoder = config.encoder
    return {
        "model": config.model["name"],
        "encoder": encoder.name
        + (f" (k {encoder.k}, stride {encoder.stride})" if encoder.name == "kmer" else ""),
        "task": f"{task.kind} ({', '.join(task.names[:8])}{', ...' if task.n_outputs > 8 else ''})",
        "epochs": config.train.epochs,
        "batch size": config.train.batch_size,
        "lr": config.train.lr,
        "seed": config.seed,
        "device": str(device),
        "precision": precision_for(device, config.train.precision).name,
        "threads": torch.get_num_threads(),
        "split": split_text(split),
        "reverse complement": ("on" if strand["reverse_complement"] else "off")
        + (f" (auto: the data look {strand['verdict']})" if strand["setting"] == "auto" else ""),
    }


def split_text(split: Split) -> str:
    """'1,200 train / 150 validation (chr10) / 300 test (fixed)': sizes, then how the held-out
    parts were chosen when not at random."""

    def how(name: str) -> str:
        if name in split.fixed:
            return " (fixed)"
        if split.chromosomes is not None and name != "train":
            return f" ({', '.join(split.chromosomes[name])})"
        return ""

    sizes = split.sizes()
    return " / ".join(
        f"{sizes[name]:,} {name}{how(name)}" for name in ("train", "validation", "test")
    )


MAX_WORKERS = (
    4  # loader workers per training process on a GPU: enough to keep up with cutting and padding
)


def loader_settings(device: torch.device, processes: Processes = Processes()) -> dict:
    """`make_loader`'s host-side options for `device`. CUDA: pinned memory and up to
    `MAX_WORKERS` forked loader workers per process (this machine's cores shared among torchrun's
    processes; none where fork does not exist). CPU: neither; the training process cuts the
    batches itself, so CPU results stay as they were and no core is taken from the model."""
    if device.type != "cuda":
        return {}
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    fork = "fork" in multiprocessing.get_all_start_methods()
    return {
        "pin_memory": True,
        "workers": min(MAX_WORKERS, cores // processes.world_size) if fork else 0,
    }


def resolve_strand(
    train: TrainConfig, sequences: SequenceSet, train_idx: np.ndarray, task: Task, seed: int
) -> tuple[TrainConfig, dict]:
    """Settle ``reverse_complement: auto`` on the training split (`dnanet.data.strand`): on for
    strand-symmetric data, off for strand-specific data. Returns the train config with a plain
    bool and the record kept in model.json (``strand``). A training split of more than
    `STRAND_SAMPLE` records is tested on a seeded sample of that many (millions of bases already
    settle the test; its threshold allows for sampling noise)."""
    if train.reverse_complement != "auto":
        return train, {
            "reverse_complement": train.reverse_complement,
            "setting": train.reverse_complement,
        }
    if len(train_idx) > STRAND_SAMPLE:
        train_idx = np.sort(
            np.random.default_rng(seed).choice(train_idx, STRAND_SAMPLE, replace=False)
        )
    test = strand_test(sequences.subset(train_idx), by_class=task.is_classification)
    record = {
        "reverse_complement": not test.oriented,
        "setting": "auto",
        "excess_skew": test.excess_skew,
        "verdict": test.describe(),
    }
    return dataclasses.replace(train, reverse_complement=not test.oriented), record


def write_run(folder: Path, result: TrainingResult) -> None:
    """Write the run's files (model.safetensors, model.json, metrics.json, history.csv,
    check.safetensors, and calibration.json but for a profile run) into `folder`, a fresh
    temporary that the caller swaps into place (`dnanet.files.outputs.Output.writing`)."""
    save_model(folder, result.model, result.description)
    write_json(folder / "metrics.json", result.test_metrics)
    if result.calibration is not None:
        write_calibration(folder / CALIBRATION_FILE, result.calibration)
    if result.test_outputs is not None and result.description["task"]["kind"] != "profile":
        write_held_out_outputs(folder, result)
    if result.check is not None:
        write_check_file(folder, result.check)
    with open(folder / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(result.history[0]))
        writer.writeheader()
        writer.writerows(result.history)


HELD_OUT_OUTPUTS = "held_out_outputs.safetensors"


def write_held_out_outputs(folder: Path, result: TrainingResult) -> None:
    """``held_out_outputs.safetensors``: per held-out part (``test``, ``validation``) its record
    indices int64 ``(N,)`` (in the order the inputs were read), targets ``(N,)`` or ``(N, T)`` and
    activated outputs float32 ``(N, C)``: what the test metrics and the calibration scored. An
    ensemble (`dnanet.training.folds`) averages its members' test outputs and calibrates on their
    validation outputs, each scored by the one member that did not train on it."""
    from safetensors.numpy import save_file

    arrays = {}
    for part in ("test", "validation"):
        outputs = getattr(result, f"{part}_outputs")
        if outputs is None:
            continue
        arrays[f"{part}_indices"] = np.ascontiguousarray(
            getattr(result, f"{part}_indices"), np.int64
        )
        arrays[f"{part}_targets"] = np.ascontiguousarray(getattr(result, f"{part}_targets"))
        arrays[f"{part}_outputs"] = np.ascontiguousarray(outputs, dtype=np.float32)
    save_file(arrays, str(folder / HELD_OUT_OUTPUTS))
