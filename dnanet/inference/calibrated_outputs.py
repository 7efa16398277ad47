"""What a run's calibration (`dnanet.inference.calibration`) adds to its outputs: the columns of
`dnanet predict --calibrated / --conformal ALPHA`, and the coverage `dnanet evaluate --conformal
ALPHA` reports on labelled data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dnanet.data.tasks import Task
from dnanet.inference.calibration import (
    STATUSES,
    Calibration,
    check_alpha,
    check_matches,
    conformal_intervals,
    conformal_sets,
    expected_calibration_error,
    interval_coverage,
    read_calibration,
    set_coverage,
    temperature_scaled,
)
from dnanet.runs.load import Run


@dataclass(frozen=True)
class CalibratedColumns:
    """The prediction table's columns for a calibrated run, in place of the run's task in
    `dnanet.inference.predict.write_predictions` (the same ``activate``; the task's columns, then
    the conformal ones). Classification: probabilities at the calibration's temperature (the
    predicted class is unchanged) and, with `alpha`, ``set``: the classes in the record's
    prediction set, joined by ',' (empty when none); multilabel: ``set_<label>`` per label, the
    statuses in its set (``1``, ``0``, ``0,1`` or empty). Regression: ``low_<target>``,
    ``high_<target>``; counts: the same in reads, like ``pred_<track>`` (low clipped at 0)."""

    task: Task
    calibration: Calibration
    alpha: float | None

    def __post_init__(self):
        check_matches(self.calibration, self.task)
        if self.alpha is not None:
            check_alpha(self.alpha)

    @property
    def activate(self):
        return self.task.activate

    def prediction_header(self) -> list[str]:
        names = self.task.names
        if self.alpha is None:
            return self.task.prediction_header()
        if self.task.is_regression:
            extra = [f"{side}_{name}" for name in names for side in ("low", "high")]
        elif self.task.kind == "multilabel":
            extra = [f"set_{name}" for name in names]
        else:
            extra = ["set"]
        return [*self.task.prediction_header(), *extra]

    def prediction_cells(self, outputs: np.ndarray) -> list[str]:
        """One record's outputs ``(C,)`` -> its cells."""
        kind, row = self.task.kind, outputs[None, :]
        scaled = temperature_scaled(kind, row, self.calibration.temperature)[0]
        cells = self.task.prediction_cells(scaled.astype(np.float32))
        if self.alpha is None:
            return cells
        if self.task.is_regression:
            low, high = conformal_intervals(self.calibration, row, self.alpha)
            if kind == "counts":  # in reads, as pred_<track>
                low, high = np.expm1(np.maximum(low, 0)), np.expm1(high)
            return cells + [f"{v:.6g}" for pair in zip(low[0], high[0]) for v in pair]
        sets = conformal_sets(self.calibration, row, self.alpha)[0]
        if kind == "multilabel":
            return cells + [",".join(s for s in ("0", "1") if label[int(s)]) for label in sets]
        return cells + [",".join(name for name, kept in zip(self.task.names, sets) if kept)]


def calibration_notes(columns) -> list[str]:
    """What to tell the user about `columns` (`prediction_columns`): the classes, labels or
    targets with too few calibration records for its alpha (in every set, unbounded)."""
    if not isinstance(columns, CalibratedColumns) or columns.alpha is None:
        return []
    unbounded = columns.calibration.unbounded(columns.alpha)
    return [_too_few(unbounded, columns.alpha)] if unbounded else []


def _too_few(unbounded: list[str], alpha: float) -> str:
    return (
        f"too few calibration records for alpha {alpha} in {', '.join(unbounded)}: "
        "every class is in their sets (or their intervals are unbounded); "
        f"1/(n+1) <= alpha needs n >= {math.ceil(1 / alpha - 1)}"
    )


def prediction_columns(run: Run, alpha: float | None, calibrated: bool) -> Task | CalibratedColumns:
    """What `write_predictions` writes `run`'s rows by: its task, or with `alpha` (--conformal) or
    `calibrated` its `CalibratedColumns` from the run folder's calibration.json (an error naming
    `dnanet calibrate` when there is none)."""
    if alpha is None and not calibrated:
        return run.task
    if alpha is not None:
        check_alpha(alpha)
    return CalibratedColumns(run.task, read_calibration(run.folder, run.task), alpha)


def coverage_report(
    task: Task, calibration: Calibration, outputs: np.ndarray, targets: np.ndarray, alpha: float
) -> dict:
    """How the conformal sets or intervals at `alpha` did on labelled records (activated
    `outputs` ``(N, C)``, encoded `targets`): the coverage reached overall and per class, label or
    target (beside the 1 - alpha asked), the mean set size or interval width, and for
    classification the ECE of these records before and after temperature scaling."""
    check_matches(calibration, task)
    report = {
        "alpha": alpha,
        "target_coverage": round(1 - alpha, 6),
        "calibrated_on": calibration.source,
        "calibration_n": calibration.n,
    }
    unbounded = calibration.unbounded(alpha)
    if unbounded:
        report["note"] = _too_few(unbounded, alpha)
    if task.is_regression:
        return report | _interval_report(task, calibration, outputs, targets, alpha)
    scaled = temperature_scaled(task.kind, outputs, calibration.temperature)
    report.update(
        temperature=round(calibration.temperature, 6),
        ece_before=_round(expected_calibration_error(task.kind, outputs, targets)),
        ece_after=_round(expected_calibration_error(task.kind, scaled, targets)),
    )
    sets = conformal_sets(calibration, outputs, alpha)
    covered = set_coverage(sets, targets)
    if task.kind == "multilabel":
        return report | _multilabel_report(task, calibration, sets, covered, targets)
    per_class = {
        name: {
            "coverage": _mean(covered[targets == c]),
            "n": int((targets == c).sum()),
            "calibration_n": calibration.groups[c][0].n,
        }
        for c, name in enumerate(task.names)
    }
    sizes = sets.sum(1)
    return report | {
        "coverage": _mean(covered),
        "mean_set_size": _mean(sizes),
        "empty_sets": _mean(sizes == 0),
        "n": len(targets),
        "per_class": per_class,
    }


def _multilabel_report(task, calibration, sets, covered, targets) -> dict:
    """Per label: the coverage of its true status overall and within each status."""
    present = targets >= 0.5
    per_label = {}
    for j, name in enumerate(task.names):
        entry = {"coverage": _mean(covered[:, j]), "n": len(targets)}
        for status, group, rows in zip(
            STATUSES, calibration.groups[j], (~present[:, j], present[:, j])
        ):
            entry[f"coverage_{status}"] = _mean(covered[rows, j])
            entry[f"n_{status}"] = int(rows.sum())
            entry[f"calibration_n_{status}"] = group.n
        per_label[name] = entry
    return {
        "coverage": _mean(covered),
        "mean_set_size": _mean(sets.sum(-1)),
        "n": len(targets),
        "per_label": per_label,
    }


def _interval_report(task, calibration, outputs, targets, alpha) -> dict:
    low, high = conformal_intervals(calibration, outputs, alpha)
    covered = interval_coverage(low, high, np.asarray(targets, dtype=np.float64))
    width = high - low  # the same for every record: twice the target's threshold
    per_target = {
        name: {
            "coverage": _mean(covered[:, j]),
            "interval_width": _round(float(width[0, j])) if len(width) else None,
            "n": len(targets),
            "calibration_n": calibration.groups[j][0].n,
        }
        for j, name in enumerate(task.names)
    }
    units = "log(1 + reads)" if task.kind == "counts" else "the data's units"
    return {
        "coverage": _mean(covered),
        "interval_units": units,
        "n": len(targets),
        "per_target": per_target,
    }


def _mean(values: np.ndarray) -> float | None:
    return round(float(np.mean(values)), 6) if np.size(values) else None


def _round(value: float | None) -> float | None:
    """6 decimals; None for none or an unbounded width (JSON has no infinity)."""
    return round(value, 6) if value is not None and math.isfinite(value) else None
