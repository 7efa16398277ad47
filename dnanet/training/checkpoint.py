"""Checkpoints: a training run that is killed goes on where its last finished epoch left it.

After every epoch, `dnanet train` writes into a hidden folder beside the run folder
(``.NAME.checkpoint``, see `checkpoint_folder`) everything the training loop needs to continue as
if it had never stopped:

- ``state.safetensors``: the model's weights (``model.*``), the best epoch's weights (``best.*``),
  the optimizer's tensors (``optimizer.<index>.<name>``: AdamW's step, exp_avg, exp_avg_sq) and
  the random generators' states as uint8 tensors (``rng.<name>``: torch's default generator, the
  strand-flip and data-order generators, CUDA's when training on a GPU);
- ``state.json``: the finished epochs' history and early-stopping state, the optimizer's
  hyperparameters, the scheduler's state, the fp16 loss scaler's state when one is in use
  (``grad_scaler``: its scale, growth tracker and growth settings, all numbers; see
  dnanet.runtime.precision), and the `invocation` (inputs with their SHA-256, task options, the full
  config) so that ``dnanet train --resume OUT`` needs nothing else.

Both files are written under temporary names and renamed, the tensors first, so a kill during a
write leaves the previous checkpoint whole. Nothing is pickled. A finished run removes the folder.
On resume both files are checked before use (`Checkpoint.restore`): regular files only, state.json
of at most `STATE_LIMIT` bytes with the keys and types above, the tensors' header against the
model (names, shapes, dtypes) before they are read, no NaN or infinity; a checkpoint that does not
fit the run is one error naming the folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from dnanet.errors import DnanetError
from dnanet.files.json_files import parse_json, read_regular_file
from dnanet.runs.load import read_checked_tensors

STATE_FILE, TENSOR_FILE = "state.json", "state.safetensors"
STATE_LIMIT = (
    64 << 20
)  # bytes; the history of every epoch and the invocation fit in well under 1 MiB
_STATE_TYPES = {
    "epoch": int,
    "best_loss": (int, float, type(None)),
    "best_epoch": int,
    "stale": int,
    "history": list,
    "optimizer_groups": list,
    "scheduler": dict,
    "grad_scaler": (dict, type(None)),
    "invocation": (dict, type(None)),
}


def checkpoint_folder(out: Path) -> Path:
    """The hidden checkpoint folder of run folder `out`: ``<parent>/.<name>.checkpoint``."""
    return out.parent / f".{out.name}.checkpoint"


@dataclass
class FitProgress:
    """Where training stands after `epoch` finished epochs (0: nothing done yet)."""

    epoch: int = 0
    best_loss: float = math.inf
    best_epoch: int = 0
    stale: int = 0  # epochs since the validation loss last improved
    history: list[dict] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None


class Checkpoint:
    """One run's checkpoint folder: `save` after each epoch, `restore` on resume, `remove` at the
    end."""

    def __init__(self, folder: Path, invocation: dict | None = None, write: bool = True):
        self.folder, self.invocation, self.write = (
            Path(folder),
            invocation,
            write,
        )  # write: rank 0 only

    def exists(self) -> bool:
        return (self.folder / STATE_FILE).is_file() and (self.folder / TENSOR_FILE).is_file()

    def read_invocation(self) -> dict:
        """The invocation saved with the checkpoint (how the run was started)."""
        return self._state()["invocation"]

    def save(
        self,
        progress: FitProgress,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler,
        generators: dict[str, torch.Generator],
        scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        """Write the state after `progress.epoch` finished epochs (atomically, tensors first).
        An enabled `scaler` (fp16 training) is kept as JSON numbers."""
        if not self.write:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        optimizer_state = optimizer.state_dict()
        tensors = {f"model.{name}": value for name, value in model.state_dict().items()}
        tensors.update(
            {f"best.{name}": value for name, value in (progress.best_state or {}).items()}
        )
        for index, values in optimizer_state["state"].items():
            tensors.update({f"optimizer.{index}.{name}": value for name, value in values.items()})
        tensors.update(
            {f"rng.{name}": generator.get_state() for name, generator in generators.items()}
        )
        state = {
            "epoch": progress.epoch,
            "best_loss": None if math.isinf(progress.best_loss) else progress.best_loss,
            "best_epoch": progress.best_epoch,
            "stale": progress.stale,
            "history": progress.history,
            "optimizer_groups": optimizer_state["param_groups"],
            "scheduler": scheduler.state_dict(),
            "grad_scaler": _scaler_state(scaler),
            "invocation": self.invocation,
        }
        _replace(
            self.folder / TENSOR_FILE,
            lambda path: save_file(
                {name: value.detach().cpu().contiguous() for name, value in tensors.items()},
                str(path),
            ),
        )
        _replace(
            self.folder / STATE_FILE,
            lambda path: path.write_text(json.dumps(state, allow_nan=False)),
        )

    def restore(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler,
        generators: dict[str, torch.Generator],
        scaler: torch.amp.GradScaler | None = None,
    ) -> FitProgress:
        """Load the saved state into the given objects; return the progress to continue from. An
        enabled `scaler` takes the saved scale (a checkpoint without one leaves it at its start)."""
        state = self._state()
        weights = {f"model.{name}": value for name, value in model.state_dict().items()}
        tensors = read_checked_tensors(
            self.folder / TENSOR_FILE,
            weights,
            others=True,
            described_by="the model of the run's config",
        )
        best = _group(tensors, "best.")
        if best and {f"model.{name}" for name in best} != set(weights):
            raise DnanetError(
                f"{self.folder / TENSOR_FILE}: the best epoch's weights (best.*) "
                "are not the model's"
            )
        _check_optimizer_tensors(
            self.folder / TENSOR_FILE, _group(tensors, "optimizer."), optimizer
        )
        device = next(model.parameters()).device
        try:
            model.load_state_dict(_group(tensors, "model."))
            groups: dict[int, dict[str, torch.Tensor]] = {}
            for name, value in _group(tensors, "optimizer.").items():
                index, _, key = name.partition(".")
                groups.setdefault(int(index), {})[key] = (
                    value if key == "step" else value.to(device)
                )
            optimizer.load_state_dict({"state": groups, "param_groups": state["optimizer_groups"]})
            scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and scaler.is_enabled() and state.get("grad_scaler"):
                scaler.load_state_dict(state["grad_scaler"])
            for name, generator in generators.items():
                generator.set_state(tensors[f"rng.{name}"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DnanetError(
                f"{self.folder}: the checkpoint does not fit this run ({message}); "
                "train afresh with --overwrite"
            ) from None
        return FitProgress(
            state["epoch"],
            math.inf if state["best_loss"] is None else state["best_loss"],
            state["best_epoch"],
            state["stale"],
            state["history"],
            {name: value.to(device) for name, value in best.items()} or None,
        )

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _state(self) -> dict:
        """state.json, checked: a regular file of at most `STATE_LIMIT` bytes, strict JSON, the
        keys `save` writes with their types."""
        path = self.folder / STATE_FILE
        state = parse_json(read_regular_file(path, STATE_LIMIT), path)
        if not isinstance(state, dict):
            raise DnanetError(f"{path}: not a checkpoint state (expected a JSON object)")
        for key, kind in _STATE_TYPES.items():
            if key not in state:
                raise DnanetError(f"{path}: missing key '{key}'")
            if not isinstance(state[key], kind) or isinstance(state[key], bool):
                raise DnanetError(f"{path}: '{key}' has the wrong type ({state[key]!r})")
        return state


def _scaler_state(scaler: torch.amp.GradScaler | None) -> dict | None:
    """An enabled GradScaler's state: scale (float), _growth_tracker (int) and its growth
    settings, plain numbers for JSON; None without one (fp32 and bf16 need no loss scaling)."""
    if scaler is None or not scaler.is_enabled():
        return None
    return dict(scaler.state_dict())  # GradScaler.state_dict gives Python floats and ints


def _check_optimizer_tensors(
    path: Path, saved: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer
) -> None:
    """Each saved ``optimizer.<index>.<name>`` belongs to a parameter and, but for ``step``, has
    its shape (AdamW's moments): `load_state_dict` would take any shape and fail mid-epoch."""
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    for name, value in saved.items():
        index, _, key = name.partition(".")
        if not index.isdigit() or int(index) >= len(parameters):
            raise DnanetError(
                f"{path}: tensor 'optimizer.{name}' belongs to no parameter of the model"
            )
        if key != "step" and value.shape != parameters[int(index)].shape:
            raise DnanetError(
                f"{path}: tensor 'optimizer.{name}' has shape {list(value.shape)}, its parameter "
                f"{list(parameters[int(index)].shape)}"
            )


def _group(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {
        name[len(prefix) :]: value for name, value in tensors.items() if name.startswith(prefix)
    }


def _replace(path: Path, write) -> None:
    """Write through a temporary name beside `path`, then rename it over `path`."""
    temporary = path.with_name(path.name + ".partial")
    write(temporary)
    os.replace(temporary, path)
