"""A config's values checked one by one (`dnanet.config.run_config`): each value against its type
(converted where lossless), unknown keys, sections that must be mappings. Every error is one line
naming the key and where the value came from, the config file or the command-line flag that overrode
it (`_Origin`); model.json's keys are checked with the same rules (`coerce_value`)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

from dnanet.errors import DnanetError


class _Origin:
    """Where a config's values came from: the file `source`, except the keys overridden on the
    command line, ``{"train.epochs": ("--epochs", 0)}``; errors are led by `of` their keys."""

    def __init__(self, source: Path | str, flags: dict[str, tuple[str, Any]] | None = None):
        self.source, self.flags = source, flags or {}

    def of(self, *keys: str) -> str:
        """'--epochs 0' for a key given by a flag, the file for the others (both if they mix)."""
        given = [f"{self.flags[key][0]} {self.flags[key][1]}" for key in keys if key in self.flags]
        from_file = not keys or any(key not in self.flags for key in keys)
        return " and ".join([*given, *([str(self.source)] if from_file else [])])

    def __str__(self) -> str:
        return str(self.source)


def _mapping(value: Any, key: str, source: Path | str | _Origin) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DnanetError(f"{source}: '{key}' must be a section of keys, got {value!r}")
    return value


def _reject_unknown(data: dict[str, Any], valid: list[str], prefix: str, source: _Origin) -> None:
    for key in data:
        if key not in valid:
            raise DnanetError(
                f"{source}: unknown key '{prefix}{key}'; valid keys"
                f"{' in ' + repr(prefix[:-1]) if prefix else ''}: {', '.join(valid)}"
            )


def coerce_value(value: Any, expected: Any, key: str, source: Path | str) -> Any:
    """`value` checked (and converted where lossless) against the type `expected`; a mismatch is a
    one-line error naming `source` and `key` (model.json's keys are checked this way too)."""
    return _coerce(value, expected, key, _Origin(source))


def _coerce(value: Any, expected: Any, key: str, source: _Origin) -> Any:
    """Return `value` as type `expected` (int, float, bool, str or a Literal), or raise naming
    `key`."""
    if typing.get_origin(expected) is Literal:
        choices = typing.get_args(expected)
        if not any(value == choice and type(value) is type(choice) for choice in choices):
            names = ", ".join(
                str(choice).lower() if isinstance(choice, bool) else str(choice)
                for choice in choices
            )
            raise DnanetError(f"{source.of(key)}: '{key}' must be one of {names}, got {value!r}")
        return value
    if expected == tuple[str, ...]:
        return _names(value, key, source)
    if expected is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(expected, True)
    if not ok:
        kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[
            expected
        ]
        raise DnanetError(f"{source.of(key)}: '{key}' must be {kind}, got {value!r}")
    return float(value) if expected is float else value


def _names(value: Any, key: str, source: _Origin) -> tuple[str, ...]:
    """A list of names from YAML (``[chr8, chr9]``) or one comma-separated string (``chr8,chr9``,
    as the command line gives it); bare numbers (``[8, 9]``) are names too."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(item, (str, int)) and not isinstance(item, bool) for item in items
    ):
        raise DnanetError(
            f"{source.of(key)}: '{key}' must be a list of names (e.g. [chr8, chr9]) or one "
            f"comma-separated string, got {value!r}"
        )
    names = tuple(str(item).strip() for item in items)
    return tuple(name for name in names if name)
