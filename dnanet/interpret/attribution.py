"""Per-base attributions: how much each base of a sequence moves one model output. The one
implementation behind `dnanet attribute` and the per-base scores of `dnanet motifs`.

**The output explained** (an `Objective`: the logits of each strand, ``[(B, C), ...]`` -> ``(B,)``):

- `target_output` (`dnanet attribute`): what `dnanet predict` reports for the target, on the
  scale where effects add. Classification (binary, multiclass) and multilabel: the target's
  log-odds ``log(p / (1 - p))``, p its probability; regression: the predicted value in the
  data's units; a signal run (counts, profile): the counts head's predicted log(1 + reads) of the
  target track (the first T outputs). When the run averages strands, p (or the value) is the mean
  over the forward and the reverse-complement strand, exactly as predict reports it, so
  attributions explain the strand-averaged output (gradients flow through both strands back to
  the forward bases).
- `profile_output` (`dnanet attribute --profile`, profile runs): the shape of the target track's
  predicted profile as ChromBPNet explains it, ``sum_w (z_w - mean(z)) * softmax(z)_w`` over the
  W output bases of its profile logits z, the softmax detached (a constant weight in the
  gradient: each base's logit counts as much as the base's predicted share of the reads; the
  centring makes it blind to a shift of all logits, which the softmax ignores too). bpnet-lite's
  ``ProfileWrapper`` keeps the softmax's gradient; ChromBPNet's original stops it, as here. The
  sum is over positions, so the reverse strand's profile needs no flipping before the mean.
- `centred_logit` (`dnanet motifs`): the class logit minus the mean logit, forward strand only
  (for two classes exactly half the log-odds, so its seqlets are those of the log-odds).

**Methods** (``METHODS``), each hypothetical attributions float32 ``(B, 4, L)`` in the one-hot
layout of `dnanet.inputs.encode` (channels A C G T): a value for every base at every position, as
TF-MoDISco expects (it multiplies them by the one-hot sequence to get the actual contributions).

- ``ism``: in-silico mutagenesis, exact: every other base at every position (all four at an
  unknown base ``N``) is predicted, in batches; ``deltas`` = output(mutant) - output(sequence),
  0 at the reference base. The attribution is the deltas centred per position (minus their mean
  over A C G T), so the reference base's value is how much better the sequence scores than the
  average base there. 3 forward passes per base (6 when strands are averaged).
- ``saliency``: the gradient of the output with respect to the one-hot input, centred per
  position (minus its mean over A C G T). A one-hot input can only move along the simplex, and
  centring removes the part of the gradient that would leave it (Majdandzic et al. 2023); for a
  model linear in the one-hot input the centred gradient equals the centred ISM deltas.
- ``grad_x_input``: the centred gradient times the one-hot input: the reference base's
  saliency, zero at the other bases (already multiplied by the sequence: for TF-MoDISco prefer
  ``saliency`` or ``ism``, whose other bases carry the hypothetical scores it compares).
- ``deepliftshap``: DeepLIFT/SHAP hypothetical contributions against ``references``
  dinucleotide shuffles of each sequence (seeded), through tangermeme; ``integrated_gradients``:
  the gradient integrated from each shuffle to the sequence (`dnanet.interpret.deeplift`, which
  says which layers have exact rules). Both come with a per-record summation check: the
  contributions of the record's own bases sum to its output minus its references' mean output.
  They are not centred (the hypothetical values are what TF-MoDISco reads).

Attribution runs in float32 on every device (ISM differences of close outputs need it; predict
uses mixed precision on CUDA). Values are 0 past a sequence's end and outside ``region``.
Gradient methods need a one-hot model (a k-mer model's input is not per base): use ``ism``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.data.loaders import BATCH_BASES
from dnanet.data.signal_task import split_flat
from dnanet.data.tasks import SIGNAL, Task
from dnanet.errors import DnanetError
from dnanet.inference.predict import evaluation_mode
from dnanet.inputs.encode import reverse_complement, reverse_complement_one_hot
from dnanet.interpret.deeplift import REFERENCE_METHODS, explain
from dnanet.interpret.mutants import Objective, mutant_outputs

METHODS = ("ism", "saliency", "grad_x_input") + REFERENCE_METHODS
CPU_PAIRS = 32  # sequence-reference pairs per DeepLIFT pass on a CPU (1.6x faster than 128)


OUTPUT_NAMES = ("log_odds", "value", "log_counts", "profile")  # what an objective explains


def output_name(task: Task, profile: bool = False) -> str:
    """The name of what `explained_output` explains (``OUTPUT_NAMES``): log-odds (classification,
    multilabel), value (regression), log counts (a signal run) or the profile (``--profile``)."""
    if profile:
        return "profile"
    if task.kind in SIGNAL:
        return "log_counts"
    return "value" if task.kind == "regression" else "log_odds"


def explained_output(task: Task, target: int, profile: bool = False) -> Objective:
    """The objective of `dnanet attribute`: `profile_output` with `profile` (a profile run only),
    else `target_output`."""
    if not profile:
        return target_output(task, target)
    if task.kind != "profile":
        raise DnanetError(
            f"--profile explains the predicted profile of a profile run; this run is {task.kind} "
            "(leave --profile out to explain its output)"
        )
    return profile_output(task, target)


def target_output(task: Task, target: int) -> Objective:
    """The objective of `dnanet attribute` (module docstring): per-strand logits ``[(B, C)]`` ->
    the target's strand-averaged log-odds, regression value or, for a signal run, predicted
    log(1 + reads) of track `target` ``(B,)``."""

    def objective(strand_logits: list[torch.Tensor]) -> torch.Tensor:
        logits = torch.stack([z.float() for z in strand_logits])  # (S, B, C)
        if task.is_regression:  # regression and counts: standardised outputs
            return (logits[..., target] * task.std[target] + task.mean[target]).mean(0)
        if task.kind == "profile":  # the counts head's log(1 + reads), not standardised
            return logits[..., target].mean(0)
        if task.kind == "multilabel":
            log_p, log_q = F.logsigmoid(logits[..., target]), F.logsigmoid(-logits[..., target])
        else:
            log_probabilities = torch.log_softmax(logits, -1)  # (S, B, C)
            log_p = log_probabilities[..., target]
            others = torch.cat(
                [log_probabilities[..., :target], log_probabilities[..., target + 1 :]], -1
            )
            log_q = torch.logsumexp(others, -1)  # log(1 - p)
        return torch.logsumexp(log_p, 0) - torch.logsumexp(log_q, 0)  # log(mean p / mean(1 - p))

    return objective


def profile_output(task: Task, target: int) -> Objective:
    """The objective of `dnanet attribute --profile` (module docstring): per-strand flat logits
    ``[(B, T + T*W)]`` -> ChromBPNet's softmax-weighted, mean-centred profile logits of track
    `target`, summed over the W bases and averaged over the strands ``(B,)``."""
    tracks, width = len(task.names), task.width

    def objective(strand_logits: list[torch.Tensor]) -> torch.Tensor:
        values = []
        for flat in strand_logits:
            logits = split_flat(flat.float(), tracks, width)[1][:, target]  # (B, W)
            centred = logits - logits.mean(-1, keepdim=True)
            values.append((centred * torch.softmax(logits, -1).detach()).sum(-1))
        return torch.stack(values).mean(0)

    return objective


def centred_logit(target: int) -> Objective:
    """The objective of `dnanet motifs`: class `target`'s logit minus the mean logit ``(B,)``."""
    return lambda strand_logits: torch.stack(
        [z[:, target] - z.mean(1) for z in strand_logits]
    ).mean(0)


def resolve_target(task: Task, name: str | None) -> int:
    """The output `--target NAME` names; without a name: a binary task's positive (first) class,
    as `dnanet evaluate` takes it, or a single regression target or track. Other tasks need a
    name."""
    kinds = {"regression": "targets", "counts": "tracks", "profile": "tracks"}.get(
        task.kind, "classes" if task.is_classification else "labels"
    )
    if name is None:
        if task.kind == "binary" or len(task.names) == 1:
            return 0
        raise DnanetError(
            f"--target is needed: this {task.kind} run has {len(task.names)} {kinds}: "
            f"{', '.join(task.names)}"
        )
    if name not in task.names:
        raise DnanetError(f"--target {name}: not one of the run's {kinds}: {', '.join(task.names)}")
    return task.names.index(name)


def has_one_hot_input(model: nn.Module) -> bool:
    """Whether the model reads one-hot bases (gradient methods need a per-base input)."""
    return getattr(getattr(model, "input", None), "encoder", None) == "onehot"


def check_method(model: nn.Module, method: str) -> None:
    """Refuse an unknown method, or a gradient method for a model without one-hot input."""
    if method not in METHODS:
        raise DnanetError(f"--method {method}: valid values: {', '.join(METHODS)}")
    if method != "ism" and not has_one_hot_input(model):
        raise DnanetError(
            f"--method {method} needs a model with one-hot input (this one reads k-mers, not "
            "bases); use --method ism"
        )


def input_gradient(
    model: nn.Module,
    codes: torch.Tensor,
    lengths: torch.Tensor,
    objective: Objective,
    strands: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of `objective` with respect to the input layer's features of the forward strand
    ``(B, C, W)`` (one-hot: ``(B, 4, L)``), those features, and the objective ``(B,)``. With
    ``strands=2`` (one-hot models) the reverse strand is fed the reverse complement of the same
    features, so its gradient flows back to the forward bases."""
    if strands == 2 and not has_one_hot_input(model):
        raise ValueError("strand-averaged gradients need a one-hot model")
    replacements: list[torch.Tensor] = []
    captured: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):  # the features become a leaf we can differentiate by
        features, mask = output
        if replacements:
            return replacements.pop(), mask
        captured["x"] = features.detach().requires_grad_(True)
        return captured["x"], mask

    handle = model.input.register_forward_hook(hook)
    try:
        with evaluation_mode(model), torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            logits = [model(codes)]
            if strands == 2:
                replacements.append(reverse_complement_one_hot(captured["x"], lengths))
                logits.append(model(reverse_complement(codes, lengths)))
            values = objective(logits)
            (gradient,) = torch.autograd.grad(values.sum(), captured["x"])
    finally:
        handle.remove()
    return gradient, captured["x"].detach(), values.detach()


def centre(values: torch.Tensor) -> torch.Tensor:
    """Values ``(B, 4, L)`` minus their mean over the four bases at each position."""
    return values - values.mean(1, keepdim=True)


def outputs(
    model: nn.Module,
    codes: torch.Tensor,
    lengths: torch.Tensor,
    objective: Objective,
    strands: int = 1,
) -> torch.Tensor:
    """The objective ``(B,)`` of codes ``(B, L)`` (both strands' logits with ``strands=2``),
    float32."""
    with evaluation_mode(model):
        logits = [model(codes)] + (
            [model(reverse_complement(codes, lengths))] if strands == 2 else []
        )
        return objective(logits)


def substitutions(
    codes: torch.Tensor, lengths: torch.Tensor, region: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every single-base change of codes ``(B, L)`` inside `region` (0-based, half-open) and each
    sequence: (row, position, new base) int64 ``(M,)`` each; a base becomes each of the three
    others, an unknown base each of the four."""
    start, end = region or (0, codes.shape[1])
    positions = torch.arange(start, min(end, codes.shape[1]), device=codes.device)  # (P,)
    bases = torch.arange(4, device=codes.device)
    reference = codes[:, positions].long()  # (B, P)
    inside = positions < lengths.to(codes.device)[:, None]  # (B, P)
    row, column, base = (inside[..., None] & (reference[..., None] != bases)).nonzero(as_tuple=True)
    return row, positions[column], base


def mutagenesis(
    model: nn.Module,
    codes: torch.Tensor,
    lengths: torch.Tensor,
    objective: Objective,
    strands: int = 1,
    region: tuple[int, int] | None = None,
    batch_size: int = 128,
    shared: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact in-silico mutagenesis of codes ``(B, L)``: deltas float32 ``(B, 4, L)``, the objective
    of each `substitutions` mutant minus the sequence's (0 elsewhere), and the sequences'
    objective ``(B,)``. A one-hot CNN shares the mutants' computation
    (`dnanet.interpret.mutants`; `shared=False` turns that off); other models predict them
    `batch_size` at a time (fewer when they would pass `dnanet.data.loaders.BATCH_BASES` bases)."""
    lengths = lengths.to(codes.device)
    reference = outputs(model, codes, lengths, objective, strands)
    deltas = torch.zeros(codes.shape[0], 4, codes.shape[1], device=codes.device)
    rows, positions, bases = substitutions(codes, lengths, region)
    per_pass = max(1, min(batch_size, BATCH_BASES // max(1, codes.shape[1])))
    found = mutant_outputs(
        model, codes, lengths, (rows, positions, bases), objective, strands, per_pass, shared
    )
    deltas[rows, bases, positions] = found - reference[rows]
    return deltas, reference


@dataclass
class Attributions:
    """One batch's attributions: ``values`` float32 ``(B, 4, L)`` (hypothetical, see the module
    docstring), the objective of each sequence ``reference`` ``(B,)``, for ISM the raw
    ``deltas`` ``(B, 4, L)``, and for the reference methods (deepliftshap, integrated_gradients)
    the mean output of each sequence's shuffled references ``baseline`` ``(B,)`` and the
    ``summation_error`` ``(B,)`` (None otherwise)."""

    values: torch.Tensor
    reference: torch.Tensor
    deltas: torch.Tensor | None = None
    baseline: torch.Tensor | None = None
    summation_error: torch.Tensor | None = None


def attribute(
    model: nn.Module,
    codes: torch.Tensor,
    lengths: torch.Tensor,
    method: str,
    objective: Objective,
    strands: int = 1,
    region: tuple[int, int] | None = None,
    batch_size: int = 128,
    references: int = 20,
    seed: int = 0,
) -> Attributions:
    """Attributions of codes ``(B, L)`` (lengths ``(B,)``) by `method` toward `objective`; 0 past
    each sequence's end and outside `region` (0-based, half-open). `references` and `seed`: the
    shuffled references of deepliftshap and integrated_gradients (`reference_attributions`)."""
    lengths = lengths.to(codes.device)
    start, end = region or (0, codes.shape[1])
    positions = torch.arange(codes.shape[1], device=codes.device)
    inside = ((positions >= start) & (positions < end) & (positions < lengths[:, None])).unsqueeze(
        1
    )  # (B, 1, L)
    if method == "ism":
        deltas, reference = mutagenesis(
            model, codes, lengths, objective, strands, region, batch_size
        )
        return Attributions(centre(deltas) * inside, reference, deltas)
    check_method(model, method)
    if method in REFERENCE_METHODS:
        found = reference_attributions(
            model, codes, lengths, method, objective, strands, references, seed, batch_size
        )
        found.values = found.values * inside
        return found
    gradient, x, reference = input_gradient(model, codes, lengths, objective, strands)
    values = centre(gradient) * inside
    return Attributions(values * x if method == "grad_x_input" else values, reference)


def reference_attributions(
    model: nn.Module,
    codes: torch.Tensor,
    lengths: torch.Tensor,
    method: str,
    objective: Objective,
    strands: int,
    references: int,
    seed: int,
    batch_size: int,
) -> Attributions:
    """deepliftshap or integrated_gradients of codes ``(B, L)``: each group of records of one
    length explained on its own bases (`dnanet.interpret.deeplift.explain` takes no padding),
    then padded back with zero columns."""
    values = torch.zeros(codes.shape[0], 4, codes.shape[1], device=codes.device)
    output, baseline, error = (torch.zeros(codes.shape[0], device=codes.device) for _ in "obe")
    pairs = batch_size if codes.is_cuda else min(batch_size, CPU_PAIRS)
    for length in torch.unique(lengths).tolist():
        rows = torch.nonzero(lengths == length).squeeze(1)
        found = explain(
            model, codes[rows, :length], method, objective, strands, references, seed, pairs
        )
        values[rows, :, :length] = found.values
        output[rows], baseline[rows], error[rows] = (
            found.output,
            found.baseline,
            found.summation_error,
        )
    return Attributions(values, output, baseline=baseline, summation_error=error)
