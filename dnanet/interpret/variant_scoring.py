"""Scoring the windows of variants: each reference and alternative window's outputs.

`pair_scorer` gives ``score(refs, alts) -> (ref (K, n, C), alt (K, n, C))``, each member's
outputs (probabilities or values; K = 1 but for an ensemble) of n reference and n alternative
windows, strand-averaged when the run averages strands, as `dnanet predict` reports them.

Windows that repeat (the reference window of each allele of one multi-allelic record, or a
window any two variants share) are predicted once. For a one-hot CNN
(`dnanet.models.sharing`), an alternative window that differs from its reference in one base
(a SNV, and every draw of the ``snv`` null) is computed from the reference's feature maps: only
the receptive field of the changed base goes through the convolutions again. Equal to predicting
both windows in full within float rounding (tested within 1e-5).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dnanet.data.loaders import inference_batch_size
from dnanet.inference.predict import activate_reverse, evaluation_mode, predict_members
from dnanet.inputs.encode import reverse_complement, sequences_to_codes
from dnanet.models.sharing import ROW_BLOCK, mutant_logits, shares_computation
from dnanet.runtime.precision import precision_for

PairScorer = Callable[[list[bytes], list[bytes]], tuple[np.ndarray, np.ndarray]]


def pair_scorer(model, description: dict, task, batch_size: int, shared: bool = True) -> PairScorer:
    """``score(refs, alts)`` (module docstring), through
    `dnanet.inference.predict.predict_members` in batches of at most `batch_size` windows (fewer
    for long ones); `shared=False` predicts every window in full."""
    strands = bool(description["reverse_complement_average"])

    def predict(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        count, rows = len(codes), inference_batch_size(batch_size, codes.shape[1])
        rows = max(ROW_BLOCK, rows // ROW_BLOCK * ROW_BLOCK)
        missing = -count % ROW_BLOCK  # whole blocks: the same digits in any batch (models.sharing)
        codes = np.concatenate([codes, np.repeat(codes[-1:], missing, 0)])
        lengths = np.concatenate([lengths, np.repeat(lengths[-1:], missing)])
        parts = [
            predict_members(
                model, codes[i : i + rows], lengths[i : i + rows], strands, activate=task.activate
            ).numpy()
            for i in range(0, len(codes), rows)
        ]
        return np.concatenate(parts, axis=1)[:, :count]  # (K, N, C)

    def score(refs: list[bytes], alts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        windows, index = np.unique(np.array(refs + alts, dtype=object), return_inverse=True)
        if not (shared and shares_computation(model)):
            found = predict(*sequences_to_codes(list(windows)))[:, index]
            return found[:, : len(refs)], found[:, len(refs) :]
        found = _with_snvs(model, task, strands, list(windows), index, len(refs), predict)
        return found[:, index[: len(refs)]], found[:, index[len(refs) :]]

    return score


def _with_snvs(model, task, strands, windows, index, n, predict) -> np.ndarray:
    """Outputs ``(1, U, C)`` of the U distinct `windows`: an alternative window one base away
    from its reference (``index[i]`` and ``index[n + i]``) as a mutant of it, the reference from
    the same feature maps, the rest in full."""
    codes, lengths = sequences_to_codes(windows)
    ref_rows, alt_rows = index[:n], index[n:]
    changed = codes[ref_rows] != codes[alt_rows]  # (n, W)
    position = changed.argmax(1)
    base = codes[alt_rows, position]
    snv = (lengths[ref_rows] == lengths[alt_rows]) & (changed.sum(1) == 1) & (base < 4)
    kept = np.flatnonzero(snv)[np.unique(alt_rows[snv], return_index=True)[1]]  # one per window
    parents = np.unique(ref_rows[kept])
    full = np.setdiff1d(np.arange(len(windows)), np.concatenate([alt_rows[kept], parents]))
    found = {}
    if len(full):
        found.update(zip(full.tolist(), predict(codes[full], lengths[full])[0]))
    if len(kept):
        shared = _mutant_outputs(
            model, task, strands, codes, lengths, ref_rows[kept], position[kept], base[kept]
        )
        found.update(zip(alt_rows[kept].tolist(), shared[0]))
        found.update(zip(ref_rows[kept].tolist(), shared[1]))
    return np.stack([found[i] for i in range(len(windows))])[None]


def _mutant_outputs(model, task, strands, codes, lengths, parents, at, bases):
    """Outputs ``(m, C)`` of window ``parents[i]`` with base ``bases[i]`` at ``at[i]``, and of
    the parent itself ``(m, C)``, grouped by length (`dnanet.models.sharing.mutant_logits`), as
    `predict_members` gives them."""
    device = next(model.parameters()).device
    parts = []
    with evaluation_mode(model), precision_for(device).autocast():
        for length in np.unique(lengths[parents]).tolist():
            chosen = np.flatnonzero(lengths[parents] == length)
            records, sources = np.unique(parents[chosen], return_inverse=True)
            sequences = torch.as_tensor(codes[records, :length]).to(device)
            where = torch.as_tensor(at[chosen]).to(device)
            base = torch.as_tensor(bases[chosen].astype(np.int64)).to(device)
            sources = torch.as_tensor(sources).to(device)
            mutants, own = mutant_logits(model, sequences, sources, where, base)
            outputs = [task.activate(z.float().cpu()) for z in (mutants, own[sources])]
            if strands:
                full = torch.full((len(records),), length, device=device)
                reverse = reverse_complement(sequences, full)
                mirrored, own = mutant_logits(model, reverse, sources, length - 1 - where, 3 - base)
                back = [mirrored, own[sources]]
                outputs = [
                    (own + activate_reverse(task.activate, z.float().cpu())) / 2
                    for own, z in zip(outputs, back)
                ]
            parts.append((chosen, [o.numpy() for o in outputs]))
    found = np.zeros((2, len(parents), parts[0][1][0].shape[1]), dtype=np.float32)
    for chosen, (mutant, parent) in parts:
        found[0, chosen], found[1, chosen] = mutant, parent
    return found
