"""Run folders and atomic output files. Nothing is pickled or unpickled, ever.

A run folder holds ``model.safetensors`` (weights), ``model.json`` (architecture arguments,
encoder, class names, full config, versions, input files with SHA-256), ``metrics.json`` (test
split) and ``history.csv`` (per epoch). It is written to a temporary sibling folder and renamed
into place at the end, so a crash or Ctrl-C never leaves a half-written run; single output
files are written the same way (`atomic_file`). `load_run` (`dnanet.run_loader`) checks a run
folder as a whole before its model is built.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from safetensors.torch import save_file
from torch import nn

from dnanet.errors import DnanetError
from dnanet.run_loader import Run, load_run  # noqa: F401  (re-exported: every command loads runs from here)
from dnanet.run_schema import RUN_FORMAT, RUN_FORMAT_VERSION

_UMASK = os.umask(0)
os.umask(_UMASK)


def check_output_path(path: Path, overwrite: bool, is_dir: bool) -> None:
    """Fail before any work if `path` cannot be written (exists without `overwrite`, wrong kind)."""
    if path.exists():
        if path.is_dir() != is_dir:
            raise DnanetError(f"{path}: exists and is {'not ' if is_dir else ''}a directory")
        if not overwrite:
            raise DnanetError(f"{path}: already exists; choose another --out or pass --overwrite")


@contextmanager
def parent_folders(path: Path) -> Iterator[None]:
    """Create the missing parent folders of `path`; remove those again if the block fails."""
    missing = [p for p in path.absolute().parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in missing:  # innermost first
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        raise


@contextmanager
def atomic_directory(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path`, on error it is removed."""
    check_output_path(path, overwrite, is_dir=True)
    with parent_folders(path):
        temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
        try:
            yield temporary
            _normal_permissions(temporary)
            if path.exists():
                shutil.rmtree(path)
            os.replace(temporary, path)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)


def _normal_permissions(folder: Path) -> None:
    """mkdtemp/mkstemp make private entries: give the tree the umask's usual permissions."""
    os.chmod(folder, 0o777 & ~_UMASK)
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~_UMASK)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~_UMASK)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; on success it replaces `path`, on error it is removed."""
    if path.is_dir():
        raise DnanetError(f"{path}: is a directory, expected a file name")
    with parent_folders(path):
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(handle)
        try:
            yield Path(name)
            os.chmod(name, 0o666 & ~_UMASK)
            os.replace(name, path)
        finally:
            if os.path.exists(name):
                os.remove(name)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def save_model(folder: Path, model: nn.Module, description: dict) -> None:
    """Write ``model.safetensors`` and ``model.json`` (`description` + format marker) into `folder`."""
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_json(folder / "model.json", {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **description})
