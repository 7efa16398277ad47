"""Search spaces for `dnanet tune`: which config keys a study varies, and over what range.

A space is YAML (configs/search/<family>.yaml are the shipped ones, installed as
``dnanet.configs.search``)::

    model: cnn                                   # the family it is for
    parameters:
      train.lr: {low: 0.0003, high: 0.01, log: true}   # a number in [low, high], log scale
      model.layers: {low: 1, high: 4}                  # integers when both bounds are integers
      model.dropout: {low: 0.0, high: 0.5, step: 0.1}  # on a grid of `step`
      model.channels: [32, 64, 128]                    # one of these values

Each key is a config key path (``section.key``, as in configs/<family>.yaml). ``seed`` and
``data.*`` cannot be searched: the split is fixed once by the base config, so every trial is
scored on the same validation records. Every bound and choice is checked against the config
schema (`dnanet.config.run_config`) before any training; an error is one line naming the file and
the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dnanet.config.run_config import Config, _read_yaml, check_model_name, config_from_dict
from dnanet.errors import DnanetError

RANGE_FIELDS = ("low", "high", "log", "step")
SEARCHABLE_SECTIONS = ("model", "train", "encoder")


@dataclass(frozen=True)
class Parameter:
    """One searched config key: `choices`, or a range [`low`, `high`] (int when both are ints)
    with an optional `log` scale or grid `step`."""

    path: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(
            isinstance(v, int) for v in (self.low, self.high, self.step or 1)
        )

    def suggest(self, trial) -> Any:
        """A value for this key from an Optuna trial (the trial's parameter is named by the key
        path)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.is_int:
            return trial.suggest_int(
                self.path, self.low, self.high, step=self.step or 1, log=self.log
            )
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether `value` is one this parameter can take (a choice; in the range, on its grid)."""
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.is_int and value != int(value):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step:
            steps = (value - self.low) / self.step
            return abs(steps - round(steps)) < 1e-9
        return True

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.path} in {list(self.choices)}"
        how = " (log)" if self.log else f" (step {self.step})" if self.step else ""
        return f"{self.path} in [{self.low}, {self.high}]{how}"

    def to_dict(self) -> dict:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class SearchSpace:
    """The parameters a study searches for one model family, and the file they came from."""

    family: str
    parameters: tuple[Parameter, ...]
    source: str

    def suggest(self, trial) -> dict[str, Any]:
        """{key path: value} for one trial."""
        return {parameter.path: parameter.suggest(trial) for parameter in self.parameters}

    def base_values(self, base: Config) -> dict[str, Any]:
        """{key path: the base config's value} for each parameter whose range holds it: the
        first trial of a new study, so a search starts from the shipped (or given) config and its
        best is never worse on validation than training with the base config as it is."""
        values = base.to_dict()
        found = {}
        for parameter in self.parameters:
            section, key = parameter.path.split(".", 1)
            value = values[section].get(key)
            if parameter.contains(value):
                found[parameter.path] = value
        return found

    def to_dict(self) -> dict:
        return {"model": self.family, "parameters": {p.path: p.to_dict() for p in self.parameters}}


def shipped_space_path(family: str) -> Path:
    """configs/search/<family>.yaml: from the source tree (checkout, editable install) or the
    wheel."""
    check_model_name(family)
    source_tree = Path(__file__).resolve().parents[2] / "configs" / "search"
    if source_tree.is_dir():
        return source_tree / f"{family}.yaml"
    return Path(str(resources.files("dnanet.configs.search") / f"{family}.yaml"))


def load_space(path: Path | None, base: Config) -> SearchSpace:
    """Read and check a space for the base config's family (`path` None: the shipped one)."""
    family = base.model["name"]
    if path is None:
        path = shipped_space_path(family)
        if not path.exists():
            raise DnanetError(
                f"no shipped search space for model '{family}' (configs/search/{family}.yaml); "
                "give one with --space FILE"
            )
    values = _read_yaml(Path(path))
    for key in values:
        if key not in ("model", "parameters"):
            raise DnanetError(f"{path}: unknown key '{key}'; valid keys: model, parameters")
    if values.get("model", family) != family:
        raise DnanetError(
            f"{path}: 'model' is {values['model']!r}, but the search is for {family!r} (--model or "
            "the config's model.name)"
        )
    given = values.get("parameters")
    if not isinstance(given, dict) or not given:
        raise DnanetError(
            f"{path}: 'parameters' must map config keys (e.g. train.lr) to ranges or lists of "
            "values"
        )
    parameters = tuple(_parameter(str(key), spec, path, base) for key, spec in given.items())
    return SearchSpace(family, parameters, str(path))


def apply_params(base: Config, params: dict[str, Any], source: str = "trial") -> Config:
    """The base config with each ``section.key`` of `params` replaced (checked like any config)."""
    values = base.to_dict()
    for path, value in params.items():
        section, key = path.split(".", 1)
        values[section] = {**values[section], key: value}
    return config_from_dict(values, source)


def config_yaml(config: Config, header: str) -> str:
    """A full config as YAML that `dnanet train -c` reads, under a comment `header`."""
    values = config.to_dict()
    values["data"] = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in values["data"].items()
    }
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(values, sort_keys=False, default_flow_style=False)


def _parameter(path: str, spec: Any, source: Path, base: Config) -> Parameter:
    where = f"{source}: parameters.{path}"
    section, dot, key = path.partition(".")
    if path == "seed" or section == "data":
        raise DnanetError(
            f"{where}: the split (seed, data.*) is fixed by the base config and cannot be searched"
        )
    if not dot or section not in SEARCHABLE_SECTIONS:
        raise DnanetError(
            f"{where}: not a config key path; use section.key with a section of "
            f"{', '.join(SEARCHABLE_SECTIONS)} (e.g. train.lr, model.dropout)"
        )
    valid = [
        name for name in base.to_dict()[section] if not (section == "model" and name == "name")
    ]
    if key not in valid:
        raise DnanetError(
            f"{where}: unknown key '{key}' in {section} for model '{base.model['name']}'; "
            f"valid keys: {', '.join(valid)}"
        )
    if isinstance(spec, list):
        if not spec or not all(isinstance(v, (bool, int, float, str)) for v in spec):
            raise DnanetError(
                f"{where}: a list of choices must hold at least one plain value (number, string, "
                f"true/false), got {spec!r}"
            )
        parameter = Parameter(path, choices=tuple(spec))
        values = list(spec)
    elif isinstance(spec, dict):
        parameter = _range(path, spec, where)
        values = [parameter.low, parameter.high]
    else:
        raise DnanetError(
            f"{where}: give a range {{low: A, high: B}} or a list of values, got {spec!r}"
        )
    for value in values:  # every bound and choice must make a valid config
        try:
            apply_params(base, {path: value}, str(source))
        except DnanetError as error:
            raise DnanetError(
                f"{where}: {value!r} is not a valid value ({str(error).split(': ', 1)[-1]})"
            ) from None
    return parameter


def _range(path: str, spec: dict, where: str) -> Parameter:
    unknown = [name for name in spec if name not in RANGE_FIELDS]
    if unknown:
        raise DnanetError(
            f"{where}: unknown field '{unknown[0]}'; a range has {', '.join(RANGE_FIELDS)}"
        )
    low, high, log, step = (
        spec.get("low"),
        spec.get("high"),
        spec.get("log", False),
        spec.get("step"),
    )
    low, high, step = (
        _number(value, name, where)
        for value, name in ((low, "low"), (high, "high"), (step, "step"))
    )
    if low is None or high is None:
        raise DnanetError(f"{where}: a range needs both low and high")
    if not low < high:
        raise DnanetError(f"{where}: low ({low}) must be below high ({high})")
    if not isinstance(log, bool):
        raise DnanetError(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise DnanetError(f"{where}: a log range needs low > 0, got {low}")
    if step is not None and (log or step <= 0):
        raise DnanetError(f"{where}: step must be positive and cannot be combined with log")
    return Parameter(path, low=low, high=high, log=log, step=step)


def _number(value: Any, name: str, where: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DnanetError(f"{where}: {name} must be a number, got {value!r}")
    return value
