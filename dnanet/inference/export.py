"""``dnanet export --format onnx``: a run as an ONNX model whose outputs are `dnanet predict`'s.

The ONNX graph (input ``codes``, output ``outputs``) is the run's model and what `predict` does
after it, traced once with PyTorch's TorchScript-based exporter (opset `OPSET`):

- ``codes`` uint8 ``(batch, LENGTH)``: records of exactly LENGTH bases in the codes layout of
  `dnanet.inputs.encode` (``A=0 C=1 G=2 T=3``, 4 for N or any other letter); no padding code
  (5): the graph holds the unpadded path of the model's masking, which is exact only for records
  of the traced length, so LENGTH is fixed in the graph and the batch is dynamic;
- ``outputs`` float32 ``(batch, C)``: `predict`'s activated outputs (softmax or sigmoid
  probabilities, regression values in the data's units, a signal run's log(1 + reads) and profile
  probabilities), the mean of both strands' outputs where the run averages them
  (``reverse_complement_average``), an ensemble's mean of its members' outputs.

Every family is exported (cnn, lstm, transformer, ternary_mlp; one-hot or k-mer input; counts and
profile heads; ensembles); torch.export (``dynamo=True``) refuses these models, whose padding
masks branch on the data. LENGTH defaults to the run's input width (BED windows, a signal run's
input width, or the one length of its training records, model.json ``training_lengths``).
"""

from __future__ import annotations

import importlib.util
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.files.outputs import claimed
from dnanet.inference.predict import activate_reverse
from dnanet.inputs.encode import T
from dnanet.models.ensemble import Ensemble
from dnanet.runs.load import Run, load_run

FORMATS = ("onnx",)
OPSET = 17
MAX_LENGTH = 1_000_000  # bases: far above any run's window, a guard against a typo
INSTALL = "pip install 'dnanet[export]'"


class PredictOutputs(nn.Module):
    """A run's model followed by `predict`'s activation and strand averaging: codes uint8 ``(N,
    L)`` without padding -> outputs float32 ``(N, C)`` (see the module docstring)."""

    def __init__(self, model: nn.Module, task: Task, reverse_complement_average: bool):
        super().__init__()
        self.model, self.task, self.average = model, task, reverse_complement_average

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        outputs = self._activated(codes, reverse=False)  # (N, C)
        if self.average:
            reverse = torch.where(codes <= T, T - codes, codes).flip(1)  # no padding to keep
            outputs = (outputs + self._activated(reverse, reverse=True)) / 2
        return outputs

    def _activated(self, codes: torch.Tensor, reverse: bool) -> torch.Tensor:
        """Each member's activated outputs, averaged (an ensemble), or the model's ``(N, C)``."""
        models = self.model.member_logits(codes) if isinstance(self.model, Ensemble) else None
        logits = [self.model(codes)] if models is None else list(models)
        activate = self.task.activate
        each = [activate_reverse(activate, x) if reverse else activate(x) for x in logits]
        return torch.stack(each).mean(0)


@dataclass(frozen=True)
class Exported:
    """A written ONNX model: its path, the record length it reads and its outputs' names."""

    path: Path
    length: int
    output_names: list[str]

    def summary(self) -> str:
        return (
            f"{self.path}: ONNX model, input 'codes' uint8 (batch, {self.length}), output "
            f"'outputs' float32 (batch, {len(self.output_names)}): what dnanet predict computes"
        )


def export_run(
    folder: str | Path,
    out: str | Path,
    fmt: str = "onnx",
    length: int | None = None,
    overwrite: bool = False,
) -> Exported:
    """Write run `folder` as an ONNX model at `out` reading records of `length` bases (default:
    `run_length`); see the module docstring. `out` is claimed first (an existing file only with
    `overwrite`) and written whole or not at all (`dnanet.files.outputs`)."""
    if fmt not in FORMATS:
        raise DnanetError(
            f"--format {fmt}: not an export format; valid formats: {', '.join(FORMATS)}"
        )
    if importlib.util.find_spec("onnx") is None:
        raise DnanetError(f"dnanet export --format onnx needs the onnx package: {INSTALL}")
    run = load_run(folder, "cpu")
    length = run_length(run) if length is None else length
    if not 1 <= length <= MAX_LENGTH:
        raise DnanetError(f"--length {length}: give 1 to {MAX_LENGTH:,} bases")
    names = output_names(run.task)
    with claimed(Path(out), overwrite) as output, output.writing() as temporary:
        _trace(run, length, temporary)
        _describe(temporary, run, length, names)
    return Exported(Path(out), length, names)


def _trace(run: Run, length: int, path: Path) -> None:
    """The run's `PredictOutputs` traced on 2 random records of `length` bases, written as ONNX
    at `path` (batch axis dynamic)."""
    graph = PredictOutputs(run.model, run.task, run.reverse_complement_average).eval()
    example = torch.from_numpy(np.random.default_rng(0).integers(0, 4, (2, length), np.uint8))
    with warnings.catch_warnings(), torch.no_grad(), _refused(run):
        warnings.simplefilter("ignore")  # the tracer's notes on constants are what is wanted
        torch.onnx.export(
            graph,
            (example,),
            str(path),
            dynamo=False,
            input_names=["codes"],
            output_names=["outputs"],
            dynamic_axes={"codes": {0: "batch"}, "outputs": {0: "batch"}},
            opset_version=OPSET,
        )


def _describe(path: Path, run: Run, length: int, names: list[str]) -> None:
    """Keep in the ONNX file's metadata what a tool needs to read it: the record length, the
    output columns' names, the task kind and the run's model.json versions."""
    import json

    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(
        model,
        {
            "dnanet_length": str(length),
            "dnanet_outputs": json.dumps(names),
            "dnanet_task": run.task.kind,
            "dnanet_model": run.model_name,
            "dnanet_reverse_complement_average": json.dumps(run.reverse_complement_average),
        },
    )
    onnx.save(model, str(path))


@contextmanager
def _refused(run: Run) -> Iterator[None]:
    """An exporter's failure as one line naming the run's family (a model this module does not
    know how to export: a new family, or a torch whose exporter changed)."""
    try:
        yield
    except (RuntimeError, ValueError, TypeError) as error:
        raise DnanetError(
            f"{run.folder}: its {run.model_name} model could not be exported to ONNX with torch "
            f"{torch.__version__} ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from None


def run_length(run: Run) -> int:
    """The record length a run is exported for: its BED window or signal input width, else the
    one length of its training records (model.json ``training_lengths``)."""
    if run.window is not None:
        return run.window
    lengths = run.record.get("training_lengths") or {}
    if lengths.get("min") is not None and lengths.get("min") == lengths.get("max"):
        return int(lengths["min"])
    return _length_refused(run, lengths)


def _length_refused(run: Run, lengths: dict) -> int:
    seen = f" ({lengths['min']} to {lengths['max']} bases)" if lengths else ""
    raise DnanetError(
        f"{run.folder}: its training records have no one length{seen}, and the ONNX model reads "
        "records of one length: give it with --length BASES"
    )


def output_names(task: Task) -> list[str]:
    """The name of each output column: a class or target, a track's log(1 + reads), or a profile
    track's probability at one output base (TRACK:i)."""
    if task.kind != "profile":
        return list(task.names)
    bases = [f"{name}:{i}" for name in task.names for i in range(task.width)]
    return [*(f"log1p_{name}" for name in task.names), *bases]
