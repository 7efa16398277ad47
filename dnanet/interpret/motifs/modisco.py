"""TF-MoDISco (modisco-lite) as the second motif engine of `dnanet motifs` (``--engine modisco``).

Per class: hypothetical attributions ``(N, 4, L)`` of the class's member sequences toward the
class's output (`dnanet.interpret.attribution.attribute`, the method named by
``--attribution``, default ``saliency``; the objective the own engine explains,
`scores.motif_objective`) and the one-hot sequences go to ``modiscolite.tfmodisco.TFMoDISco``
(in its ``(N, L, 4)`` layout). Its positive patterns (the motifs that argue for the class) become
candidate PWMs: the pattern's base frequencies over its seqlets, with the own engine's pseudocount
(`cluster.pwm_from_sites`: 0.5 per base), trimmed to the columns with at least `MINIMUM_BITS` of
information (`cluster.trim`). The caller (`pipeline`) puts them through the own engine's tests
(`select`), so both engines' motifs are tested, named and written the same way.

TF-MoDISco finds its seqlets against a null it fits to the attributions themselves (not the
background sequences), clusters them (Leiden, seeds 1.. `LEIDEN_RUNS`: deterministic) and merges
reverse complements, always; the parameters below suit a few hundred to a few thousand sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from dnanet.data.sets import SequenceSet
from dnanet.inputs.encode import one_hot
from dnanet.interpret import attribution
from dnanet.interpret.motifs import cluster
from dnanet.interpret.motifs.alphabet import DNA, consensus

WINDOW = 15  # bases of TF-MoDISco's seqlet core (its sliding window)
FLANK = 5  # bases added on each side of a seqlet core
MAX_SEQLETS = 4000  # positive seqlets clustered per class, at most
LEIDEN_RUNS = 8  # Leiden clusterings per round (modisco-lite's default is 50: slower, same motifs)
MINIMUM_BITS = 0.3  # a pattern's columns with less information are trimmed off its ends
MINIMUM_WIDTH = 6


@dataclass
class Patterns:
    """What TF-MoDISco found in one class: candidate PWMs (`cluster.Motif`, most seqlets first),
    how many positive seqlets it clustered, in how many sequences, and the fewest seqlets a
    pattern needed."""

    motifs: list[cluster.Motif]
    seqlets: int
    sequences_with_seqlet: int
    min_seqlets: int


def start_compiling() -> None:
    """Start compiling modisco-lite's numba kernels in forked children, into numba's on-disk
    cache (``modiscolite.precompile``), while the attributions are computed. Called before
    anything else uses numba: once memelite's parallel kernels have started a threading layer
    that is not fork-safe, the kernels compile in this process on first use, uncached (about
    20 s per process instead of a cache hit)."""
    from modiscolite import precompile

    precompile.start()


def hypothetical_attributions(
    model: nn.Module,
    pool: SequenceSet,
    indices: np.ndarray,
    method: str,
    objective: attribution.Objective,
    batch_size: int,
    tick: Callable[[int], None],
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot sequences and hypothetical attributions of ``pool``'s `indices`, both float32
    ``(N, L_max, 4)`` (TF-MoDISco's layout; zero past each sequence's end), by attribution
    `method` toward `objective`; `tick` gets the sequences done per batch."""
    device = next(model.parameters()).device
    longest = int(pool.lengths[indices].max()) if len(indices) else 0
    sequences = np.zeros((len(indices), longest, 4), dtype=np.float32)
    values = np.zeros((len(indices), longest, 4), dtype=np.float32)
    for start in range(0, len(indices), batch_size):
        codes, lengths = pool.codes(indices[start : start + batch_size])  # (B, L), (B,)
        codes_t = torch.from_numpy(codes).to(device)
        found = attribution.attribute(
            model, codes_t, torch.from_numpy(lengths), method, objective, batch_size=batch_size
        )
        rows, width = slice(start, start + len(codes)), codes.shape[1]
        values[rows, :width] = found.values.detach().cpu().numpy().transpose(0, 2, 1)
        sequences[rows, :width] = one_hot(torch.from_numpy(codes)).numpy().transpose(0, 2, 1)
        tick(len(codes))
    return sequences, values


def pattern_pwm(pattern) -> np.ndarray:
    """A TF-MoDISco pattern (a ``modiscolite.core.SeqletSet``) -> PWM float64 ``(4, W)``: its
    seqlets' base counts per column plus a pseudocount of 0.5 per base, trimmed to informative
    columns."""
    counts = np.asarray(pattern._sequence_sum, dtype=np.float64).T  # (4, W) sums of one-hot rows
    pwm = (counts + 0.5) / (counts.sum(0, keepdims=True) + 2.0)
    first, last = cluster.trim(pwm, MINIMUM_BITS, MINIMUM_WIDTH)
    return pwm[:, first:last]


def find_patterns(sequences: np.ndarray, values: np.ndarray, letters: str = DNA) -> Patterns:
    """TF-MoDISco on one class: one-hot sequences and hypothetical attributions, both
    ``(N, L, 4)`` -> its positive patterns as candidate PWMs. A pattern needs at least 2% of the
    sequences' seqlets (10 at least), as the own engine's PWMs do."""
    from modiscolite.tfmodisco import TFMoDISco  # numba and leiden: loaded only when used

    min_seqlets = max(10, int(0.02 * len(sequences)))
    positive, _ = TFMoDISco(
        sequences,
        values,
        sliding_window_size=WINDOW,
        flank_size=FLANK,
        min_metacluster_size=min_seqlets,
        max_seqlets_per_metacluster=MAX_SEQLETS,
        n_leiden_runs=LEIDEN_RUNS,
        min_num_to_trim_to=min_seqlets,
        final_min_cluster_size=min_seqlets,
        trim_to_window_size=WINDOW + 2 * FLANK,
        initial_flank_to_add=FLANK,
    )
    patterns = sorted(positive or [], key=lambda p: -len(p.seqlets))
    motifs = [
        cluster.Motif(pwm, len(pattern.seqlets), consensus(pwm, letters))
        for pattern in patterns
        for pwm in [pattern_pwm(pattern)]
    ]
    members = {seqlet.example_idx for pattern in patterns for seqlet in pattern.seqlets}
    return Patterns(motifs, sum(m.seqlets for m in motifs), len(members), min_seqlets)
