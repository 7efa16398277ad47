"""``check.safetensors``: a few records and what the model answered for them when it was saved.

`dnanet check-run` (`dnanet.inference.run_check`) predicts these records again with the dnanet
and torch of the day and compares: a run folder that still loads can still compute something
else (a changed layer, another torch, a damaged weight that is still finite), and only known
answers tell. The file (format ``dnanet-check`` 1, see docs/run-folder.md):

- ``codes`` uint8 ``(N, L)``: the records in the codes layout of `dnanet.inputs.encode` (``A=0
  C=1 G=2 T=3``, 4 unknown, 5 padding after a record's end);
- ``lengths`` int64 ``(N,)``: each record's bases;
- ``logits`` float32 ``(N, C)``: the model's raw outputs for the forward strand;
- ``outputs`` float32 ``(N, C)``: what `dnanet predict` computes from them (activated, and the
  mean of both strands where the run averages them);
- metadata (strings): ``format``, ``format_version``, ``part`` (test, or train for a run without
  a test part), ``ids`` (a JSON list of the records' ids) and ``versions`` (a JSON object:
  dnanet, torch, numpy, python).

Outputs are computed on the CPU in float32 whatever device trained the run, so that the
comparison does not measure mixed precision.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet.errors import DnanetError
from dnanet.version import __version__

CHECK_FILE = "check.safetensors"
CHECK_FORMAT = "dnanet-check"
CHECK_FORMAT_VERSION = 1
CHECK_RECORDS = 8  # records kept: enough to touch every output, small enough to read at once
ARRAYS = {"codes": np.uint8, "lengths": np.int64, "logits": np.float32, "outputs": np.float32}


@dataclass(frozen=True)
class CheckRecords:
    """The records of a check file and the answers saved with them (see the module docstring)."""

    ids: list[str]
    codes: np.ndarray  # uint8 (N, L)
    lengths: np.ndarray  # int64 (N,)
    logits: np.ndarray  # float32 (N, C)
    outputs: np.ndarray  # float32 (N, C)
    part: str
    versions: dict[str, str]


def current_versions() -> dict[str, str]:
    """The versions that compute a run's answers here: dnanet, torch, numpy, python."""
    import torch

    return {
        "dnanet": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def write_check_file(folder: Path, records: CheckRecords) -> None:
    """Write `records` as ``folder/check.safetensors``."""
    from safetensors.numpy import save_file

    arrays = {name: np.ascontiguousarray(getattr(records, name), ARRAYS[name]) for name in ARRAYS}
    metadata = {
        "format": CHECK_FORMAT,
        "format_version": str(CHECK_FORMAT_VERSION),
        "part": records.part,
        "ids": json.dumps(list(records.ids)),
        "versions": json.dumps(records.versions),
    }
    save_file(arrays, str(folder / CHECK_FILE), metadata=metadata)


def read_check_file(folder: Path) -> CheckRecords:
    """The check records of run `folder`; one `DnanetError` for a run without the file (written
    before dnanet kept one) or a file that is not one."""
    from safetensors import SafetensorError, safe_open

    path = folder / CHECK_FILE
    if not path.is_file():
        raise DnanetError(
            f"{folder}: no {CHECK_FILE}, so nothing to check against: the run was written by a "
            "dnanet that did not keep check records (train it again to get them)"
        )
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            arrays = {name: handle.get_tensor(name) for name in ARRAYS if name in handle.keys()}
    except SafetensorError as error:
        raise DnanetError(
            f"{path} is not a readable safetensors file ({str(error).splitlines()[0]})"
        ) from None
    _check_layout(path, metadata, arrays)
    return CheckRecords(
        json.loads(metadata["ids"]),
        arrays["codes"],
        arrays["lengths"],
        arrays["logits"],
        arrays["outputs"],
        metadata.get("part", ""),
        json.loads(metadata.get("versions", "{}")),
    )


def _check_layout(path: Path, metadata: dict, arrays: dict) -> None:
    """Refuse a check file of another format or version, or with missing or ill-shaped arrays."""
    if metadata.get("format") != CHECK_FORMAT:
        raise DnanetError(f"{path}: not a dnanet check file (its 'format' is not dnanet-check)")
    if metadata.get("format_version") != str(CHECK_FORMAT_VERSION):
        raise DnanetError(
            f"{path}: check format {metadata.get('format_version')!r} is not one this dnanet reads "
            f"({CHECK_FORMAT_VERSION})"
        )
    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise DnanetError(f"{path} has no tensor '{missing[0]}'")
    n = len(arrays["codes"])
    try:
        ids = json.loads(metadata.get("ids", ""))
    except json.JSONDecodeError:
        ids = None
    shapes_agree = arrays["codes"].ndim == 2 and all(
        len(arrays[name]) == n for name in ("lengths", "logits", "outputs")
    )
    if not shapes_agree or not isinstance(ids, list) or len(ids) != n:
        raise DnanetError(f"{path}: its tensors and ids do not hold the same {n} records")
