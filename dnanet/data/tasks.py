"""Task types: what a label is, how it becomes a target tensor, the loss, and the outputs.

Per kind: labels; targets; outputs (``activate``); loss.

- binary, multiclass: one class per record; int64 ``(N,)`` class index; softmax probabilities
  ``(N, C)``; cross-entropy.
- multilabel: several per record (label columns of 0/1, or ``a;b`` in one column); float32
  ``(N, C)`` of 0/1; sigmoid probabilities ``(N, C)``; binary cross-entropy.
- regression: one number per label column; float32 ``(N, T)``; values ``(N, T)`` in the data's
  units; mean squared error on standardised targets.

- counts (signal): one log(1 + reads) per window and coverage track (`dnanet.data.signal`);
  float32 ``(N, T)``; the predicted log(1 + reads) ``(N, T)``; standardised mean squared error,
  as regression.
- profile (signal): flat rows ``(N, T + T*W)`` of log(1 + total reads) per track and the reads at
  each of the W output bases; the predicted log totals and per-base probabilities; BPNet's
  multinomial + lambda x log-counts loss, or Poisson (`dnanet.data.signal_task`).

Regression and counts targets are standardised with the training split's mean and standard
deviation (stored in model.json), so one learning rate suits any unit; outputs are put back in the
units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from dnanet.data import signal_task
from dnanet.errors import DnanetError

KINDS = ("binary", "multiclass", "multilabel", "regression", "counts", "profile")
CLASSIFICATION = ("binary", "multiclass")
REGRESSION = ("regression", "counts")  # one standardised number per output, mean squared error
SIGNAL = ("counts", "profile")  # targets made from coverage tracks (--signal), not labels


@dataclass(frozen=True)
class Task:
    """A task kind and its output names (classes, labels or regression targets)."""

    kind: str
    names: list[str]
    mean: list[float] = field(
        default_factory=list
    )  # regression: per-target mean of the training split
    std: list[float] = field(default_factory=list)  # regression: per-target standard deviation
    width: int = 0  # profile: output bases per track
    profile_loss: str = "multinomial"  # profile: multinomial (+ lambda x log counts) or poisson
    counts_weight: float = 0.0  # profile: lambda; 0 until set from the training windows
    prior: list[float] = field(default_factory=list)  # profile: the training windows' mean row
    controls: list[str] = field(default_factory=list)  # signal: control tracks (model inputs)

    @property
    def n_outputs(self) -> int:
        """Outputs per record: one per name, or for a profile task T totals + T x W bases."""
        return len(self.names) * (1 + self.width) if self.kind == "profile" else len(self.names)

    @property
    def is_classification(self) -> bool:
        return self.kind in CLASSIFICATION

    @property
    def is_regression(self) -> bool:
        return self.kind in REGRESSION

    @property
    def is_signal(self) -> bool:
        """Trained on coverage tracks (counts or profile): its outputs are predicted reads."""
        return self.kind in SIGNAL

    def to_dict(self) -> dict:
        data = {"kind": self.kind, "names": self.names, "mean": self.mean, "std": self.std}
        if self.controls:
            data["controls"] = self.controls
        if self.kind == "profile":
            data.update(
                width=self.width,
                profile_loss=self.profile_loss,
                counts_weight=self.counts_weight,
                prior=[round(value, 7) for value in self.prior],
            )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        return cls(
            data["kind"],
            list(data["names"]),
            list(data.get("mean", [])),
            list(data.get("std", [])),
            int(data.get("width", 0)),
            data.get("profile_loss", "multinomial"),
            float(data.get("counts_weight", 0.0)),
            [float(value) for value in data.get("prior", [])],
            list(data.get("controls", [])),
        )

    def encode(self, labels: list[tuple[str, ...]], where: Callable[[int], str]) -> np.ndarray:
        """Raw label strings per record -> targets (see the module table); ``where(i)`` names
        record i (file and line) for errors."""
        if self.is_classification:
            index = {name: i for i, name in enumerate(self.names)}
            targets = [index.get(row[0], -1) for row in labels]
            if -1 in targets:
                bad = targets.index(-1)
                raise DnanetError(
                    f"{where(bad)}: class '{labels[bad][0]}' is not one of the model's classes: "
                    f"{', '.join(self.names)}; name each file's class as CLASS=PATH "
                    f"(e.g. {self.names[0]}=FILE)"
                )
            return np.array(targets, dtype=np.int64)
        if self.kind == "multilabel":
            return _multilabel_targets(labels, self.names, where)
        return _numbers(labels, where)

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Training loss of raw model outputs ``(B, C)`` against targets."""
        if self.is_classification:
            return F.cross_entropy(logits, targets, weight=class_weights)
        if self.kind == "multilabel":
            return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=class_weights)
        if self.kind == "profile":
            return self._profile_losses(logits, targets, activated=False).mean()
        return F.mse_loss(logits, self._standardise(targets))

    def activate(self, logits: torch.Tensor, reverse_strand: bool = False) -> torch.Tensor:
        """Raw model outputs ``(B, C)`` -> probabilities or values in the data's units
        ``(B, C)``. `reverse_strand`: the outputs are a window's reverse complement's, put back in
        the window's orientation (a profile is flipped; nothing else depends on the strand)."""
        logits = logits.float()
        if self.is_classification:
            return torch.softmax(logits, dim=-1)
        if self.kind == "multilabel":
            return torch.sigmoid(logits)
        if self.kind == "profile":
            outputs = signal_task.activate_profile(logits, len(self.names), self.width)
            return self.flip(outputs) if reverse_strand else outputs
        return logits * torch.tensor(self.std, device=logits.device) + torch.tensor(
            self.mean, device=logits.device
        )

    def output_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> float:
        """The training loss measured on activated outputs (validation, after strand averaging)."""
        return self.record_losses(outputs, targets).mean().item()

    def record_losses(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of each record ``(N,)``, from activated outputs ``(N, C)``."""
        if self.is_classification:
            return F.nll_loss(torch.log(outputs.clamp(min=1e-12)), targets, reduction="none")
        if self.kind == "multilabel":
            return F.binary_cross_entropy(
                outputs.clamp(1e-7, 1 - 1e-7), targets, reduction="none"
            ).mean(1)
        if self.kind == "profile":
            return self._profile_losses(outputs, targets, activated=True)
        return F.mse_loss(
            self._standardise(outputs), self._standardise(targets), reduction="none"
        ).mean(1)

    def flip(self, flat: torch.Tensor) -> torch.Tensor:
        """Outputs or targets ``(B, C)`` of windows as their reverse complements see them: a
        profile reversed along the sequence; other kinds do not depend on the strand."""
        if self.kind != "profile":
            return flat
        return signal_task.flip_profiles(flat, len(self.names), self.width)

    def with_statistics(self, targets) -> "Task":
        """A regression or counts task standardised by these (training) targets ``(N, T)``; a
        profile task with its prior (mean log counts, average profile) and, when unset, lambda
        from them (`dnanet.data.signal_task`); others unchanged. Profile targets may be a
        memory-mapped block: they are read in chunks."""
        if self.kind == "profile":
            tracks = len(self.names)
            prior = signal_task.profile_prior(targets, tracks, self.width)
            weight = self.counts_weight or signal_task.default_counts_weight(
                _column_block(targets, tracks)
            )
            return dataclasses.replace(self, counts_weight=weight, prior=prior.tolist())
        if not self.is_regression:
            return self
        std = np.where(targets.std(0) > 0, targets.std(0), 1.0)
        return dataclasses.replace(self, mean=targets.mean(0).tolist(), std=std.tolist())

    def prediction_header(self) -> list[str]:
        """Columns of a predictions TSV after ``id`` (a counts or profile task: the predicted
        total reads per track)."""
        if self.is_regression or self.kind == "profile":
            return [f"pred_{name}" for name in self.names]
        return ["predicted", *[f"prob_{name}" for name in self.names]]

    def prediction_cells(self, outputs: np.ndarray) -> list[str]:
        """One record's outputs ``(C,)`` -> the cells under `prediction_header`: probabilities
        with every float32 digit (logit(p) recoverable up to |log-odds| ~ 16), values and reads
        to 6 significant digits."""
        if self.kind in SIGNAL:
            return [f"{value:.6g}" for value in np.expm1(outputs[: len(self.names)])]
        if self.kind == "regression":
            return [f"{value:.6g}" for value in outputs]
        if self.kind == "multilabel":
            predicted = ";".join(name for name, p in zip(self.names, outputs) if p >= 0.5)
        else:
            predicted = self.names[int(outputs.argmax())]
        # every digit of the float32 probability (shortest text that reads back as the same
        # float32): rounded to 6 decimals, a confident 0.9999997 read 1.000000 and its log-odds
        # were lost
        return [predicted, *[str(p) for p in np.asarray(outputs, dtype=np.float32)]]

    def _profile_losses(
        self, outputs: torch.Tensor, targets: torch.Tensor, activated: bool
    ) -> torch.Tensor:
        return signal_task.profile_record_losses(
            outputs,
            targets,
            len(self.names),
            self.width,
            self.profile_loss,
            self.counts_weight,
            activated,
        )

    def _standardise(self, values: torch.Tensor) -> torch.Tensor:
        mean, std = (
            torch.tensor(self.mean, device=values.device),
            torch.tensor(self.std, device=values.device),
        )
        return (values - mean) / std


def _column_block(targets, columns: int, chunk: int = 4096) -> np.ndarray:
    """The first `columns` columns of every row ``(N, columns)``, read in chunks."""
    return np.concatenate(
        [
            np.asarray(targets[i : i + chunk])[:, :columns].copy()
            for i in range(0, len(targets), chunk)
        ]
        or [np.zeros((0, columns), dtype=np.float32)]
    )


def infer_task(labels: list[tuple[str, ...]], columns: list[str], kind: str = "auto") -> Task:
    """Decide the task from raw labels (tuples of strings: each record's, or each distinct one
    once, `dnanet.data.store.LabelledRecords.label_values`) and the label columns.

    ``auto``: several label columns, or any ``;`` in a label -> multilabel; one column of numbers
    that are not all whole numbers, or with more than 20 distinct values -> regression; otherwise
    one class per distinct label: binary (2) or multiclass. An explicit `kind` is checked.
    """
    if kind not in ("auto", *KINDS):
        raise DnanetError(f"unknown task '{kind}'; valid tasks: auto, {', '.join(KINDS)}")
    if kind in SIGNAL:
        raise DnanetError(
            f"a {kind} task is trained on coverage: give the tracks with --signal NAME=track.bw "
            "(with BED intervals and --genome)"
        )
    if kind == "auto":
        kind = _guess_kind(labels, columns)
    if kind == "regression":
        return Task(kind, list(columns))
    if kind == "multilabel":
        names = (
            list(columns)
            if len(columns) > 1
            else _ordered({part for row in labels for part in _split(row[0])})
        )
        return Task(kind, names)
    if len(columns) > 1:
        raise DnanetError(
            f"a {kind} task takes one label column, got {len(columns)}: {', '.join(columns)}"
        )
    names = list(dict.fromkeys(row[0] for row in labels))
    if len(names) < 2:
        raise DnanetError(
            f"training needs at least two classes; all sequences are "
            f"'{names[0] if names else '?'}' (give one FASTA per class, or --labels)"
        )
    if kind == "binary" and len(names) != 2:
        raise DnanetError(
            f"a binary task needs exactly 2 classes, found {len(names)}: {', '.join(names[:10])}"
        )
    return Task("binary" if len(names) == 2 else "multiclass", names)


def _guess_kind(labels: list[tuple[str, ...]], columns: list[str]) -> str:
    if len(columns) > 1 or any(";" in row[0] for row in labels):
        return "multilabel"
    values = {row[0] for row in labels}
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        return "multiclass"
    return (
        "regression" if (numbers != np.round(numbers)).any() or len(values) > 20 else "multiclass"
    )


def _ordered(names: set[str]) -> list[str]:
    return sorted(name for name in names if name)


def _split(label: str) -> list[str]:
    return [part.strip() for part in label.split(";") if part.strip()]


def _multilabel_targets(
    labels: list[tuple[str, ...]], names: list[str], where: Callable[[int], str]
) -> np.ndarray:
    targets = np.zeros((len(labels), len(names)), dtype=np.float32)
    if len(labels) and len(labels[0]) > 1:  # one 0/1 column per label
        for row, values in enumerate(labels):
            for column, value in enumerate(values):
                if value not in ("0", "1"):
                    raise DnanetError(
                        f"{where(row)}: multilabel column '{names[column]}' must be 0 or 1, got "
                        f"'{value}'"
                    )
                targets[row, column] = value == "1"
        return targets
    index = {name: i for i, name in enumerate(names)}
    for row, values in enumerate(labels):
        for part in _split(values[0]):
            if part not in index:
                raise DnanetError(f"{where(row)}: label '{part}' is not one of {', '.join(names)}")
            targets[row, index[part]] = 1
    return targets


def _numbers(labels: list[tuple[str, ...]], where: Callable[[int], str]) -> np.ndarray:
    for index, row in enumerate(labels):
        for value in row:
            try:
                if not np.isfinite(float(value)):
                    raise ValueError
            except ValueError:
                raise DnanetError(
                    f"{where(index)}: regression label '{value}' is not a finite number"
                ) from None
    return np.array([[float(value) for value in row] for row in labels], dtype=np.float32)
