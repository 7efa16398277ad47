"""Small JSON files read without trusting them: `read_regular_file` takes a regular file of at
most a given size (a FIFO, a device such as /dev/zero, or a symlink to one is refused from its
stat, before it is opened, so nothing hangs or reads without end), and `parse_json` parses strict
JSON (UTF-8, no NaN/Infinity, no key given twice). Used for a run's model.json
(`dnanet.runs.schema`) and a checkpoint's training state (`dnanet.training.checkpoint`); every
problem is one `DnanetError` naming the file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from dnanet.errors import DnanetError


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, a regular file (symlinks followed) of at most `limit` bytes.
    Anything else is refused from its stat, before it is opened."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DnanetError(f"{path}: no such file") from None
    except OSError as error:
        raise DnanetError(f"{path}: cannot read ({error.strerror})") from None
    _check_regular(path, info, limit)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise DnanetError(f"{path}: cannot read ({error.strerror})") from None
    with os.fdopen(handle, "rb") as stream:
        _check_regular(
            path, os.fstat(stream.fileno()), limit
        )  # the file opened is the file checked
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise DnanetError(f"{path}: larger than {limit:,} bytes")
    return data


def _check_regular(path: Path, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a plain file"
        )
        raise DnanetError(f"{path}: {kind}, expected a regular file")
    if info.st_size > limit:
        raise DnanetError(
            f"{path}: {info.st_size:,} bytes, larger than the {limit:,} bytes allowed"
        )


def parse_json(data: bytes, path: Path) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no key given twice; errors name `path`."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        for key in keys:
            if keys.count(key) > 1:
                raise DnanetError(f"{path}: key '{key}' is given twice")
        return dict(items)

    def constant(name: str) -> Any:
        raise DnanetError(f"{path}: {name} is not valid JSON (numbers must be finite)")

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)
    except UnicodeDecodeError as error:
        raise DnanetError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise DnanetError(
            f"{path}: not valid JSON (line {error.lineno} column {error.colno}: {error.msg})"
        ) from None
    except RecursionError:
        raise DnanetError(f"{path}: not a dnanet model description (nested too deeply)") from None
