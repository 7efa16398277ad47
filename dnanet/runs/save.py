"""Run folders. Nothing is pickled or unpickled, ever.

A run folder holds ``model.safetensors`` (weights), ``model.json`` (architecture arguments,
encoder, class names, full config, versions, input files with SHA-256), ``metrics.json`` (test
split), ``history.csv`` (per epoch), ``held_out_outputs.safetensors`` (the test and validation
parts' outputs, `dnanet.training.experiment.write_held_out_outputs`) and ``calibration.json``
(temperature and conformal scores from the validation part, `dnanet.inference.calibration`;
neither for a profile run), ``check.safetensors`` (a few records and the model's answers for
them, `dnanet.runs.check_file`, read by ``dnanet check-run``). docs/run-folder.md specifies
every file for tools without dnanet. It is written into a temporary sibling folder and swapped
into place at the end (`dnanet.files.outputs`), so a crash or Ctrl-C never leaves a
half-written run. `load_run` (`dnanet.runs.load`) checks a run folder as a whole before its
model is built.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from dnanet.runs.schema import RUN_FORMAT, RUN_FORMAT_VERSION


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def save_model(folder: Path, model: nn.Module, description: dict) -> None:
    """Write ``model.safetensors`` and ``model.json`` (`description` + format marker) into
    `folder`."""
    weights = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_json(
        folder / "model.json",
        {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **description},
    )
