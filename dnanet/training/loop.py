"""The training loop: AdamW, warm-up + cosine schedule, early stopping on validation loss.

`fit` is a plain loop over a DataLoader, ready for torch.distributed: pass a DataLoader built
with a ``DistributedSampler`` (its epoch is set each pass) and no monitor on ranks other than 0;
nothing here writes files or prints: progress goes to a `TrainingMonitor` (the CLI's shows a
progress bar on a terminal and one plain line per epoch in a batch-job log).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from dnanet.config.run_config import TrainConfig
from dnanet.data.tasks import Task
from dnanet.inference.predict import Rows, predict_batch
from dnanet.inputs.encode import reverse_complement
from dnanet.runtime.precision import Precision, precision_for
from dnanet.training.checkpoint import Checkpoint, FitProgress
from dnanet.training.metrics import HEADLINE, task_metrics
from dnanet.training.signal_metrics import ProfileScores


class TrainingMonitor:
    """What training reports as it goes; this base class reports nothing. Override what you show.

    Order of calls: ``started`` once (the resolved settings, from `dnanet.training.experiment`),
    ``duplicates_counted`` once, then per
    epoch ``epoch_started``, ``step_done`` after each optimiser step and ``epoch_done``; then
    ``stopped_early`` if early stopping ended the run, and ``finished`` last.
    """

    def started(self, settings: dict) -> None:
        """`settings`: model, encoder, task, epochs, batch size, lr, device, precision, threads,
        split sizes, strand."""

    def duplicates_counted(self, counts: dict) -> None:
        """Duplicate sequences within and across classes and parts, and how many held-out records
        were left out for it (`dnanet.data.leakage.leakage`)."""

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        """Epoch `epoch` of at most `epochs` begins; it has `steps` optimiser steps."""

    def step_done(self) -> None:
        """One optimiser step is done."""

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        """An epoch's history record (see `fit`) and the best epoch so far (lowest validation
        loss)."""

    def stopped_early(self, epoch: int, best_epoch: int, patience: int) -> None:
        """No lower validation loss for `patience` epochs: training stops after `epoch`, keeping
        `best_epoch`."""

    def finished(self) -> None:
        """Training is over, or was interrupted (an exception is on its way)."""


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: TrainConfig,
    task: Task,
    seed: int = 0,
    class_weights: torch.Tensor | None = None,
    monitor: TrainingMonitor | None = None,
    checkpoint: Checkpoint | None = None,
) -> list[dict]:
    """Train `model` in place; keep the weights of the epoch with the lowest validation loss.

    Returns one record per epoch: epoch, train_loss, val_loss, the task's headline validation
    metrics (val_accuracy and val_auroc, or val_pearson and val_mse), lr, seconds. With a
    `checkpoint` (`dnanet.training.checkpoint`), training starts from it when it exists and saves it
    after every epoch: a resumed run ends with the same weights as one that was never stopped (on
    the CPU; GPU kernels need not be deterministic). ``config.precision`` picks the arithmetic
    (`dnanet.runtime.precision`): float32 on the CPU, mixed precision on CUDA (fp16 with a loss
    scaler, whose state the checkpoint keeps).
    """
    monitor = monitor or TrainingMonitor()
    core = getattr(
        model, "module", model
    )  # under DistributedDataParallel: the wrapped model; states use it
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, len(train_loader)))
    precision = precision_for(device, config.precision)
    scaler = precision.grad_scaler()
    weights = None if class_weights is None else class_weights.to(device)
    flips = torch.Generator().manual_seed(seed + 1)
    generators = {
        "default": torch.default_generator,
        "flips": flips,
        "order": train_loader.generator,
    }
    if device.type == "cuda":
        generators["cuda"] = torch.cuda.default_generators[device.index or 0]
    if checkpoint is not None and checkpoint.exists():
        progress = checkpoint.restore(core, optimizer, scheduler, generators, scaler)
    else:
        progress = FitProgress(best_state=copy.deepcopy(core.state_dict()))
    try:
        for epoch in range(progress.epoch + 1, config.epochs + 1):
            if progress.stale >= config.patience:
                break  # resumed after the epoch that ended the run
            record = _train_epoch(
                model,
                train_loader,
                val_loader,
                config,
                task,
                epoch,
                optimizer,
                scheduler,
                weights,
                flips,
                monitor,
                precision,
                scaler,
            )
            progress.history.append(record)
            progress.epoch = epoch
            if record["val_loss"] < progress.best_loss - 1e-6:
                progress.best_loss, progress.best_epoch, progress.stale = (
                    record["val_loss"],
                    epoch,
                    0,
                )
                progress.best_state = copy.deepcopy(core.state_dict())
            else:
                progress.stale += 1
            if checkpoint is not None:
                checkpoint.save(progress, core, optimizer, scheduler, generators, scaler)
            monitor.epoch_done(record, progress.best_epoch)
            if progress.stale >= config.patience and epoch < config.epochs:
                monitor.stopped_early(epoch, progress.best_epoch, config.patience)
                break
    finally:
        monitor.finished()  # also when interrupted: a progress display is closed
    core.load_state_dict(progress.best_state)
    return progress.history


def _train_epoch(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: TrainConfig,
    task: Task,
    epoch: int,
    optimizer,
    scheduler,
    weights,
    flips: torch.Generator,
    monitor: TrainingMonitor,
    precision: Precision,
    scaler: torch.amp.GradScaler,
) -> dict:
    """One pass over the training data, then validation: the epoch's history record.

    The forward pass and the loss run under `precision`'s autocast; the backward pass goes
    through `scaler` (fp16's loss scaling; disabled, it is a plain backward and optimiser step).
    """
    start = time.perf_counter()
    device = next(model.parameters()).device
    if hasattr(train_loader.sampler, "set_epoch"):
        train_loader.sampler.set_epoch(epoch)
    monitor.epoch_started(epoch, config.epochs, len(train_loader))
    model.train()
    losses = []
    for batch in train_loader:
        codes, targets, control = batch["codes"], batch["targets"], batch.get("control")
        if config.reverse_complement:
            codes, targets, control = _random_strand(
                codes, targets, control, batch["lengths"], flips, task
            )
        inputs = [codes] if control is None else [codes, control]
        with precision.autocast():
            loss = task.loss(
                model(*(part.to(device, non_blocking=True) for part in inputs)),
                targets.to(device, non_blocking=True),
                weights,
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # fp16: skipped when the scaled gradients overflowed
        scaler.update()
        scheduler.step()
        losses.append(loss.item())
        monitor.step_done()
    return {
        "epoch": epoch,
        "train_loss": float(np.mean(losses)),
        **_validate(model, val_loader, config.reverse_complement, task, precision),
        "lr": optimizer.param_groups[0]["lr"],
        "seconds": round(time.perf_counter() - start, 3),
    }


def _schedule(config: TrainConfig, steps_per_epoch: int):
    """Learning-rate multiplier per optimiser step: linear warm-up, then cosine decay or
    constant."""
    warmup = max(1, config.warmup_epochs * steps_per_epoch)
    total = max(warmup + 1, config.epochs * steps_per_epoch)

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    return multiplier


def _random_strand(
    codes: torch.Tensor,
    targets: torch.Tensor,
    control: torch.Tensor | None,
    lengths: torch.Tensor,
    generator: torch.Generator,
    task: Task,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Replace a random half of the sequences (B, L) by their reverse complements, and their
    targets and control input by what the other strand sees (profiles reversed: `Task.flip`)."""
    flip = torch.rand(len(codes), generator=generator) < 0.5
    codes = torch.where(flip[:, None], reverse_complement(codes, lengths), codes)
    if task.kind == "profile":
        targets = torch.where(flip[:, None], task.flip(targets), targets)
        if control is not None:  # (B, C, W): log control reads per output base
            control = torch.where(flip[:, None, None], control.flip(-1), control)
    return codes, targets, control


def score_profiles(
    model: nn.Module, loader: DataLoader, rc_average: bool, task: Task, precision: Precision
) -> ProfileScores:
    """A profile task's windows of `loader` scored a batch at a time: its outputs never all in
    memory (`dnanet.training.signal_metrics.ProfileScores`)."""
    scores = ProfileScores(task)
    for outputs, targets in _outputs(model, loader, rc_average, task, precision):
        scores.add(outputs, targets)
    return scores


def _outputs(model: nn.Module, loader: DataLoader, rc_average: bool, task: Task, precision):
    """(activated outputs ``(B, C)``, targets) of each batch of `loader`, in order."""
    for batch in loader:
        outputs = predict_batch(
            model,
            batch["codes"],
            batch["lengths"],
            rc_average,
            activate=task.activate,
            precision=precision,
            control=batch.get("control"),
        )
        yield outputs, batch["targets"]


def _validate(
    model: nn.Module, loader: DataLoader, rc_average: bool, task: Task, precision: Precision
) -> dict:
    if task.kind == "profile":
        scores = score_profiles(model, loader, rc_average, task, precision)
        metrics = scores.metrics()
        return {
            "val_loss": float(scores["loss"].mean()),
            **{f"val_{key}": metrics[key] for key in HEADLINE[task.kind]},
        }
    outputs, targets = Rows(len(loader.dataset)), Rows(len(loader.dataset))
    for batch_outputs, batch_targets in _outputs(model, loader, rc_average, task, precision):
        outputs.add(batch_outputs.numpy())
        targets.add(batch_targets.numpy())
    outputs_all = torch.from_numpy(outputs.result())
    targets_all = torch.from_numpy(targets.result())
    scores = task_metrics(task, targets_all.numpy(), outputs_all.numpy())
    return {
        "val_loss": task.output_loss(outputs_all, targets_all),
        **{f"val_{key}": scores[key] for key in HEADLINE[task.kind]},
    }


def balancing_weights(task: Task, targets: np.ndarray) -> torch.Tensor | None:
    """Loss weights ``(C,)`` that balance rare classes or labels (None for regression).

    Classification: proportional to 1 / class frequency, averaging 1 over samples. Multilabel:
    each label's negatives / positives (BCE ``pos_weight``).
    """
    if task.is_classification:
        counts = np.bincount(targets, minlength=task.n_outputs).astype(np.float64)
        weights = len(targets) / (task.n_outputs * np.maximum(counts, 1))
    elif task.kind == "multilabel":
        positives = targets.sum(0)
        weights = (len(targets) - positives) / np.maximum(positives, 1)
    else:
        return None
    return torch.tensor(weights, dtype=torch.float32)
