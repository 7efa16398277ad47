"""The output of many single-base mutants: what in-silico mutagenesis (and a SNV) asks of a model.

`mutant_outputs` predicts each mutant's objective (`dnanet.interpret.attribution.Objective`).
A one-hot CNN shares the computation (`dnanet.models.sharing`): only the receptive field of
each substitution goes through the convolutions again and only the position bins it touches are
pooled again, so a mutant costs about the same at any sequence length. Every other model (and
an ensemble) predicts each mutant in full, `per_pass` at a time. Both give the same numbers
within float rounding (tested within 1e-5).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from dnanet.inference.predict import evaluation_mode
from dnanet.inputs.encode import reverse_complement
from dnanet.models.sharing import mutant_logits, shares_computation

Objective = Callable[[list[torch.Tensor]], torch.Tensor]


def mutant_outputs(
    model: nn.Module,
    codes: torch.Tensor,
    lengths: torch.Tensor,
    mutants: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    objective: Objective,
    strands: int = 1,
    per_pass: int = 128,
    shared: bool = True,
) -> torch.Tensor:
    """The objective float32 ``(M,)`` of each of M mutants ``(row, position, new base)`` of
    codes ``(B, L)`` (lengths ``(B,)``), both strands' logits with ``strands=2``. `shared=False`
    forces full passes (the reference the shared path is checked against)."""
    if shared and shares_computation(model):
        return _shared(model, codes, lengths, mutants, objective, strands)
    rows, positions, bases = mutants
    values = torch.zeros(len(rows), device=codes.device)
    with evaluation_mode(model):
        for start in range(0, len(rows), per_pass):
            part = slice(start, start + per_pass)
            row = rows[part]
            changed = codes[row].clone()  # (m, L)
            changed[torch.arange(len(row), device=codes.device), positions[part]] = bases[part].to(
                codes.dtype
            )
            logits = [model(changed)]
            if strands == 2:
                logits.append(model(reverse_complement(changed, lengths[row])))
            values[part] = objective(logits)
    return values


def _shared(model, codes, lengths, mutants, objective, strands) -> torch.Tensor:
    """`mutant_outputs` for a one-hot CNN: the sequences of each length are the sources, their
    reverse complements (the mutant's position mirrored, its base complemented) the other
    strand's."""
    rows, positions, bases = mutants
    values = torch.zeros(len(rows), device=codes.device)
    with evaluation_mode(model):
        for length in torch.unique(lengths[rows]).tolist():
            chosen = torch.nonzero(lengths[rows] == length).squeeze(1)
            records, sources = torch.unique(rows[chosen], return_inverse=True)
            sequences = codes[records, :length]  # (S, length), no padding
            at, base = positions[chosen], bases[chosen]
            logits = [mutant_logits(model, sequences, sources, at, base)[0]]
            if strands == 2:
                full = torch.full((len(records),), length, device=codes.device)
                reverse = reverse_complement(sequences, full)
                mirrored = mutant_logits(model, reverse, sources, length - 1 - at, 3 - base)
                logits.append(mirrored[0])
            values[chosen] = objective(logits)
    return values
