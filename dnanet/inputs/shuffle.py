"""Dinucleotide-preserving shuffles (Altschul & Erickson 1985): a random sequence with exactly
the same dinucleotide counts, first and last base as the original — the usual background for
motif enrichment when there is no second class."""

from __future__ import annotations

import numpy as np


def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Codes uint8 ``(L,)`` -> a shuffled copy ``(L,)`` with the same dinucleotide counts.

    A random Eulerian path through the graph whose edges are the sequence's dinucleotides: a
    random "last exit" edge is drawn for every base but the final one until they form a tree
    into the final base, the other exits are shuffled, and the walk is read off.
    """
    if len(codes) < 3:
        return codes.copy()
    exits: dict[int, list[int]] = {}
    for a, b in zip(codes[:-1].tolist(), codes[1:].tolist()):
        exits.setdefault(a, []).append(b)
    final = int(codes[-1])
    while True:
        last = {v: edges[rng.integers(len(edges))] for v, edges in exits.items() if v != final}
        if all(_reaches(v, last, final) for v in last):
            break
    order: dict[int, list[int]] = {}
    for v, edges in exits.items():
        rest = list(edges)
        if v in last:
            rest.remove(last[v])
        rest = [rest[i] for i in rng.permutation(len(rest))]
        order[v] = rest + ([last[v]] if v in last else [])
    walk, current = [int(codes[0])], int(codes[0])
    for _ in range(len(codes) - 1):
        current = order[current].pop(0)
        walk.append(current)
    return np.array(walk, dtype=codes.dtype)


def _reaches(start: int, last: dict[int, int], final: int) -> bool:
    seen, v = set(), start
    while v != final:
        if v in seen or v not in last:
            return False
        seen.add(v)
        v = last[v]
    return True


def shuffle_all(
    flat: np.ndarray, offsets: np.ndarray, indices: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle sequences ``indices`` of a flat code buffer -> (flat codes, offsets ``(n + 1,)``)."""
    rng = np.random.default_rng(seed)
    parts = [dinucleotide_shuffle(flat[offsets[i] : offsets[i + 1]], rng) for i in indices]
    lengths = [len(p) for p in parts]
    new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return (np.concatenate(parts) if parts else flat[:0].copy()), new_offsets
