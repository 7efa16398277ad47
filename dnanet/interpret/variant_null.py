"""Calibrated variant effects (`dnanet variants --null shuffle|snv`): each variant's effect against
the effects of matched control substitutions, scored the same way by the same model.

The control kinds (`NULL_KINDS`; ``none`` adds nothing), `size` draws per scored variant:

- ``shuffle``: the variant's own REF and ALT alleles between dinucleotide-shuffled flanks
  (`tangermeme.ersatz.dinucleotide_shuffle`, unknown bases kept as bases of their own). The left
  and the right flank of the window are shuffled apart, each keeping its dinucleotide counts and
  its two end bases (so the bases next to the allele stay); both windows of a draw share them and
  are cut by the variant's own rule, so an indel's draws are indels of the same lengths. A flank
  too short or too plain to shuffle (fewer than 4 bases, a homopolymer) stays as it is.
- ``snv``: for a single-base substitution REF>ALT, ALT put at other positions of the variant's
  reference window where it holds REF (its own position excluded): the reference window is the
  variant's own, so only the alternative windows are scored. Positions are drawn without
  replacement when the window has at least `size` of them, else with replacement. Any other
  variant (an indel, a multi-base substitution, a window without another REF base) gets the
  ``shuffle`` draws.

A variant's draws are seeded by its two windows' bases alone (`variant_seed`), so they do not
depend on the variant's place in the file, the shard, the batch size or the process: a rerun or a
shard gives the same numbers.

Per output NAME, from the tested effect (`dnanet.interpret.variants.tested_effects`: log_odds_diff,
diff or lfc) of the variant and of each draw:

- ``p_NAME``: the two-sided empirical p-value ``(1 + #{|draw| >= |variant|}) / (size + 1)``;
  it cannot go below ``1 / (size + 1)`` (`resolution`);
- ``q_NAME``: Benjamini-Hochberg q-values of ``p_NAME`` over every scored row of the table
  (`scipy.stats.false_discovery_control`), filled in a second pass once the table is written
  (`fill_q_values`); empty in a --shard's table, which holds only part of the p-values;
- ``null_sd_NAME``: the standard deviation (ddof 1) of the draws' effects, the scale of effects
  this context gives (the variant's effect over it reads as a z-score).

Draws are scored at most about `max_windows` windows per call, and only their effects are kept,
so memory stays flat whatever `size` and the output's size.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.interpret.variants import BASE_COLUMNS, Variant, format_cell, tested_effects

NULL_KINDS = ("none", "shuffle", "snv")
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)
_SEED_MASK = 0x3FFFFFFF  # two seeds per variant (seed, seed + 1) within tangermeme's int32


def check_null(kind: str, size: int) -> None:
    """The --null and --null-size values, refused in one line."""
    if kind not in NULL_KINDS:
        raise DnanetError(f"--null {kind}: must be one of {', '.join(NULL_KINDS)}")
    if size < 1:
        raise DnanetError(f"--null-size {size}: must be at least 1")


def resolution(size: int) -> float:
    """The smallest p-value `size` draws can give: ``1 / (size + 1)``."""
    return 1 / (size + 1)


def variant_seed(variant: Variant) -> int:
    """A seed from the variant's two windows' bases (case-insensitive), the same wherever and
    whenever the variant is scored."""
    digest = hashlib.blake2b(
        variant.ref_window.upper() + b"|" + variant.alt_window.upper(), digest_size=8
    )
    return int.from_bytes(digest.digest(), "little") & _SEED_MASK


def _length(allele: str) -> int:
    """An allele's bases in its window (--pairs writes an empty one as ``-``)."""
    return 0 if allele == "-" else len(allele)


def shuffle_flank(flank: bytes, size: int, seed: int) -> list[bytes]:
    """`size` dinucleotide shuffles of `flank` (ends kept; unknown bases shuffled as a base of
    their own, written N), or `flank` itself `size` times when it cannot be shuffled."""
    if len(flank) < 4:
        return [flank] * size
    import torch
    from tangermeme.ersatz import dinucleotide_shuffle
    from tangermeme.utils import PackedSequence

    codes = np.frombuffer(flank.translate(BYTE_TO_CODE), dtype=np.uint8)
    packed = PackedSequence.from_codes(torch.from_numpy(np.minimum(codes, 4)[None].copy()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shuffled = dinucleotide_shuffle(packed, n=size, random_state=[seed], allow_N=True)
    except ValueError:  # every shuffle is the flank itself: a homopolymer, a short repeat
        return [flank] * size
    letters = _LETTERS[shuffled.to_codes()[0].numpy()]  # (size, L)
    return [row.tobytes() for row in letters]


def shuffle_draws(variant: Variant, size: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """(reference windows, alternative windows) of `size` ``shuffle`` draws (module docstring)."""
    ref_length, alt_length = _length(variant.ref), _length(variant.alt)
    ref_left, alt_left = variant.ref_offset, variant.alt_offset
    ref_right = len(variant.ref_window) - ref_left - ref_length
    alt_right = len(variant.alt_window) - alt_left - alt_length
    left = max(variant.ref_window[:ref_left], variant.alt_window[:alt_left], key=len)
    right = max(
        variant.ref_window[ref_left + ref_length :],
        variant.alt_window[alt_left + alt_length :],
        key=len,
    )
    ref_allele = variant.ref_window[ref_left : ref_left + ref_length]
    alt_allele = variant.alt_window[alt_left : alt_left + alt_length]
    lefts = shuffle_flank(left, size, seed)
    rights = shuffle_flank(right, size, seed + 1)
    refs = [lf[len(lf) - ref_left :] + ref_allele + rt[:ref_right] for lf, rt in zip(lefts, rights)]
    alts = [lf[len(lf) - alt_left :] + alt_allele + rt[:alt_right] for lf, rt in zip(lefts, rights)]
    return refs, alts


def snv_draws(
    variant: Variant, size: int, seed: int, genome
) -> tuple[list[bytes], list[bytes]] | None:
    """(reference windows, alternative windows) of `size` ``snv`` draws, each centred on its own
    position as the variant is on its own; None when there is no genome (--pairs), the variant is
    not a single-base substitution, or no other position of its window holds REF with room for
    a window around it (module docstring)."""
    if genome is None or not (_length(variant.ref) == _length(variant.alt) == 1):
        return None
    width, at = len(variant.ref_window), int(variant.pos) - 1
    left = variant.ref_offset  # bases left of the allele in a window: (width - 1) // 2
    window_start, chromosome = at - left, genome.sizes[variant.chrom]
    low, high = max(0, window_start - left), min(chromosome, window_start + 2 * width)
    context = np.frombuffer(genome.fetch(variant.chrom, low, high), dtype=np.uint8)
    positions = np.arange(window_start, window_start + width)
    candidates = positions[
        ((context[positions - low] & 0xDF) == ord(variant.ref.upper()))  # & 0xDF: upper case
        & (positions != at)
        & (positions - left >= low)
        & (positions - left + width <= high)
    ]
    if len(candidates) == 0:
        return None
    rng = np.random.default_rng(seed)
    drawn = rng.choice(candidates, size, replace=len(candidates) < size)
    refs = context[(drawn - left - low)[:, None] + np.arange(width)]  # (size, width)
    alts = refs.copy()
    alts[:, left] = ord(variant.alt.upper())
    return [row.tobytes() for row in refs], [row.tobytes() for row in alts]


class NullTest:
    """The null's columns (`dnanet.interpret.variants.ExtraColumns`): ``p_NAME``, ``q_NAME``
    (left empty for `fill_q_values`) and ``null_sd_NAME`` per output, from `size` draws of `kind`
    per variant (``snv`` draws read `genome`; None: --pairs, shuffle draws), scored by
    ``score(refs, alts)`` (`dnanet.interpret.variant_scoring.pair_scorer`), about `max_windows`
    windows per call."""

    def __init__(
        self, task, kind: str, size: int, score: Callable, genome=None, max_windows: int = 4096
    ):
        self.task, self.kind, self.size, self.score = task, kind, size, score
        self.genome, self.max_windows = genome, max_windows

    def header(self) -> list[str]:
        return [f"{prefix}_{name}" for name in self.task.names for prefix in ("p", "q", "null_sd")]

    def cells(self, variants: list[Variant], ref: np.ndarray, alt: np.ndarray) -> list[list[str]]:
        observed = tested_effects(self.task, ref.mean(0), alt.mean(0))  # (n, T)
        group, rows = self._group(), []
        for start in range(0, len(variants), group):
            part = slice(start, start + group)
            effects = self._null_effects(variants[part])
            rows += [self._row(drawn, seen) for drawn, seen in zip(effects, observed[part])]
        return rows

    def _group(self) -> int:
        """Variants whose draws are scored in one call."""
        return max(1, self.max_windows // (2 * self.size))

    def _null_effects(self, variants: list[Variant]) -> list[np.ndarray]:
        """Each variant's draws' tested effects ``(size, T)``."""
        all_refs, all_alts = [], []
        for variant in variants:
            seed = variant_seed(variant)
            drawn = snv_draws(variant, self.size, seed, self.genome) if self.kind == "snv" else None
            refs, alts = drawn or shuffle_draws(variant, self.size, seed)
            all_refs.extend(refs)
            all_alts.extend(alts)
        ref, alt = (
            part.mean(0).reshape(len(variants), self.size, -1)
            for part in self.score(all_refs, all_alts)
        )
        return list(tested_effects(self.task, ref, alt))

    def _row(self, effects: np.ndarray, observed: np.ndarray) -> list[str]:
        """p, q (empty) and null_sd of each output from the draws' effects ``(size, T)`` and the
        variant's own ``(T,)``."""
        exceed = (np.abs(effects) >= np.abs(observed)).sum(0)
        p = (1 + exceed) / (self.size + 1)
        sd = effects.std(0, ddof=1) if self.size > 1 else np.full(len(observed), np.nan)
        return [
            cell
            for i in range(len(observed))
            for cell in (format_cell(p[i]), "", format_cell(sd[i]))
        ]


def fill_q_values(table: Path, out: Path) -> None:
    """Copy the TSV `table` (header row first) to `out` with every ``q_NAME`` column filled: the
    Benjamini-Hochberg q-values of ``p_NAME`` over the rows that have one. Two passes over the
    file; only the p-values (one float per row and output) are held in memory."""
    from scipy.stats import false_discovery_control

    with open(table, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader)
        pairs = _p_and_q_columns(header)
        p_values = np.array(
            [[_number(row[p]) for p, _ in pairs] for row in reader], dtype=np.float64
        ).reshape(-1, len(pairs))
    q_values = np.full_like(p_values, np.nan)
    for column in range(len(pairs)):
        given = ~np.isnan(p_values[:, column])
        if given.any():
            q_values[given, column] = false_discovery_control(p_values[given, column], method="bh")
    if not pairs:
        shutil.copyfile(table, out)
        return
    with open(table, newline="") as source, open(out, "w", newline="") as target:
        reader = csv.reader(source, delimiter="\t")
        writer = csv.writer(target, delimiter="\t", lineterminator="\n")
        writer.writerow(next(reader))
        for number, row in enumerate(reader):
            for column, (_, q) in enumerate(pairs):
                row[q] = format_cell(q_values[number, column])
            writer.writerow(row)


def _p_and_q_columns(header: list[str]) -> list[tuple[int, int]]:
    """(index of p_NAME, index of q_NAME) of each output with both."""
    index = {name: i for i, name in enumerate(header) if i >= len(BASE_COLUMNS)}
    return [
        (i, index[f"q_{name[2:]}"])
        for name, i in index.items()
        if name.startswith("p_") and f"q_{name[2:]}" in index
    ]


def _number(cell: str) -> float:
    return float(cell) if cell else np.nan
