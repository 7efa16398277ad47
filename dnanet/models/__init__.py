"""The model registry: config names -> plain ``nn.Module`` classes (trunk ``embed`` + head).

Adding a model is one file in this package and one line in ``MODELS``, plus configs/<name>.yaml.
Constructors take only numbers, strings and bools: ``n_outputs``, the encoder arguments
(``encoder``, ``k``, ``stride``), then the model's own arguments.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from torch import nn

from dnanet.errors import DnanetError
from dnanet.models.cnn import CNN
from dnanet.models.lstm import LSTM
from dnanet.models.profile import ProfileModel
from dnanet.models.ternary_mlp import TernaryMLP
from dnanet.models.transformer import Transformer

MODELS: dict[str, type[nn.Module]] = {
    "cnn": CNN,
    "lstm": LSTM,
    "transformer": Transformer,
    "ternary_mlp": TernaryMLP,
}

ENCODER_ARGUMENTS = ("encoder", "k", "stride")
PROFILE_KERNEL = 75  # bases of the profile head's convolution (BPNet's final 75-wide layer)


def model_arguments(name: str) -> dict[str, tuple[type, Any]]:
    """A registered model's own constructor arguments: {argument: (type, default)}."""
    cls = MODELS[name]
    hints = typing.get_type_hints(cls.__init__)
    parameters = inspect.signature(cls.__init__).parameters
    return {
        key: (hints[key], parameter.default)
        for key, parameter in parameters.items()
        if key not in ("self", "n_outputs", *ENCODER_ARGUMENTS)
    }


def check_model_name(name: Any, where: str = "", key: str = "") -> None:
    """Refuse a name that is not in the registry with a one-line `DnanetError`: `where` (a file,
    or "--model foo") leads the message, `key` (e.g. "model.name") says which setting held it."""
    if not isinstance(name, str) or name not in MODELS:
        raise DnanetError(
            f"{where + ': ' if where else ''}unknown model '{name}'"
            f"{f' in {key!r}' if key else ''}; "
            f"valid models: {', '.join(MODELS)}"
        )


def build_model(name: str, n_outputs: int, arguments: dict[str, Any]) -> nn.Module:
    """Build a registered model from its name, output count and arguments (encoder ones
    included)."""
    check_model_name(name)
    return MODELS[name](n_outputs=n_outputs, **arguments)


def build_task_model(name: str, task, arguments: dict[str, Any]) -> nn.Module:
    """The model for a task (`dnanet.data.tasks.Task`): the registered family with one output per
    task output, or for a profile task (or a signal task with control tracks) that family as the
    trunk of a `ProfileModel` (counts and profile heads, `PROFILE_KERNEL` wide; control inputs)."""
    if task.kind != "profile" and not task.controls:
        return build_model(name, task.n_outputs, arguments)
    trunk = build_model(name, len(task.names), arguments)
    width = task.width if task.kind == "profile" else 0
    return ProfileModel(trunk, len(task.names), width, PROFILE_KERNEL, len(task.controls))
