"""A score per nucleotide: how much each base drives the model's output for one class.

Methods (``METHODS``):

- ``gradient``: gradient × input on the model's input features (every family). For one-hot
  inputs the gradient is centred across A C G T at each position first (so a base's score does
  not depend on an arbitrary per-position offset); the score of a base is its channel's value.
  The objective is the class logit minus the mean logit (for two classes: half the log-odds).
- ``ism``: in-silico mutagenesis: the objective of the sequence minus the mean objective over
  the three single-base substitutions at each position (3 L forward passes per sequence).
- ``attention``: transformers only; attention weights mapped back to bases (`attention_scores`),
  weighted toward the class (`class_weighted_attention`). Attention alone is class-blind: it
  marks the sites the model reads whichever class they argue for, so in a binary task the
  stronger class's sites would win the other class's seqlets too. Each base's attention is
  multiplied by ``max(0, gradient × input summed over a window centred on the base)`` for the
  class: attention says where the model looks, the gradient which class that stretch argues for.

Scores are float32 ``(B, L)``, zero past each sequence's end. k-mer encoders: a k-mer window's
score is spread evenly over its k bases (`spread_windows`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.encode import PAD, UNKNOWN
from dnanet.infer import evaluation_mode

METHODS = ("gradient", "ism", "attention")
AGGREGATIONS = ("rollout", "cls", "mean")


def class_objective(logits: torch.Tensor, target: int) -> torch.Tensor:
    """Logits ``(B, C)`` -> the class's logit minus the mean logit ``(B,)``."""
    return logits[:, target] - logits.mean(1)


def gradient_x_input(model: nn.Module, codes: torch.Tensor, target: int) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> gradient × input scores float32 ``(B, L)`` for class `target`."""
    captured: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):  # make the input features a leaf we can differentiate by
        features, mask = output
        captured["x"] = features.detach().requires_grad_(True)
        return captured["x"], mask

    handle = model.input.register_forward_hook(hook)
    try:
        with evaluation_mode(model), torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            objective = class_objective(model(codes), target).sum()
            (gradient,) = torch.autograd.grad(objective, captured["x"])
    finally:
        handle.remove()
    x = captured["x"].detach()  # (B, C, W)
    if model.input.encoder == "onehot":
        gradient = gradient - gradient.mean(1, keepdim=True)
        return (gradient * x).sum(1) * (codes != PAD)  # (B, L)
    per_window = (gradient * x).sum(1)  # (B, W)
    return spread_windows(per_window, model.input.k, model.input.stride, codes)


def mutagenesis(model: nn.Module, codes: torch.Tensor, target: int) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> in-silico mutagenesis scores float32 ``(B, L)``: objective of the
    sequence minus the mean objective of its three substitutions at each position."""
    scores = torch.zeros(codes.shape, dtype=torch.float32, device=codes.device)
    with evaluation_mode(model):
        reference = class_objective(model(codes), target)  # (B,)
        for row in range(len(codes)):
            positions = ((codes[row] != PAD) & (codes[row] != UNKNOWN)).nonzero().squeeze(1)  # (P,)
            variants = codes[row].repeat(3 * len(positions), 1)  # (3P, L)
            index = torch.arange(len(variants), device=codes.device)
            shift = torch.arange(1, 4, device=codes.device).repeat_interleave(len(positions))
            column = positions.repeat(3)
            variants[index, column] = ((codes[row, column].long() + shift) % 4).to(codes.dtype)
            mutated = class_objective(model(variants), target).view(3, -1).mean(0)  # (P,)
            scores[row, positions] = reference[row] - mutated
    return scores


def class_weighted_attention(attention: torch.Tensor, gradient: torch.Tensor, window: int) -> torch.Tensor:
    """Attention ``(B, L)`` and the class's gradient × input ``(B, L)`` -> attention × max(0, the
    gradient × input summed over the `window` bases centred on each base) ``(B, L)``."""
    kernel = torch.ones(1, 1, window, dtype=gradient.dtype, device=gradient.device)
    summed = F.conv1d(gradient.unsqueeze(1), kernel, padding=window // 2).squeeze(1)[:, : gradient.shape[1]]
    return attention * summed.clamp(min=0)


def spread_windows(per_window: torch.Tensor, k: int, stride: int, codes: torch.Tensor) -> torch.Tensor:
    """Scores of k-mer windows ``(B, W)`` (window w covers bases ``w*stride .. w*stride+k-1``) ->
    bases ``(B, L)``: each window adds score/k to each of its bases."""
    kernel = torch.full((1, 1, k), 1.0 / k, device=per_window.device)
    bases = F.conv_transpose1d(per_window.unsqueeze(1), kernel, stride=stride).squeeze(1)  # (B, (W-1)s+k)
    length = codes.shape[1]
    bases = F.pad(bases, (0, max(0, length - bases.shape[1])))[:, :length]
    return bases * (codes != PAD)


def score_batch(model: nn.Module, codes: torch.Tensor, method: str, target: int,
                aggregation: str = "rollout", window: int = 15) -> torch.Tensor:
    """Codes uint8 ``(B, L)`` -> scores float32 ``(B, L)`` by `method` (see the module docstring);
    `window`: bases of gradient × input summed to weight attention toward class `target`."""
    if method == "gradient":
        return gradient_x_input(model, codes, target)
    if method == "ism":
        return mutagenesis(model, codes, target)
    if method == "attention":
        from dnanet.motifs.attention import attention_scores

        return class_weighted_attention(attention_scores(model, codes, aggregation),
                                        gradient_x_input(model, codes, target), window)
    raise ValueError(f"unknown scoring method '{method}'; valid: {', '.join(METHODS)}")


def has_attention(model: nn.Module) -> bool:
    """Whether the model has self-attention layers `attention_scores` can read."""
    encoder = getattr(model, "encoder", None)
    return isinstance(encoder, nn.TransformerEncoder) and hasattr(model, "tokens")
