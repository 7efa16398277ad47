"""K-fold parts for the members of an ensemble (`dnanet train --folds K`).

Every member shares the run's test part (drawn as ``data.split`` says, with the same seed as a
single run, so a single model and an ensemble are scored on the same records). The other records
(the single run's training and validation parts together) are cut into K folds, and member k
validates on fold k and trains on the rest:

- ``random`` split: scikit-learn's ``StratifiedKFold`` (by class, for classification) or ``KFold``,
  shuffled with the run's seed;
- ``chromosome`` split: whole chromosomes per fold, so no validation window overlaps a training
  window. The chromosomes outside the test part are dealt largest first (by record count) to the
  fold with the fewest records so far: `chromosome_folds`, the fold table an ensemble publishes
  (ChromBPNet publishes one for hg38). ``data.val_chroms`` is not used.

A fixed validation set (``--val``) cannot be combined with folds: each member's validation part
is its fold.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dnanet.data.splits import Split, check_parts, chromosome_index, chromosome_order
from dnanet.errors import DnanetError


def fold_split(split: Split, data, ids, seed: int, strata: np.ndarray | None = None) -> Split:
    """`split` (a single run's parts) with its training and validation parts re-cut: member
    ``data.fold`` of ``data.folds`` (see the module docstring). `strata` ``(N,)``: class labels."""
    if "validation" in split.fixed:
        raise DnanetError(
            "--folds draws each member's validation part from the training inputs; it cannot be "
            "combined with a fixed validation set (--val, or 'validation' rows of a split column)"
        )
    rest = np.sort(np.concatenate([split.train, split.validation]))
    chromosomes = split.chromosomes
    if split.kind == "chromosome":
        index, names = chromosome_index(ids)
        table = chromosome_folds(index[rest], names, data.folds)
        fold_of = np.array([table.get(name, -1) for name in names], dtype=np.int64)
        folds_of_rest = fold_of[index[rest]]
    else:
        rest_strata = None if strata is None else np.asarray(strata)[rest]
        folds_of_rest = record_folds(len(rest), data.folds, seed, rest_strata)
    validation = rest[folds_of_rest == data.fold]
    train = rest[folds_of_rest != data.fold]
    if chromosomes is not None and split.kind == "chromosome":
        chromosomes = {
            **chromosomes,
            "train": _names_of(index[train], names),
            "validation": _names_of(index[validation], names),
        }
    folded = dataclasses.replace(split, train=train, validation=validation, chromosomes=chromosomes)
    check_parts(folded, f" (fold {data.fold} of {data.folds})")
    return folded


def record_folds(n: int, folds: int, seed: int, strata: np.ndarray | None) -> np.ndarray:
    """The fold of each of `n` records ``(n,)`` int64: seeded, stratified by `strata` when given."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if n < folds:
        raise DnanetError(f"--folds {folds}: only {n} records outside the test part")
    if strata is not None:
        present = np.bincount(strata)
        smallest = int(present[present > 0].min())
        if smallest < folds:
            raise DnanetError(
                f"--folds {folds}: a class has only {smallest} records outside the test part; "
                "stratified folds need at least one per fold"
            )
        cutter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        pieces = cutter.split(np.zeros(n), strata)
    else:
        pieces = KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n))
    assignment = np.empty(n, dtype=np.int64)
    for fold, (_, held) in enumerate(pieces):
        assignment[held] = fold
    return assignment


def chromosome_folds(
    record_chromosomes: np.ndarray, names: list[str], folds: int
) -> dict[str, int]:
    """{chromosome: fold} for the chromosomes of these records (indices into `names`, ``(N,)``):
    largest first (ties in chromosome order) to the fold with the fewest records so far (ties: the
    lowest fold), so the folds hold about equal numbers of records."""
    counts = np.bincount(record_chromosomes, minlength=len(names))
    present = [i for i in range(len(names)) if counts[i]]
    if len(present) < folds:
        shown = ", ".join(sorted((names[i] for i in present), key=chromosome_order))
        raise DnanetError(
            f"--folds {folds}: the records outside the test part lie on {len(present)} "
            f"chromosome(s) ({shown}); a chromosome fold needs at least one chromosome per fold"
        )
    present.sort(key=lambda i: (-counts[i], chromosome_order(names[i])))
    totals = [0] * folds
    table = {}
    for i in present:
        fold = min(range(folds), key=lambda f: (totals[f], f))
        table[names[i]] = fold
        totals[fold] += int(counts[i])
    return table


def fold_table(record_chromosomes: np.ndarray, names: list[str], folds: int) -> list[dict]:
    """One row per fold: its validation chromosomes and record count (what folds.tsv shows)."""
    table = chromosome_folds(record_chromosomes, names, folds)
    counts = np.bincount(record_chromosomes, minlength=len(names))
    rows = []
    for fold in range(folds):
        chosen = sorted((name for name, f in table.items() if f == fold), key=chromosome_order)
        rows.append(
            {
                "fold": fold,
                "validation_chromosomes": chosen,
                "records": int(sum(counts[names.index(name)] for name in chosen)),
            }
        )
    return rows


def _names_of(chromosomes: np.ndarray, names: list[str]) -> list[str]:
    """The sorted names of the chromosome indices ``(N,)`` (-1: none) present."""
    return sorted((names[i] for i in np.unique(chromosomes) if i >= 0), key=chromosome_order)
