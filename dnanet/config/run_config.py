"""Run configuration: frozen dataclasses filled from YAML (``yaml.safe_load``, no code in config).

A config has four sections (see configs/cnn.yaml, complete and commented): ``seed``, ``encoder``
(how bases become numbers), ``data`` (the split), ``model`` (``name`` picks the registry entry;
the other keys are that model's constructor arguments) and ``train`` (the optimiser and loop).
An unknown key or a value of the wrong type is an error that names the key and the valid keys,
and where the value came from: the config file, or the command-line flag that overrode it
(``--epochs 0: train.epochs must be at least 1``).
The shipped configs (configs/*.yaml, installed as ``dnanet.configs``) are the defaults. Each
value's type check and the errors' origin are in `dnanet.config.values`; this module holds the
sections, reading and overrides, the model section and the ranges.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from dnanet.config.values import _coerce, _mapping, _Origin, _reject_unknown
from dnanet.errors import DnanetError
from dnanet.models import MODELS, check_model_name, model_arguments


@dataclass(frozen=True)
class EncoderConfig:
    """How sequences enter a model: one-hot bases, or k-mer tokens (k, stride) embedded."""

    name: Literal["onehot", "kmer"] = "onehot"
    k: int = 6
    stride: int = 1


@dataclass(frozen=True)
class DataConfig:
    """How records are split into train / validation / test, and what is done about duplicates
    (dnanet.data.splits, dnanet.data.leakage).

    ``split: random``: a seeded split, stratified by class, with these fractions of the training
    inputs. ``split: chromosome``: whole chromosomes held out (ids ``chrom:start-end``, see
    `dnanet.data.splits.CHROMOSOME_ID`), so no held-out window can overlap a training window; the
    defaults chr10 (validation) and chr8 + chr9 (test) exist in human and mouse assemblies and
    hold out about 4% and 9% of the genome. A fixed part (``--val`` / ``--test`` files or a
    ``split`` column of the label table) replaces the drawn one. ``keep_duplicates: false``
    removes held-out records whose sequence is also in training (or, for test, in validation).
    ``folds`` K >= 2 makes this run member ``fold`` of a K-fold ensemble (`dnanet.data.folds`):
    the test part is the one above, and the rest is cut into K folds, fold ``fold`` validating.
    """

    split: Literal["random", "chromosome"] = "random"
    val_fraction: float = 0.1
    test_fraction: float = 0.15
    val_chroms: tuple[str, ...] = ("chr10",)
    test_chroms: tuple[str, ...] = ("chr8", "chr9")
    keep_duplicates: bool = False
    folds: int = 1
    fold: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop: AdamW, warm-up + schedule, early stopping on validation loss."""

    epochs: int = 60
    steps_per_epoch: int = 0  # 0: one pass over the training data
    batch_size: int = 32
    lr: float = 0.002
    weight_decay: float = 0.01
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = 1
    patience: int = 10
    class_weights: bool = False
    reverse_complement: Literal["auto", True, False] = (
        "auto"  # auto: dnanet.data.strand decides from the data
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = (
        "auto"  # auto: fp32 on a CPU, AMP on CUDA (dnanet.runtime.precision)
    )


@dataclass(frozen=True)
class Config:
    """A whole run configuration. ``model`` holds ``name`` plus that model's arguments."""

    seed: int = 0
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"name": "cnn"})
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {"encoder": EncoderConfig, "data": DataConfig, "train": TrainConfig}


def shipped_config_path(model_name: str, signal: bool = False) -> Path:
    """The path of the shipped config for a registered model (configs/<name>.yaml; with
    `signal`, configs/signal/<name>.yaml where the family has one, for --signal runs)."""
    check_model_name(model_name)
    source_tree = Path(__file__).resolve().parents[2] / "configs"  # a checkout or editable install
    if signal:
        if (source_tree / "signal" / f"{model_name}.yaml").exists():
            return source_tree / "signal" / f"{model_name}.yaml"
        if not source_tree.is_dir():  # an installed wheel
            installed = resources.files("dnanet.configs.signal") / f"{model_name}.yaml"
            if installed.is_file():
                return Path(str(installed))
    if (source_tree / f"{model_name}.yaml").exists():
        return source_tree / f"{model_name}.yaml"
    return Path(str(resources.files("dnanet.configs") / f"{model_name}.yaml"))  # an installed wheel


def load_config(
    path: str | Path | None = None,
    model: str | None = None,
    seed: int | None = None,
    data: dict[str, Any] | None = None,
    signal: bool = False,
    **train_overrides: Any,
) -> Config:
    """Load a config file (default: the shipped config of `model`, else of the CNN) and apply
    command-line overrides: ``model`` swaps in that model's shipped model section, ``seed``, the
    ``data`` keys in `data` (e.g. ``{"split": "chromosome"}``) and the ``train`` keys given (e.g.
    ``epochs=5``) replace those values when not None. An override's error names its flag, the
    key with dashes (``batch_size``: ``--batch-size 0``), not the config file. `signal`: a
    --signal run, whose default is configs/signal/<model>.yaml (`shipped_config_path`)."""
    if model is not None:
        check_model_name(model, f"--model {model}")
    source = Path(path) if path is not None else shipped_config_path(model or "cnn", signal)
    values = _read_yaml(source)
    if model is not None and model != _mapping(values.get("model"), "model", source).get(
        "name", "cnn"
    ):
        values["model"] = _read_yaml(shipped_config_path(model))["model"]
    flags: dict[str, tuple[str, Any]] = {}
    if seed is not None:
        values["seed"] = seed
        flags["seed"] = ("--seed", seed)
    for section, overrides in (("data", data or {}), ("train", train_overrides)):
        given = {key: value for key, value in overrides.items() if value is not None}
        values[section] = {**_mapping(values.get(section), section, source), **given}
        flags.update(
            {
                f"{section}.{key}": (f"--{key.replace('_', '-')}", value)
                for key, value in given.items()
            }
        )
    return config_from_dict(values, source, flags)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DnanetError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        raise DnanetError(f"{path} line {line}: invalid YAML ({error.problem})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DnanetError(f"{path}: invalid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DnanetError(f"{path}: a config must be a mapping of keys to values")
    return data


def config_from_dict(
    data: dict[str, Any],
    source: Path | str = "config",
    flags: dict[str, tuple[str, Any]] | None = None,
) -> Config:
    """Validate a nested dict (as read from YAML) and build a Config; errors name the key, and the
    file `source` or, for a key in `flags` (``{"train.epochs": ("--epochs", 0)}``), the flag."""
    source = _Origin(source, flags)
    _reject_unknown(data, ["seed", "encoder", "data", "model", "train"], "", source)
    values: dict[str, Any] = {}
    if "seed" in data:
        values["seed"] = _coerce(data["seed"], int, "seed", source)
    for name, cls in _SECTIONS.items():
        section = _mapping(data.get(name, {}), name, source)
        values[name] = _check_section(cls, section, name, source)
    values["model"] = _check_model(
        _mapping(data.get("model", {"name": "cnn"}), "model", source), source
    )
    config = Config(**values)
    _check_ranges(config, source)
    return config


def _check_section(cls: type, section: dict[str, Any], name: str, source: _Origin):
    hints = typing.get_type_hints(cls)
    _reject_unknown(section, list(hints), f"{name}.", source)
    return cls(
        **{
            key: _coerce(value, hints[key], f"{name}.{key}", source)
            for key, value in section.items()
        }
    )


def _check_model(section: dict[str, Any], source: _Origin) -> dict[str, Any]:
    name = section.get("name", "cnn")
    check_model_name(name, str(source), "model.name")
    arguments = model_arguments(name)  # {argument: (type, default)}
    _reject_unknown(section, ["name", *arguments], "model.", source)
    checked = {
        key: _coerce(section[key], arguments[key][0], f"model.{key}", source)
        for key in section
        if key != "name"
    }
    shipped = _read_yaml(shipped_config_path(name)).get("model") or {}  # the documented defaults
    return {
        "name": name,
        **{
            key: checked.get(key, shipped.get(key, default))
            for key, (_, default) in arguments.items()
        },
    }


def _check_ranges(config: Config, source: _Origin) -> None:
    from dnanet.data.splits import same_chromosome

    shared = [
        name
        for name in config.data.val_chroms
        if any(same_chromosome(name, other) for other in config.data.test_chroms)
    ]
    data, encoder, train = config.data, config.encoder, config.train
    rules = [  # (holds, the keys it is about, message)
        (
            0 <= data.val_fraction < 1,
            ("data.val_fraction",),
            "data.val_fraction must be between 0 and 1 (0 only with a fixed validation set)",
        ),
        (
            0 <= data.test_fraction < 1,
            ("data.test_fraction",),
            "data.test_fraction must be between 0 and 1 (0 only with a fixed test set)",
        ),
        (
            not shared,
            ("data.val_chroms", "data.test_chroms"),
            f"data.val_chroms and data.test_chroms share {', '.join(shared)}: a chromosome can be "
            "in one part only",
        ),
        (
            data.val_fraction + data.test_fraction < 0.9,
            ("data.val_fraction", "data.test_fraction"),
            "data.val_fraction + data.test_fraction must be below 0.9",
        ),
        (1 <= data.folds <= 50, ("data.folds",), "data.folds must be between 1 and 50"),
        (
            0 <= data.fold < data.folds,
            ("data.fold", "data.folds"),
            f"data.fold must be between 0 and data.folds - 1 ({data.folds - 1})",
        ),
        (1 <= encoder.k <= 12, ("encoder.k",), "encoder.k must be between 1 and 12"),
        (encoder.stride >= 1, ("encoder.stride",), "encoder.stride must be at least 1"),
        (
            encoder.stride <= encoder.k,
            ("encoder.stride", "encoder.k"),
            "encoder.stride must not exceed encoder.k (bases between k-mers would be skipped)",
        ),
        (train.epochs >= 1, ("train.epochs",), "train.epochs must be at least 1"),
        (train.batch_size >= 1, ("train.batch_size",), "train.batch_size must be at least 1"),
        (train.lr > 0, ("train.lr",), "train.lr must be positive"),
        (train.patience >= 1, ("train.patience",), "train.patience must be at least 1"),
        (
            train.steps_per_epoch >= 0,
            ("train.steps_per_epoch",),
            "train.steps_per_epoch must be 0 (one pass over the data) or more",
        ),
    ]
    for ok, keys, message in rules:
        if not ok:
            raise DnanetError(f"{source.of(*keys)}: {message}")


def describe_keys() -> str:
    """All valid config keys, one section per line (for --help and error messages)."""
    lines = [f"{name}: {', '.join(typing.get_type_hints(cls))}" for name, cls in _SECTIONS.items()]
    lines.append(f"model: name ({' | '.join(MODELS)}) + that model's arguments")
    return "\n".join(["seed", *lines])
