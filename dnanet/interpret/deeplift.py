"""DeepLIFT/SHAP and integrated gradients against dinucleotide-shuffled references, through
tangermeme (`tangermeme.deep_lift_shap`): the hypothetical contributions ChromBPNet, bpnet-lite
and gReLU feed TF-MoDISco, for every dnanet family.

**How a dnanet model is explained.** tangermeme explains a module that maps one-hot sequences
``(N, 4, L)`` to outputs ``(N, 1)``. `OneHotObjective` is that module: it feeds the one-hot
tensor to the model in place of its input layer's features (a forward hook on ``model.input``),
takes the logits of the forward strand (and of the reverse complement when the run averages
strands) and passes them through `ObjectiveLayer`, the explained output (log-odds, a value, log
counts or a profile weight; `dnanet.interpret.attribution`).

**Rules.** DeepLIFT's rescale rule replaces the gradient of each nonlinear *module* tangermeme
has a rule for: ``nn.ReLU``, ``nn.GELU``, ``nn.LeakyReLU`` (every family's convolutions and
dense readout) and ``nn.MaxPool1d`` (the pooling between blocks, the readout's global max and
its position bins: `dnanet.models.layers.GlobalMaxPool`, `dnanet.models.layers.BinMaxPool`).
Layers with no closed-form rule get tangermeme's `integrated_gradients_op`: the path integral of
the layer's own gradient from its reference activation to its actual one (``*_NODES`` Gauss-
Legendre nodes), which keeps the summation rule up to the quadrature error: the explained output
(`ObjectiveLayer`: log-softmax, log-sigmoid), the LSTM's recurrence
(`dnanet.models.lstm.LstmStates`) and the transformer's encoder, attention and layer norms
included (`dnanet.models.transformer.WindowEncoder`). What is left is measured for every record
(`Explanation.summation_error`) rather than hidden.

**Integrated gradients** (``integrated_gradients``): the same machinery with
`integrated_gradients_op` on the whole `OneHotObjective` (``PATH_NODES`` nodes): the gradient
integrated along the straight path from each shuffled reference to the sequence, averaged over
the references (expected gradients). It obeys the summation rule up to the quadrature error.

**Summation check.** DeepLIFT's contributions of a sequence, averaged over its references, sum
to the output of the sequence minus the mean output of its references. `explain` returns, per
record, ``summation_error = sum(contributions) - (output - mean reference output)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from dnanet.inputs.encode import PAD, one_hot
from dnanet.models.layers import GlobalMaxPool
from dnanet.models.lstm import LstmStates
from dnanet.models.transformer import WindowEncoder

REFERENCE_METHODS = ("deepliftshap", "integrated_gradients")
LAYER_NODES = 32  # Gauss-Legendre nodes of the integrated-gradients rule on a cheap layer
RECURRENT_NODES = 8  # ... on the LSTM (each node reruns it; 8 left 1e-5 of an output of 6.7)
ENCODER_NODES = 32  # ... on the transformer's encoder (16 left 0.09 of 5.5, 32: 0.018)
PATH_NODES = 16  # ... on the whole model (integrated_gradients)
Objective = Callable[[list[torch.Tensor]], torch.Tensor]


class ObjectiveLayer(nn.Module):
    """Logits of S strands laid side by side ``(N, S * C)`` -> the explained output ``(N, 1)``;
    a module of its own so that DeepLIFT can give it a rule."""

    def __init__(self, objective: Objective, strands: int):
        super().__init__()
        self.objective, self.strands = objective, strands

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return self.objective(list(logits.chunk(self.strands, dim=1))).unsqueeze(1)


class OneHotObjective(nn.Module):
    """One-hot sequences ``(N, 4, L)`` (no padding; an unknown base is a zero column) -> the
    explained output of `model` ``(N, 1)``; with ``strands=2`` the mean of both strands'
    output as `objective` defines it (the reverse complement of a one-hot ``(N, 4, L)`` is its
    flip along both axes)."""

    def __init__(self, model: nn.Module, objective: Objective, strands: int = 1):
        super().__init__()
        self.model, self.strands = model, strands
        self.output = ObjectiveLayer(objective, strands)
        self._features: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = torch.zeros(x.shape[0], x.shape[2], dtype=torch.uint8, device=x.device)
        logits = []
        handle = self.model.input.register_forward_hook(self._replace)
        try:
            for strand in range(self.strands):
                self._features.append(x if strand == 0 else x.flip(1, 2))
                logits.append(self.model(codes))
        finally:
            handle.remove()
        return self.output(torch.cat(logits, dim=1))

    def _replace(self, module, inputs, output):
        """The input layer's features become the one-hot tensor (codes only give the mask)."""
        return self._features.pop(), output[1]


def shuffles(x: torch.Tensor, references: int, seed: int) -> torch.Tensor:
    """One-hot sequences ``(B, 4, L)`` -> `references` dinucleotide shuffles of each ``(B, R, 4,
    L)`` on the CPU (tangermeme's), shuffle k of every sequence drawn with seed ``seed + k``: a
    record gets the same references in any batch, shard or process."""
    from tangermeme.ersatz import dinucleotide_shuffle

    return torch.cat(
        [
            dinucleotide_shuffle(x.cpu(), n=1, random_state=[seed + k] * len(x), allow_N=True)
            for k in range(references)
        ],
        dim=1,
    )


@dataclass
class Explanation:
    """One batch explained: hypothetical contributions float32 ``(B, 4, L)``, the output of each
    sequence ``(B,)``, the mean output of its references ``(B,)`` and the summation error
    ``(B,)`` (contributions' sum minus the output's difference from the references')."""

    values: torch.Tensor
    output: torch.Tensor
    baseline: torch.Tensor
    summation_error: torch.Tensor


def explain(
    model: nn.Module,
    codes: torch.Tensor,
    method: str,
    objective: Objective,
    strands: int = 1,
    references: int = 20,
    seed: int = 0,
    batch_size: int = 64,
) -> Explanation:
    """Codes ``(B, L)`` of sequences of one length (no padding) -> their `Explanation` by
    `method` (``REFERENCE_METHODS``), against `references` dinucleotide shuffles of each sequence
    (tangermeme's, seeded by `seed`: reference k of every sequence is drawn with seed ``seed +
    k``, so the same records give the same references in any batch or shard). `batch_size`:
    sequence-reference pairs per forward pass."""
    from tangermeme.deep_lift_shap import _maxpool, deep_lift_shap, integrated_gradients_op

    if method not in REFERENCE_METHODS:
        raise ValueError(f"unknown method {method}; valid: {', '.join(REFERENCE_METHODS)}")
    if bool((codes == PAD).any()):
        raise ValueError("explain takes sequences of one length, without padding")
    device = codes.device
    x = one_hot(codes)  # (B, 4, L)
    explained = OneHotObjective(model, objective, strands)
    rules = {
        ObjectiveLayer: integrated_gradients_op(LAYER_NODES),
        LstmStates: integrated_gradients_op(RECURRENT_NODES),
        WindowEncoder: integrated_gradients_op(ENCODER_NODES),
        GlobalMaxPool: _maxpool,
    }
    if method == "integrated_gradients":  # the whole path's rule overrides the layers' ones
        rules[OneHotObjective] = integrated_gradients_op(PATH_NODES)
    shuffled = shuffles(x, references, seed)  # (B, R, 4, L)
    was_training = model.training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the summation check below is reported per record
        try:
            values = deep_lift_shap(
                explained,
                x.cpu(),
                references=shuffled,
                hypothetical=True,
                batch_size=batch_size,
                additional_nonlinear_ops=rules,
                only_warn=True,
                device=device,
            )
        finally:
            model.train(was_training)
    values = values.to(device).float()
    with torch.no_grad():
        output = explained(x)[:, 0]
        flat = shuffled.to(device).flatten(0, 1)
        baseline = (
            torch.cat(
                [explained(flat[i : i + batch_size])[:, 0] for i in range(0, len(flat), batch_size)]
            )
            .view(len(x), references)
            .mean(1)
        )
    error = (values * x).sum((1, 2)) - (output - baseline)
    return Explanation(values, output, baseline, error)


SUMMATION_TOLERANCE = 0.01  # a record counts when |error| > this x max(1, |output difference|)
NAMED_RECORDS = 5  # records beyond the tolerance named in the line


def summation_line(
    method: str,
    errors: np.ndarray,
    differences: np.ndarray,
    ids: list[str],
    tolerance: float = SUMMATION_TOLERANCE,
) -> str:
    """The summation check in one line: per-record errors ``(N,)`` (`Explanation.
    summation_error`) against the outputs' differences from their references ``(N,)``, with the
    records beyond `tolerance` of their difference (at least `tolerance` in output units)
    counted and the worst named."""
    size = np.abs(errors)
    beyond = np.flatnonzero(size > tolerance * np.maximum(1.0, np.abs(differences)))
    worst = beyond[np.argsort(-size[beyond])][:NAMED_RECORDS]
    named = ", ".join(f"{ids[i]} ({errors[i]:+.3g})" for i in worst)
    more = f" and {len(beyond) - len(worst):,} more" if len(beyond) > len(worst) else ""
    return (
        f"{method} summation check: contributions sum to output - mean reference output within "
        f"median {np.median(size):.2g}, max {size.max():.2g} (outputs differ from their "
        f"references by median {np.median(np.abs(differences)):.2g}); {len(beyond):,} of "
        f"{len(errors):,} records beyond {tolerance:.0%} of it (at least {tolerance:g})"
        + (f": {named}{more}" if len(beyond) else "")
    )
