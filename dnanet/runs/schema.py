"""The schema of a run folder's ``model.json``, checked before anything is built from it.

`read_description` reads the file only if it is a regular file of at most `JSON_LIMIT` bytes
(a FIFO, a device such as /dev/zero, or a symlink to one is refused before it is opened, so
nothing hangs or reads without end), parses strict JSON (no NaN/Infinity, no duplicate keys) and
checks every key a command relies on, returning a typed `RunDescription`:

- ``format`` is ``dnanet-run``; ``format_version`` an integer this dnanet knows (a newer or
  unknown version is refused, an older one only where the model's layers still match);
- ``model.name`` a registered model; ``model.arguments`` only that model's constructor arguments,
  each of its declared type (a boolean is ``true``/``false``, never ``"no"``) and within
  `ARGUMENT_RANGES`, so an absurd size (``position_bins: 30000``) is refused before any model is
  built; the ``encoder`` section agrees with the encoder arguments;
- ``task.kind`` is a task kind; ``task.names`` distinct, printable names, as many as the kind
  allows (binary: 2); regression ``mean``/``std`` one finite number per name (std > 0);
  ``classes`` equals ``task.names``;
- ``reverse_complement_average`` and ``learned`` are JSON booleans; ``inputs[].window`` whole
  numbers >= 1; ``training_lengths`` (optional) ``{"min": N, "max": M}``, 1 <= N <= M.

What a description cannot show: names consistently swapped in both ``task.names`` and
``classes`` label the outputs wrongly, yet nothing in the folder contradicts them (the weights
carry no names). The number of names against the model's outputs is checked with the weights'
header (`dnanet.runs.load`). Each problem is one `DnanetError` naming the file and the key.
The file reading and strict JSON parsing are in `dnanet.files.json_files`.
"""

from __future__ import annotations

import inspect
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnanet.config.values import coerce_value
from dnanet.data.signal_task import PROFILE_LOSSES
from dnanet.data.tasks import KINDS, REGRESSION, Task
from dnanet.errors import DnanetError
from dnanet.files.json_files import parse_json, read_regular_file
from dnanet.models import ENCODER_ARGUMENTS, MODELS, check_model_name, model_arguments

RUN_FORMAT = "dnanet-run"
RUN_FORMAT_VERSION = 2
OLDEST_FORMAT = {
    "cnn": 2,
    "lstm": 2,
}  # format 2 changed their dense readouts (models.layers.dense_readout)
JSON_LIMIT = 1 << 20  # bytes; a model.json is a few kB
JSON_SCHEMA_FILE = Path(__file__).with_name("model.schema.json")
"""The same rules as a JSON Schema (draft 2020-12) for tools without dnanet (docs/run-folder.md); a
few it cannot state are checked here only: ``classes`` equal to ``task.names``, one ``mean`` and
``std`` per name, ``controls`` among the names, ``encoder`` agreeing with the arguments, ``stride``
at most ``k``, a whole number written as 8.0."""

# Inclusive bounds of model arguments: far above any run a GPU trains, far below a size that
# would allocate gigabytes from a typo or a tampered file.
ARGUMENT_RANGES: dict[str, tuple[float, float]] = {
    "k": (1, 12),
    "stride": (1, 12),
    "kmer_dim": (1, 4096),
    "channels": (1, 4096),
    "conv_channels": (0, 4096),
    "d_model": (1, 4096),
    "lstm_size": (1, 4096),
    "hidden": (1, 65536),
    "ff_dim": (1, 65536),
    "heads": (1, 256),
    "layers": (1, 256),
    "first_kernel": (1, 4096),
    "kernel": (1, 4096),
    "conv_kernel": (1, 4096),
    "stem_kernel": (1, 4096),
    "pool": (1, 4096),
    "stem_pool": (1, 4096),
    "position_bins": (0, 4096),
    "max_len": (1, 65536),
    "overlap": (0, 65535),
    "dropout": (0.0, 1.0),
    "attention_dropout": (0.0, 1.0),
}
_NAME_COUNTS = {
    "binary": (2, 2),
    "multiclass": (2, math.inf),
    "multilabel": (1, math.inf),
    "regression": (1, math.inf),
    "counts": (1, math.inf),
    "profile": (1, math.inf),
}


@dataclass(frozen=True)
class RunDescription:
    """A checked model.json. `arguments`: the model's constructor arguments, encoder ones
    included, missing ones filled with the constructor's defaults. `window`: the width the run's
    BED inputs were read at (None: not BED windows). `record`: the whole file, for what is kept
    only as a record (config, inputs, strand, versions) and `dnanet.cli.common.not_learned`."""

    path: Path
    format_version: int
    model_name: str
    arguments: dict[str, Any]
    task: Task
    reverse_complement_average: bool
    window: int | None
    record: dict[str, Any] = field(repr=False)
    training_lengths: tuple[int, int] | None = None  # shortest, longest training record

    @property
    def input_width(self) -> int | None:
        """The bases the model reads at each place of a genome: the BED window it was trained
        at, else the one length of all its training records (None: lengths varied, or an old
        run that did not record them)."""
        if self.window is not None:
            return self.window
        if self.training_lengths is not None and len(set(self.training_lengths)) == 1:
            return self.training_lengths[0]
        return None


def read_description(path: Path) -> RunDescription:
    """Read and check a run's model.json (see the module docstring)."""
    data = parse_json(read_regular_file(path, JSON_LIMIT), path)
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise DnanetError(
            f"{path}: not a dnanet model description ('format' is not '{RUN_FORMAT}')"
        )
    return check_description(data, path)


def check_description(data: dict[str, Any], path: Path) -> RunDescription:
    """Check a parsed model.json (a dict with ``format: dnanet-run``) against the schema."""
    for key in ("model", "task", "classes", "config", "reverse_complement_average"):
        if key not in data:
            raise DnanetError(f"{path}: missing key '{key}'")
    version = data.get("format_version", 1)
    if not _is_int(version) or not 1 <= version <= RUN_FORMAT_VERSION:
        raise DnanetError(
            f"{path}: 'format_version' {version!r} is not a run format this dnanet reads "
            f"(1 to {RUN_FORMAT_VERSION}); a newer dnanet may have made it"
        )
    model = _mapping(data, "model", path)
    name = model.get("name")
    check_model_name(name, str(path), "model.name")
    if version < OLDEST_FORMAT.get(name, 1):
        raise DnanetError(
            f"{path.parent}: made by an older dnanet (run format {version}); its {name} layers "
            f"have changed since (run format {RUN_FORMAT_VERSION}): train it again"
        )
    arguments = _check_arguments(name, _mapping(model, "arguments", path, "model."), path)
    _check_encoder(data.get("encoder"), arguments, path)
    task = _check_task(_mapping(data, "task", path), path)
    if data["classes"] != task.names:
        raise DnanetError(
            f"{path}: 'classes' {data['classes']!r} differs from 'task.names' {task.names!r}"
        )
    _mapping(data, "config", path)
    for key in ("reverse_complement_average", "learned"):
        if key in data and not isinstance(data[key], bool):
            raise DnanetError(f"{path}: '{key}' must be true or false, got {data[key]!r}")
    learning = _mapping(data, "learning", path) if "learning" in data else {}
    if not isinstance(learning.get("message", ""), str):
        raise DnanetError(
            f"{path}: 'learning.message' must be a string, got {learning['message']!r}"
        )
    return RunDescription(
        path,
        version,
        name,
        arguments,
        task,
        data["reverse_complement_average"],
        _signal_window(data, path) or _trained_window(data.get("inputs", []), path),
        data,
        _training_lengths(data.get("training_lengths"), path),
    )


def _check_arguments(name: str, given: dict[str, Any], path: Path) -> dict[str, Any]:
    """The constructor arguments of model `name`: known keys, declared types, `ARGUMENT_RANGES`;
    missing ones take the constructor's defaults."""
    constructor = _constructor_arguments(name)  # {argument: (type, default)}
    for key in given:
        if key not in constructor:
            raise DnanetError(
                f"{path}: unknown key 'model.arguments.{key}' for a {name} model; valid keys: "
                f"{', '.join(constructor)}"
            )
    arguments = {
        key: coerce_value(given[key], hint, f"model.arguments.{key}", path)
        if key in given
        else default
        for key, (hint, default) in constructor.items()
    }
    for key, value in arguments.items():
        low, high = ARGUMENT_RANGES.get(key, (-math.inf, math.inf))
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and not low <= value <= high
        ):
            raise DnanetError(
                f"{path}: 'model.arguments.{key}' must be between {low:g} and {high:g}, "
                f"got {value!r}"
            )
    if arguments["stride"] > arguments["k"]:
        raise DnanetError(
            f"{path}: 'model.arguments.stride' ({arguments['stride']}) must not exceed "
            f"'model.arguments.k' ({arguments['k']})"
        )
    return arguments


def _constructor_arguments(name: str) -> dict[str, tuple[Any, Any]]:
    """{argument: (type, default)} of a registered model's constructor, encoder arguments first."""
    cls = MODELS[name]
    hints = typing.get_type_hints(cls.__init__)
    parameters = inspect.signature(cls.__init__).parameters
    encoder = {key: (hints[key], parameters[key].default) for key in ENCODER_ARGUMENTS}
    return {**encoder, **model_arguments(name)}


def _check_encoder(encoder: Any, arguments: dict[str, Any], path: Path) -> None:
    """The ``encoder`` section (name, k, stride), when present, must be what the model was built
    with."""
    if encoder is None:
        return
    if not isinstance(encoder, dict):
        raise DnanetError(f"{path}: 'encoder' must be a section of keys, got {encoder!r}")
    for key, argument in (("name", "encoder"), ("k", "k"), ("stride", "stride")):
        if key in encoder and encoder[key] != arguments[argument]:
            raise DnanetError(
                f"{path}: 'encoder.{key}' ({encoder[key]!r}) differs from "
                f"'model.arguments.{argument}' "
                f"({arguments[argument]!r})"
            )


def _check_task(task: dict[str, Any], path: Path) -> Task:
    kind, names = task.get("kind"), task.get("names")
    if kind not in KINDS:
        raise DnanetError(
            f"{path}: 'task.kind' {kind!r} is not a task kind; valid kinds: {', '.join(KINDS)}"
        )
    if not isinstance(names, list) or not all(
        isinstance(n, str) and n and n.isprintable() for n in names
    ):
        raise DnanetError(
            f"{path}: 'task.names' must be a list of non-empty printable names, got {names!r}"
        )
    low, high = _NAME_COUNTS[kind]
    if not low <= len(names) <= high:
        raise DnanetError(
            f"{path}: 'task.names' has {len(names)} names; a {kind} task has "
            f"{low if low == high else f'at least {low}'}"
        )
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DnanetError(f"{path}: 'task.names' lists '{twice}' twice")
    statistics = {}
    for key in ("mean", "std"):
        values = task.get(key, [])
        wanted = len(names) if kind in REGRESSION else 0
        if (
            not isinstance(values, list)
            or len(values) != wanted
            or not all(_is_number(v) and (key == "mean" or v > 0) for v in values)
        ):
            raise DnanetError(
                f"{path}: 'task.{key}' must be {wanted} {'positive ' if key == 'std' else ''}"
                f"numbers (one per {'target' if wanted else 'regression target; none here'}), "
                f"got {values!r}"
            )
        statistics[key] = [float(v) for v in values]
    controls = task.get("controls", [])
    if not isinstance(controls, list) or not all(name in names for name in controls):
        raise DnanetError(f"{path}: 'task.controls' must list names from 'task.names'")
    return Task(
        kind,
        list(names),
        statistics["mean"],
        statistics["std"],
        **_profile(task, path),
        controls=list(controls),
    )


def _profile(task: dict[str, Any], path: Path) -> dict[str, Any]:
    """A profile task's output width, loss and lambda (none for other kinds)."""
    if task.get("kind") != "profile":
        return {}
    width, loss, weight = task.get("width"), task.get("profile_loss"), task.get("counts_weight")
    if not _is_int(width) or not 1 <= width <= 1_000_000:
        raise DnanetError(f"{path}: 'task.width' must be a whole number >= 1, got {width!r}")
    if loss not in PROFILE_LOSSES:
        raise DnanetError(
            f"{path}: 'task.profile_loss' must be one of {', '.join(PROFILE_LOSSES)}, got {loss!r}"
        )
    if not _is_number(weight) or weight < 0:
        raise DnanetError(f"{path}: 'task.counts_weight' must be a number >= 0, got {weight!r}")
    prior = task.get("prior", [])
    if not isinstance(prior, list) or not all(_is_number(value) for value in prior):
        raise DnanetError(f"{path}: 'task.prior' must be a list of numbers")
    return {
        "width": width,
        "profile_loss": loss,
        "counts_weight": float(weight),
        "prior": [float(value) for value in prior],
    }


def _signal_window(data: dict[str, Any], path: Path) -> int | None:
    """A signal run's input width (its windows were read wider, by the jitter), else None."""
    if "signal" not in data:
        return None
    width = _mapping(data, "signal", path).get("input_width")
    if not _is_int(width) or width < 1:
        raise DnanetError(
            f"{path}: 'signal.input_width' must be a whole number >= 1, got {width!r}"
        )
    return width


def _training_lengths(lengths: Any, path: Path) -> tuple[int, int] | None:
    """``training_lengths`` {min, max} (absent in runs made before it was recorded)."""
    if lengths is None:
        return None
    if (
        not isinstance(lengths, dict)
        or not all(_is_int(lengths.get(key)) and lengths[key] >= 1 for key in ("min", "max"))
        or lengths["min"] > lengths["max"]
    ):
        raise DnanetError(
            f'{path}: \'training_lengths\' must be {{"min": N, "max": M}} with 1 <= N <= M, '
            f"got {lengths!r}"
        )
    return lengths["min"], lengths["max"]


def _trained_window(inputs: Any, path: Path) -> int | None:
    """The one window width of the training inputs (BED intervals read with --window), else None."""
    if not isinstance(inputs, list) or not all(isinstance(entry, dict) for entry in inputs):
        raise DnanetError(f"{path}: 'inputs' must be a list of sections, got {inputs!r}")
    widths = set()
    for index, entry in enumerate(inputs):
        window = entry.get("window")
        if window is not None and (not _is_int(window) or window < 1):
            raise DnanetError(
                f"{path}: 'inputs[{index}].window' must be a whole number >= 1, got {window!r}"
            )
        if window:
            widths.add(window)
    return widths.pop() if len(widths) == 1 else None


def _mapping(data: dict[str, Any], key: str, path: Path, prefix: str = "") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise DnanetError(f"{path}: '{prefix}{key}' must be a section of keys, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
