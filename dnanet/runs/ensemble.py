"""Ensemble folders: K member run folders (one per fold) and a ``model.json`` that lists them.

An ensemble folder (``dnanet train --folds K``) holds ``fold_0`` .. ``fold_{K-1}``, each a complete
run folder, and a ``model.json`` of format ``dnanet-ensemble``::

    {"format": "dnanet-ensemble", "format_version": 1, "combine": "concat",
     "members": [{"path": "fold_0", "fold": 0, "model_sha256": "...", "description_sha256": "...",
                  "learned": true, "validation_chromosomes": [...]}, ...],
     "left_out": [{"path": "fold_3", "fold": 3, "reason": "..."}], "folds": {...}}

`load_ensemble` opens every member with `dnanet.runs.load.load_run` (all of its checks), refuses a
member whose files' SHA-256 differ from the listed ones (a member retrained or replaced after the
ensemble was made), and members that disagree on the task, family, encoder, window or strand
averaging; then returns one `Run` whose model is a `dnanet.models.ensemble.Ensemble`. Member paths
are relative and stay inside the ensemble folder, so the folder can be moved as a whole.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from dnanet.errors import DnanetError
from dnanet.files.json_files import parse_json, read_regular_file
from dnanet.inputs.digest import file_sha256
from dnanet.models.ensemble import COMBINE, Ensemble

ENSEMBLE_FORMAT = "dnanet-ensemble"
ENSEMBLE_FORMAT_VERSION = 1
JSON_LIMIT = 1 << 20
SAME_IN_EVERY_MEMBER = ("model_name", "arguments", "reverse_complement_average", "window")


def is_ensemble_folder(folder: Path) -> bool:
    """Whether `folder`'s model.json says it is an ensemble (without checking anything else)."""
    path = folder / "model.json"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device: read_description refuses it
            return False
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f'"format": "{ENSEMBLE_FORMAT}"'.encode() in head


def member_entry(folder: Path, member: Path, fold: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The model.json entry of member run folder `member` (inside `folder`): its relative path,
    fold and the SHA-256 of its two files, with `extra` (learned, validation part, ...)."""
    return {
        "path": member.relative_to(folder).as_posix(),
        "fold": fold,
        "model_sha256": file_sha256(member / "model.safetensors"),
        "description_sha256": file_sha256(member / "model.json"),
        **extra,
    }


def ensemble_record(members: list[dict], left_out: list[dict], **extra: Any) -> dict[str, Any]:
    """An ensemble's model.json content."""
    return {
        "format": ENSEMBLE_FORMAT,
        "format_version": ENSEMBLE_FORMAT_VERSION,
        "combine": "concat",
        "members": members,
        "left_out": left_out,
        **extra,
    }


def read_ensemble(folder: Path) -> dict[str, Any]:
    """An ensemble's model.json, checked: format, version and each member's path."""
    path = folder / "model.json"
    record = parse_json(read_regular_file(path, JSON_LIMIT), path)
    if not isinstance(record, dict) or record.get("format") != ENSEMBLE_FORMAT:
        raise DnanetError(f"{path}: not a dnanet ensemble ('format' is not '{ENSEMBLE_FORMAT}')")
    version = record.get("format_version")
    if version != ENSEMBLE_FORMAT_VERSION:
        raise DnanetError(
            f"{path}: 'format_version' {version!r} is not an ensemble format this dnanet reads "
            f"({ENSEMBLE_FORMAT_VERSION}); a newer dnanet may have made it"
        )
    members = record.get("members")
    if not isinstance(members, list) or not members:
        raise DnanetError(f"{path}: 'members' lists no member runs")
    for index, member in enumerate(members):
        where = f"{path}: 'members[{index}]'"
        if not isinstance(member, dict) or not isinstance(member.get("path"), str):
            raise DnanetError(f"{where} has no 'path'")
        relative = PurePosixPath(member["path"])
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise DnanetError(f"{where}: path '{member['path']}' must lie inside the ensemble")
        for key in ("model_sha256", "description_sha256"):
            if not isinstance(member.get(key), str):
                raise DnanetError(f"{where} has no '{key}'")
    if record.get("combine", "concat") not in COMBINE:
        raise DnanetError(f"{path}: 'combine' must be one of {', '.join(COMBINE)}")
    return record


def load_ensemble(folder: Path, device, load_member):
    """The ensemble in `folder` as one `dnanet.runs.load.Run` (members loaded by `load_member`,
    `load_run`); see the module docstring."""
    record = read_ensemble(folder)
    runs = []
    for index, member in enumerate(record["members"]):
        member_folder = folder / member["path"]
        run = load_member(member_folder, device)
        for key, name in (
            ("model_sha256", "model.safetensors"),
            ("description_sha256", "model.json"),
        ):
            if file_sha256(member_folder / name) != member[key]:
                raise DnanetError(
                    f"{folder / 'model.json'}: member {member['path']}: {name} is not the file "
                    "the ensemble was made with (its SHA-256 differs): a member was retrained or "
                    "replaced; make the ensemble again (dnanet train --folds ... --resume)"
                )
        if runs:
            _check_same(runs[0], run, folder, member["path"])
        runs.append(run)
    first = runs[0]
    model = Ensemble(
        [run.model for run in runs], record.get("combine", "concat"), *_alignment(runs)
    ).to(device)
    description = dataclasses.replace(
        first.description,
        path=folder / "model.json",
        record={**first.description.record, "ensemble": record},
    )
    return dataclasses.replace(
        first, folder=folder, model=model.eval(), description=description, members=tuple(runs)
    )


def _check_same(first, other, folder: Path, path: str) -> None:
    """Refuse a member that is not the same kind of model for the same task as the first."""
    for key in SAME_IN_EVERY_MEMBER:
        if getattr(first.description, key) != getattr(other.description, key):
            raise DnanetError(
                f"{folder / 'model.json'}: member {path} differs from the first member in "
                f"'{key}'; an ensemble's members share their model and inputs"
            )
    if _task_kind(first.task) != _task_kind(other.task):
        raise DnanetError(
            f"{folder / 'model.json'}: member {path} has another task (its kind, names or "
            "statistics differ from the first member's)"
        )


FOLD_STATISTICS = ("mean", "std", "prior", "counts_weight")  # set from each fold's training part


def _task_kind(task) -> dict:
    """A task without what each fold learns from its own training part."""
    return {key: value for key, value in task.to_dict().items() if key not in FOLD_STATISTICS}


def _alignment(runs) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(scales, shifts) ``(K, C)`` that put regression members' standardised logits into the
    first member's units: value = z_k std_k + mean_k = (z_0 std_0 + mean_0); (None, None) for
    tasks whose logits need no alignment."""
    first = runs[0].task
    if not first.is_regression:
        return None, None
    std0, mean0 = torch.tensor(first.std), torch.tensor(first.mean)
    scales = torch.stack([torch.tensor(run.task.std) / std0 for run in runs])
    shifts = torch.stack([(torch.tensor(run.task.mean) - mean0) / std0 for run in runs])
    return scales, shifts
