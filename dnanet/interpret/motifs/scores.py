"""A score per nucleotide: how much each base drives the model's output for one class.

Gradients and mutagenesis come from `dnanet.interpret.attribution` (the code `dnanet attribute`
runs), toward its `centred_logit` objective for a classification run, or for a signal run the
track's predicted log(1 + reads) (`attribution.target_output`, what `dnanet attribute` explains by
default), forward strand only (`motif_objective`); this module reduces them to one score per base.

Methods (``METHODS``):

- ``gradient``: gradient × input on the model's input features (every family). For one-hot
  inputs the gradient is centred across A C G T at each position first (so a base's score does
  not depend on an arbitrary per-position offset); the score of a base is its channel's value.
  The objective is the class logit minus the mean logit (for two classes: half the log-odds),
  or a signal track's predicted log counts.
- ``ism``: in-silico mutagenesis: the objective of the sequence minus the mean objective over
  the three single-base substitutions at each position (3 L forward passes per sequence).
- ``attention``: transformers only; attention weights mapped back to bases (`attention_scores`),
  weighted toward the class (`class_weighted_attention`). Attention alone is class-blind: it
  marks the sites the model reads whichever class they argue for, so in a binary task the
  stronger class's sites would win the other class's seqlets too. Each base's attention is
  multiplied by ``max(0, gradient × input summed over a window centred on the base)`` for the
  class: attention says where the model looks, the gradient which class that stretch argues for.

Scores are float32 ``(B, L)``, zero past each sequence's end. k-mer encoders: a k-mer window's
score is spread evenly over its k bases (`dnanet.inputs.encode.spread_windows`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.data.tasks import SIGNAL, Task
from dnanet.inputs.encode import PAD, UNKNOWN, spread_windows
from dnanet.interpret import attribution
from dnanet.interpret.motifs.attention import attention_scores
from dnanet.models.ensemble import Ensemble

METHODS = ("gradient", "ism", "attention")
AGGREGATIONS = ("rollout", "cls", "mean")
ObjectiveOf = Callable[[int], attribution.Objective]  # output index -> what its scores explain


def motif_objective(task: Task) -> ObjectiveOf:
    """What the scores toward output `target` explain: a classification run's centred class
    logit, a signal run's predicted log(1 + reads) of track `target` (module docstring)."""
    if task.kind in SIGNAL:
        return lambda target: attribution.target_output(task, target)
    return attribution.centred_logit


def gradient_x_input(
    model: nn.Module, codes: torch.Tensor, target: int, objective_of: ObjectiveOf | None = None
) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> gradient × input scores float32 ``(B, L)`` toward output
    `target` (one-hot: `dnanet.interpret.attribution`'s grad_x_input summed over the bases);
    `objective_of` (default: the centred class logit) says what the output is."""
    objective = (objective_of or attribution.centred_logit)(target)
    gradient, x, _ = attribution.input_gradient(model, codes, (codes != PAD).sum(1), objective)
    if model.input.encoder == "onehot":
        return (attribution.centre(gradient) * x).sum(1) * (codes != PAD)  # (B, L)
    per_window = (gradient * x).sum(1)  # (B, W)
    return spread_windows(per_window, model.input.k, model.input.stride, codes)


def mutagenesis(
    model: nn.Module, codes: torch.Tensor, target: int, objective_of: ObjectiveOf | None = None
) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> in-silico mutagenesis scores float32 ``(B, L)``: objective of the
    sequence minus the mean objective of its three substitutions at each position (0 at unknown
    bases), from `dnanet.interpret.attribution.mutagenesis`'s deltas; `objective_of` as for
    `gradient_x_input`."""
    objective = (objective_of or attribution.centred_logit)(target)
    deltas, _ = attribution.mutagenesis(model, codes, (codes != PAD).sum(1), objective)
    return -deltas.sum(1) / 3 * (codes < UNKNOWN)


def class_weighted_attention(
    attention: torch.Tensor, gradient: torch.Tensor, window: int
) -> torch.Tensor:
    """Attention ``(B, L)`` and the class's gradient × input ``(B, L)`` -> attention × max(0, the
    gradient × input summed over the `window` bases centred on each base) ``(B, L)``."""
    kernel = torch.ones(1, 1, window, dtype=gradient.dtype, device=gradient.device)
    summed = F.conv1d(gradient.unsqueeze(1), kernel, padding=window // 2).squeeze(1)[
        :, : gradient.shape[1]
    ]
    return attention * summed.clamp(min=0)


def score_batch(
    model: nn.Module,
    codes: torch.Tensor,
    method: str,
    target: int,
    aggregation: str = "rollout",
    window: int = 15,
    objective_of: ObjectiveOf | None = None,
) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> scores float32 ``(B, L)`` by `method` (see the module docstring);
    `window`: bases of gradient × input summed to weight attention toward output `target`;
    `objective_of`: what the output is (default: the centred class logit; `motif_objective`)."""
    if method == "gradient":
        return gradient_x_input(model, codes, target, objective_of)
    if method == "ism":
        return mutagenesis(model, codes, target, objective_of)
    if method == "attention":
        return class_weighted_attention(
            attention_scores(model, codes, aggregation),
            gradient_x_input(model, codes, target, objective_of),
            window,
        )
    raise ValueError(f"unknown scoring method '{method}'; valid: {', '.join(METHODS)}")


def has_attention(model: nn.Module) -> bool:
    """Whether the model has self-attention layers `attention_scores` can read (an ensemble:
    every member has)."""
    if isinstance(model, Ensemble):
        return all(has_attention(member) for member in model.members)
    encoder = getattr(model, "encoder", None)
    return isinstance(encoder, nn.TransformerEncoder) and hasattr(model, "tokens")
