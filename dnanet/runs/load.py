"""Open a run folder as a typed `Run`: everything is checked before the model is allocated.

Order of checks (each failure is one `DnanetError` naming the file and the key or tensor):

1. ``model.json``: a regular file of at most 1 MiB, strict JSON, the schema of
   `dnanet.runs.schema` (types, ranges, format version, task names, encoder);
2. the model is built on PyTorch's ``meta`` device (shapes only, no memory), so a constructor
   that refuses its arguments says why in its own words;
3. ``model.safetensors``: a regular file whose header (read without reading the tensors) has
   exactly the model's tensor names, shapes and dtypes; a count of ``task.names`` that is not
   the model's number of outputs is reported as such;
4. the tensors are read one by one and refused, by name, if they hold NaN or infinity;
5. only then is the model built for real and given the weights.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.models import build_task_model
from dnanet.runs.ensemble import is_ensemble_folder, load_ensemble
from dnanet.runs.schema import RunDescription, read_description

NON_PERSISTENT_LIMIT = (
    256 << 20
)  # bytes of buffers a model makes itself (e.g. sinusoidal positions)
_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass(frozen=True)
class Run:
    """A loaded run folder: its model (eval mode, on the requested device) and its checked
    model.json (`description`: the task, strand averaging, training window, the whole record)."""

    folder: Path
    model: nn.Module
    description: RunDescription
    members: tuple["Run", ...] = ()  # an ensemble's member runs (`dnanet.runs.ensemble`)

    @property
    def is_ensemble(self) -> bool:
        return bool(self.members)

    @property
    def task(self) -> Task:
        return self.description.task

    @property
    def reverse_complement_average(self) -> bool:
        return self.description.reverse_complement_average

    @property
    def model_name(self) -> str:
        return self.description.model_name

    @property
    def window(self) -> int | None:
        """The window the run's BED inputs were read at (None: its inputs were not BED windows)."""
        return self.description.window

    @property
    def input_width(self) -> int | None:
        """The bases the model reads at each place of a genome (`RunDescription.input_width`)."""
        return self.description.input_width

    @property
    def training_lengths(self) -> tuple[int, int] | None:
        """The shortest and longest training record (None: a run made before they were kept)."""
        return self.description.training_lengths

    @property
    def record(self) -> dict[str, Any]:
        """The whole model.json as read (checked where a command uses it)."""
        return self.description.record


def load_run(folder: str | Path, device: torch.device | str = "cpu") -> Run:
    """Check a run folder (model.json + model.safetensors) and rebuild its model; see the module
    docstring. An ensemble folder (`dnanet.runs.ensemble`) gives one `Run` whose model is the
    `dnanet.models.ensemble.Ensemble` of its members (each checked as a run) and whose
    ``members`` are the member runs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DnanetError(
            f"{folder}: no such run folder"
            if not folder.exists()
            else f"{folder}: not a run folder"
        )
    if not (folder / "model.json").exists() and not (folder / "model.json").is_symlink():
        raise DnanetError(f"{folder}: not a dnanet run (no model.json)")
    if is_ensemble_folder(folder):
        return load_ensemble(folder, device, load_run)
    description = read_description(folder / "model.json")
    weights_path = folder / "model.safetensors"
    if not weights_path.exists() and not weights_path.is_symlink():
        raise DnanetError(f"{folder}: not a complete dnanet run (no model.safetensors)")
    expected, per_output = _planned_tensors(description)
    weights = read_checked_tensors(
        weights_path, expected, lambda name: _outputs_note(name, per_output, description)
    )
    model = build_task_model(description.model_name, description.task, description.arguments)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:  # unreachable after the header check; kept one line all the same
        raise DnanetError(f"{folder}: model.safetensors: {str(error).splitlines()[0]}") from None
    return Run(folder, model.to(device).eval(), description)


def _planned_tensors(description: RunDescription) -> tuple[dict[str, torch.Tensor], set[str]]:
    """The model's state dict as ``meta`` tensors (names, shapes, dtypes; no memory), and the
    names of the tensors whose shape follows the number of outputs."""

    def planned(task) -> nn.Module:
        try:
            with torch.device("meta"):
                return build_task_model(description.model_name, task, description.arguments)
        except (ValueError, TypeError, KeyError, RuntimeError) as error:
            raise DnanetError(
                f"{description.path}: 'model.arguments': {str(error).splitlines()[0]}"
            ) from None

    model = planned(description.task)
    state = model.state_dict()
    own = sum(
        b.numel() * b.element_size() for name, b in model.named_buffers() if name not in state
    )
    if own > NON_PERSISTENT_LIMIT:
        raise DnanetError(
            f"{description.path}: 'model.arguments' make a {description.model_name} that needs "
            f"{own / 2**20:,.0f} MiB of fixed buffers (at most {NON_PERSISTENT_LIMIT >> 20} MiB)"
        )
    task = description.task
    other = planned(dataclasses.replace(task, names=[*task.names, "another"])).state_dict()
    return state, {name for name, tensor in state.items() if tensor.shape != other[name].shape}


def _outputs_note(name: str, per_output: set[str], description: RunDescription) -> str | None:
    if name in per_output:
        return f"{description.path}: 'task.names' lists {description.task.n_outputs} names"
    return None


def read_checked_tensors(
    path: Path,
    expected: dict[str, torch.Tensor],
    outputs_note=lambda name: None,
    others: bool = False,
    described_by: str = "the model in model.json ('model.arguments')",
) -> dict[str, torch.Tensor]:
    """The tensors of safetensors file `path`, after checking its header against `expected`
    (name -> a tensor of the wanted shape and dtype, e.g. on ``meta``): the same names (with
    `others`, more names are allowed and read as they are), shapes and dtypes, before any tensor
    is read. Floating tensors holding NaN or infinity are refused by name.
    ``outputs_note(name)``: for a tensor whose first dimension counts outputs, what to say
    instead of a bare shape mismatch (else None). `described_by`: what the expected shapes come
    from, for the messages."""
    where = f"{path.parent}: {path.name}"  # errors read "RUN: model.safetensors has ..."
    _check_regular_file(path, where)
    try:
        with safe_open(str(path), framework="pt") as weights:
            names = set(weights.keys())
            missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
            if missing:
                raise DnanetError(
                    f"{where} has no tensor '{missing[0]}', which the model needs "
                    f"({len(missing)} missing; a damaged file, or its description changed)"
                )
            if extra and not others:
                raise DnanetError(
                    f"{where} has a tensor '{extra[0]}' that is not part of the model "
                    f"({len(extra)} such)"
                )
            for name, want in expected.items():
                _check_header(
                    path, name, weights.get_slice(name), want, outputs_note(name), described_by
                )
            tensors = {
                name: weights.get_tensor(name) for name in (sorted(names) if others else expected)
            }
    except SafetensorError as error:
        raise DnanetError(
            f"{where} is not a readable safetensors file ({str(error).splitlines()[0]})"
        ) from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DnanetError(
                f"{where}: tensor '{name}' holds NaN or infinite values (a damaged or diverged "
                "model)"
            )
    return tensors


def _check_header(
    path: Path, name: str, found, want: torch.Tensor, outputs_note: str | None, described_by: str
) -> None:
    """One tensor's header entry (`found`, a safetensors slice) against the wanted meta tensor."""
    where = f"{path.parent}: {path.name}"
    shape, dtype = list(found.get_shape()), found.get_dtype()
    if shape != list(want.shape):
        if outputs_note is not None and shape and shape[1:] == list(want.shape[1:]):
            raise DnanetError(
                f"{outputs_note}, but {path.name} holds a model with {shape[0]} outputs "
                f"(tensor '{name}')"
            )
        raise DnanetError(
            f"{where}: tensor '{name}' has shape {shape}, but {described_by} needs "
            f"{list(want.shape)}"
        )
    if dtype != _DTYPES.get(want.dtype):
        raise DnanetError(
            f"{where}: tensor '{name}' is {dtype}; the model needs "
            f"{_DTYPES.get(want.dtype, want.dtype)}"
        )


def _check_regular_file(path: Path, where: str) -> None:
    """Refuse anything but a regular file (symlinks followed) before safetensors opens it."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise DnanetError(f"{where}: cannot read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DnanetError(f"{where} is not a regular file (a FIFO, device or folder)")


def not_learned(description: dict, what: str) -> str:
    """'WHAT: the model did not learn: REASON' for a run whose model.json says so
    (`dnanet.training.learning_check`), else ''."""
    if description.get("learned", True) is not False:
        return ""
    return (
        f"{what}: the model did not learn: {(description.get('learning') or {}).get('message', '')}"
    )
