"""``dnanet check-run``: does this dnanet and torch still compute what the run computed when it was
saved? The records of the run's ``check.safetensors`` (`dnanet.runs.check_file`) are predicted
again on the CPU in float32 and compared with the saved logits and outputs.

Tolerance: every value within ``ATOL + RTOL x |saved value|`` (`numpy.isclose`), 1e-4 each: far
above float32 rounding across CPUs, threads and torch releases (1e-6 here), far below anything a
changed weight or layer does. An ensemble is checked member by member (each member is a run with
its own check records; the ensemble's own loading checks their SHA-256).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dnanet.errors import DnanetError
from dnanet.inference.predict import predict_batch
from dnanet.runs.check_file import current_versions, read_check_file
from dnanet.runs.load import Run, load_run
from dnanet.runtime.precision import Precision

ATOL = RTOL = 1e-4


@dataclass(frozen=True)
class MemberCheck:
    """One run's comparison: its records (``part``, count), the largest absolute differences of
    the logits and the outputs, the versions that saved them."""

    folder: Path
    part: str
    records: int
    logits_difference: float
    outputs_difference: float
    passed: bool
    saved_versions: dict[str, str]


@dataclass(frozen=True)
class RunCheck:
    """A run's check (one `MemberCheck`, or one per ensemble member) and the versions now."""

    folder: Path
    members: tuple[MemberCheck, ...]
    versions: dict[str, str]

    @property
    def passed(self) -> bool:
        return all(member.passed for member in self.members)

    def lines(self) -> list[str]:
        """What check-run prints: one line per member (difference, pass/fail), the versions."""
        rows = [
            f"{member.folder}: {member.records} {member.part} records, max |difference| logits "
            f"{member.logits_difference:.2e}, outputs {member.outputs_difference:.2e} "
            f"(tolerance {ATOL:g} + {RTOL:g} x |value|): {'pass' if member.passed else 'FAIL'}"
            for member in self.members
        ]
        saved = self.members[0].saved_versions
        return [
            *rows,
            f"versions saved: {_versions_text(saved)}; now: {_versions_text(self.versions)}",
        ]

    def failure(self) -> str | None:
        """The one-line error of a failed check (None if it passed)."""
        failed = [member for member in self.members if not member.passed]
        if not failed:
            return None
        member = failed[0]
        return (
            f"{member.folder}: check-run failed: the {member.part} records' logits differ by up to "
            f"{member.logits_difference:.3g} and outputs by {member.outputs_difference:.3g} from "
            f"those saved with the run (tolerance {ATOL:g} + {RTOL:g} x |value|): its weights or "
            f"the code that runs them changed (saved with {_versions_text(member.saved_versions)}; "
            f"now {_versions_text(self.versions)})"
        )


def check_run(folder: str | Path) -> RunCheck:
    """Predict the check records of run `folder` (or of each member of an ensemble folder) again
    and compare (see the module docstring). Raises `DnanetError` for a run without check records;
    a mismatch is a `RunCheck` that did not pass (``failure()`` says why)."""
    run = load_run(folder, "cpu")
    runs = run.members if run.is_ensemble else (run,)
    members = tuple(_check_member(member) for member in runs)
    return RunCheck(Path(folder), members, current_versions())


def check_answers(
    model, codes: torch.Tensor, lengths: torch.Tensor, reverse_complement_average: bool, activate
) -> tuple[np.ndarray, np.ndarray]:
    """A CPU model's answers for check records, codes uint8 ``(N, L)`` and lengths ``(N,)``: its
    logits and `predict`'s outputs, both float32 ``(N, C)``, in the CPU's float32. Training saves
    them (`dnanet.training.check_records`) and check-run computes them again, by this one path."""
    with torch.no_grad():
        logits = model(codes).float().numpy()
    outputs = predict_batch(
        model, codes, lengths, reverse_complement_average, activate=activate, precision=Precision()
    ).numpy()
    return logits, outputs


def _check_member(run: Run) -> MemberCheck:
    saved = read_check_file(run.folder)
    codes, lengths = torch.from_numpy(saved.codes), torch.from_numpy(saved.lengths)
    logits, outputs = check_answers(
        run.model, codes, lengths, run.reverse_complement_average, run.task.activate
    )
    if logits.shape != saved.logits.shape:
        raise DnanetError(
            f"{run.folder}: check.safetensors holds {saved.logits.shape[1]} outputs per record; "
            f"the model gives {logits.shape[1]}"
        )
    return MemberCheck(
        run.folder,
        saved.part,
        len(saved.ids),
        _largest(logits, saved.logits),
        _largest(outputs, saved.outputs),
        _close(logits, saved.logits) and _close(outputs, saved.outputs),
        saved.versions,
    )


def _largest(now: np.ndarray, saved: np.ndarray) -> float:
    return float(np.abs(now.astype(np.float64) - saved).max(initial=0.0))


def _close(now: np.ndarray, saved: np.ndarray) -> bool:
    return bool(np.isclose(now, saved, rtol=RTOL, atol=ATOL).all())


def _versions_text(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in versions.items()) or "versions unknown"
