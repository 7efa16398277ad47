"""Option values that come from the library's registries (models, attribution and motif-scoring
methods, embedding layers and pools, ...), so that --help and tab completion list exactly what the
library accepts: a model added to `dnanet.models.MODELS` shows up in `dnanet train --help`.

An option completes its values from a registry
(``typer.Option(..., autocompletion=choices.MODELS)``) and `show_choices` ends the help of every
option completed from a closed list with that list ("Choices: cnn, lstm, ..."). The registries
live in modules that import torch (about a second), which `dnanet --help` and the completion of a
command name should not wait for, so a registry is read only when a command's own help is shown or
one of its values is completed.

A value is not checked here: each command refuses a value outside the same registry in the one
line every user error gets (Typer's own check would print its usage box and exit 2).
"""

from __future__ import annotations

import functools
import importlib


class RegistryChoice:
    """The names in `module`.`attribute` (a tuple of names, or a dict keyed by them), after `extra`
    (e.g. "auto"); `complete` is the Typer ``autocompletion`` function."""

    def __init__(self, module: str, attribute: str, extra: tuple[str, ...] = ()):
        self.module, self.attribute, self.extra = module, attribute, extra

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:
        return (*self.extra, *getattr(importlib.import_module(self.module), self.attribute))

    def complete(self, incomplete: str) -> list[str]:
        """The names that start with the text typed so far."""
        return [choice for choice in self.choices if choice.startswith(incomplete or "")]


def show_choices(command, ctx) -> None:
    """End the help of each option of `command` (a click command) whose completion is a closed list
    of names (not file names) with "Choices: a, b, c." Done once per option: a command object can
    be resolved many times in one process."""
    for param in getattr(command, "params", []):
        if getattr(param, "_choices_shown", False) or param.param_type_name != "option":
            continue
        param._choices_shown = True
        offered = param.shell_complete(ctx, "")
        if offered and all(getattr(item, "type", "plain") == "plain" for item in offered):
            names = ", ".join(getattr(item, "value", item) for item in offered)
            param.help = f"{param.help or ''} Choices: {names}.".strip()


# The completion functions, one per registry (Typer needs a function, not a callable object).
MODELS = RegistryChoice("dnanet.models", "MODELS").complete
TASKS = RegistryChoice("dnanet.data.tasks", "KINDS", extra=("auto",)).complete
PRECISIONS = RegistryChoice("dnanet.runtime.precision", "SETTINGS").complete
ATTRIBUTION_METHODS = RegistryChoice("dnanet.interpret.attribution", "METHODS").complete
MOTIF_METHODS = RegistryChoice(
    "dnanet.interpret.motifs.scores", "METHODS", extra=("auto",)
).complete
AGGREGATIONS = RegistryChoice("dnanet.interpret.motifs.scores", "AGGREGATIONS").complete
MOTIF_ENGINES = RegistryChoice("dnanet.interpret.motifs.pipeline", "ENGINES").complete
MOTIF_BACKGROUNDS = RegistryChoice("dnanet.interpret.motifs.pipeline", "BACKGROUNDS").complete
LAYERS = RegistryChoice("dnanet.inference.embed", "LAYERS").complete
POOLS = RegistryChoice("dnanet.inference.embed", "POOLS").complete
MEMBERS = RegistryChoice("dnanet.models.ensemble", "COMBINE").complete
VARIANT_NULLS = RegistryChoice("dnanet.interpret.variant_null", "NULL_KINDS").complete
OPTIMIZERS = RegistryChoice("dnanet.bottleneck", "OPTIMIZERS").complete
EXPORT_FORMATS = RegistryChoice("dnanet.inference.export", "FORMATS").complete
