"""Sequence design by single-base substitutions (as tangermeme.design's greedy and beam
substitution, on a dnanet run's outputs): at each step every single substitution of the current
sequence (each base to each of the three others, 3 x L mutants) is scored in batches
(`dnanet.interpret.grammar.output_scores`) and the best is taken.

**The objective** raised: the target output (log-odds, value or log counts, as `dnanet attribute`
explains it) minus ``hold_weight`` x the sum, over the held outputs, of how far each has risen above
its value in the start sequence (``max(0, held - held_at_start)``): a held output may fall freely,
and each unit it rises costs as much as a unit of the target gains (with weight 1).

**Greedy** (``beam=1``) stops early at a local optimum, when no substitution raises the objective,
so its objective never falls from one step to the next. **Beam search** keeps the `beam` best
distinct sequences reached at each step (from all single substitutions of the kept ones) and ends
with the best sequence seen; its trajectory is that sequence's path of substitutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from dnanet.interpret.grammar.output_scores import OutputScorer
from dnanet.progress import Reporter


@dataclass(frozen=True)
class Goal:
    """What design raises: output `target` (a column of the scorer), minus `hold_weight` x the
    rise of each `held` output above its start value."""

    target: int
    held: tuple[int, ...] = ()
    hold_weight: float = 1.0

    def objective(self, values: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Values ``(M, O)`` of M sequences, the start sequence's ``(O,)`` -> objective ``(M,)``."""
        held = list(self.held)
        rise = np.clip(values[:, held] - start[held], 0, None).sum(1) if held else 0.0
        return values[:, self.target] - self.hold_weight * rise


@dataclass
class Trail:
    """One sequence on its way: codes ``(L,)``, its outputs ``(O,)``, its objective, and the
    substitutions that made it, each ``(step, position, old code, new code, outputs (O,),
    objective)``."""

    codes: np.ndarray
    values: np.ndarray
    objective: float
    steps: list


def mutants(codes: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every single substitution of codes ``(L,)`` within its `length`: the mutants ``(M, L)``,
    their positions and new bases ``(M,)`` (a base to each of the 3 others, an N to each of 4)."""
    positions, bases = np.nonzero(codes[:length, None] != np.arange(4)[None, :])
    changed = np.repeat(codes[None, :], len(positions), axis=0)
    changed[np.arange(len(positions)), positions] = bases
    return changed, positions, bases.astype(np.uint8)


def design_one(
    scorer: OutputScorer, codes: np.ndarray, length: int, goal: Goal, steps: int, beam: int = 1
) -> Trail:
    """Design from codes ``(L,)`` (`length` bases) for up to `steps` substitutions (module
    docstring); the best `Trail` found."""
    start_values = scorer(codes[None], np.array([length]))[0]
    first = Trail(
        codes, start_values, float(goal.objective(start_values[None], start_values)[0]), []
    )
    kept, best = [first], first
    for step in range(1, steps + 1):
        candidates: dict[bytes, Trail] = {}
        for path in kept:
            changed, positions, bases = mutants(path.codes, length)
            values = scorer(changed, np.full(len(changed), length))
            objectives = goal.objective(values, start_values)
            for index in np.argsort(-objectives, kind="stable")[: max(beam, 1)]:
                key = changed[index].tobytes()
                if key in candidates and candidates[key].objective >= objectives[index]:
                    continue
                record = (step, int(positions[index]), int(path.codes[positions[index]]))
                record += (int(bases[index]), values[index], float(objectives[index]))
                candidates[key] = Trail(
                    changed[index], values[index], float(objectives[index]), path.steps + [record]
                )
        ranked = sorted(candidates.values(), key=lambda p: -p.objective)[:beam]
        if beam == 1 and (not ranked or ranked[0].objective <= best.objective):
            break  # greedy: a local optimum, no substitution raises the objective
        kept = ranked
        if ranked and ranked[0].objective > best.objective:
            best = ranked[0]
    best.steps = [(0, -1, -1, -1, start_values, first.objective)] + best.steps
    return best


def design(
    scorer: OutputScorer,
    codes: np.ndarray,
    lengths: np.ndarray,
    goal: Goal,
    steps: int,
    beam: int = 1,
    reporter: Optional[Reporter] = None,
) -> list[Trail]:
    """`design_one` for each row of codes ``(N, L)`` (lengths ``(N,)``), in order."""
    reporter = reporter or Reporter()
    found = []
    with reporter.counter("designing", len(codes), "sequences") as progress:
        for row in range(len(codes)):
            found.append(design_one(scorer, codes[row], int(lengths[row]), goal, steps, beam))
            progress(row + 1)
    return found
