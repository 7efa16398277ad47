"""Seqlets -> position weight matrices, reverse complements merged (or, for a model trained on
the forward strand only, kept apart).

Greedy and seed-based (like STREME/HOMER, but on the model's seqlets rather than whole
sequences): the canonical k-mer (a k-mer and its reverse complement count as one) whose
presence is most enriched in the seqlets over the background's best windows seeds a motif;
its occurrences, oriented to the seed's strand and extended by flanks, give a first PWM; the
PWM then re-scans every remaining seqlet on both strands and is rebuilt from the hits a few
times (so degenerate sites join), and low-information flanks are trimmed. Its seqlets are
removed and the next motif is sought; a PWM that is another piece of a motif already found
(`same_motif`, TomTom) joins that motif instead of taking a candidate's place.

With ``both_strands=False`` (RNA, promoters: data whose strand carries meaning) a k-mer and its
reverse complement are different seeds and PWMs scan the forward strand only, so a motif reads
in the sequences' own orientation (UGUAUAUA stays UGUAUAUA, not its complement UAUAUACA).

PWMs are float64 ``(4, W)`` probabilities (rows A C G T), the layout memelite uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from dnanet.inputs.encode import PAD, kmer_ids_array, kmer_name, reverse_complement_ids

COMPLEMENT = np.array([3, 2, 1, 0, 4, PAD], dtype=np.uint8)


@dataclass
class Motif:
    """A PWM ``(4, W)`` found in a class's seqlets, and how many seqlets made it."""

    pwm: np.ndarray
    seqlets: int
    seed: str


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Codes uint8 ``(..., L)`` -> their reverse complements (PAD stays PAD)."""
    return COMPLEMENT[codes[..., ::-1]]


def presence(ids: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """k-mer ids ``(S, W)`` (`dnanet.inputs.encode.kmer_ids`) -> how many rows contain each
    canonical k-mer ``(4**k,)``; windows with N or PAD (ids 4**k and above) count for none."""
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    flat = ids.ravel()
    keep = flat < len(canonical)
    pairs = np.unique(rows[keep] * len(canonical) + canonical[flat[keep]])
    return np.bincount(pairs % len(canonical), minlength=len(canonical))


def pick_seed(ids: np.ndarray, null_ids: np.ndarray, canonical: np.ndarray) -> tuple[int, float]:
    """The canonical k-mer most enriched in rows of `ids` over rows of `null_ids` (one-sided
    binomial log p-value of its presence count)."""
    found, expected = presence(ids, canonical), presence(null_ids, canonical)
    rate = (expected + 1) / (len(null_ids) + 2)
    log_p = binom.logsf(found - 1, len(ids), rate)
    log_p[canonical != np.arange(len(canonical))] = 0.0
    best = int(np.argmin(log_p))
    return best, float(log_p[best])


def pwm_from_sites(sites: np.ndarray, pseudocount: float = 2.0) -> np.ndarray:
    """Aligned site codes ``(n, W)`` -> probabilities ``(4, W)`` (N and PAD count as nothing).
    The pseudocount (0.5 per base) keeps the random flanks of a PWM made from a few dozen sites
    from looking informative: they would raise the best attainable score that `refine` accepts
    sites against, and real, degenerate sites would be turned away."""
    counts = (sites[:, None, :] == np.arange(4)[None, :, None]).sum(0).astype(np.float64)  # (4, W)
    return (counts + pseudocount / 4) / (counts.sum(0, keepdims=True) + pseudocount)


def best_hits(
    regions: np.ndarray, pwm: np.ndarray, chunk: int = 512, both_strands: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best log-odds hit (uniform background, bits) of `pwm` ``(4, W)`` in each region ``(S, R)``
    on either strand (or the forward one only) -> (score ``(S,)``, start ``(S,)``, strand
    ``(S,)`` +1/-1); `chunk` regions at a time, so long regions (whole sequences, for the
    baseline) keep memory bounded."""
    if len(regions) > chunk:
        parts = [
            best_hits(regions[i : i + chunk], pwm, chunk, both_strands)
            for i in range(0, len(regions), chunk)
        ]
        return tuple(np.concatenate(column) for column in zip(*parts))
    log_odds = np.log2(pwm / 0.25)  # (4, W)
    table = np.vstack([log_odds, np.zeros((2, pwm.shape[1]))])  # N and PAD score 0
    windows = np.lib.stride_tricks.sliding_window_view(regions, pwm.shape[1], axis=1)  # (S, P, W)
    columns = np.arange(pwm.shape[1])
    forward = table[windows, columns].sum(-1)  # (S, P)
    reverse = (
        table[COMPLEMENT[windows[..., ::-1]], columns].sum(-1)
        if both_strands
        else np.full_like(forward, -np.inf)
    )
    both = np.where(forward >= reverse, forward, reverse)
    start = both.argmax(1)
    rows = np.arange(len(regions))
    strand = np.where(forward[rows, start] >= reverse[rows, start], 1, -1)
    return both[rows, start], start, strand


def aligned(regions: np.ndarray, start: np.ndarray, strand: np.ndarray, width: int) -> np.ndarray:
    """Cut ``width`` codes from each region at ``start``, reverse-complemented where strand < 0."""
    sites = (
        np.stack([regions[i, s : s + width] for i, s in enumerate(start)])
        if len(start)
        else np.zeros((0, width), dtype=np.uint8)
    )
    return np.where((strand < 0)[:, None], reverse_complement_codes(sites), sites)


def trim(pwm: np.ndarray, minimum_bits: float, minimum_width: int) -> tuple[int, int]:
    """First and past-last column of `pwm` once flanks under `minimum_bits` of information are
    cut."""
    information = 2 + (pwm * np.log2(pwm)).sum(0)  # (W,)
    strong = np.flatnonzero(information >= minimum_bits)
    if len(strong) == 0:
        return 0, pwm.shape[1]
    first, last = int(strong[0]), int(strong[-1]) + 1
    while last - first < minimum_width:
        first, last = max(0, first - 1), min(pwm.shape[1], last + 1)
    return first, last


def seed_pwm(
    regions: np.ndarray, ids: np.ndarray, seed: int, rc_seed: int, k: int, extend: int
) -> np.ndarray:
    """PWM ``(4, k + 2 extend)`` of the seed's first occurrence in each region ``(S, R)``
    (k-mer ids ``(S, R - k + 1)``), oriented to the seed's strand, flanks included."""
    hit = (ids == seed) | (ids == rc_seed)
    rows = np.flatnonzero(hit.any(1))
    position = hit[rows].argmax(1)
    strand = np.where(ids[rows, position] == seed, 1, -1)
    padded = np.pad(regions[rows], ((0, 0), (extend, extend)), constant_values=PAD)
    return pwm_from_sites(aligned(padded, position, strand, k + 2 * extend))


def refine(
    regions: np.ndarray, pwm: np.ndarray, iterations: int, accept: float, both_strands: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild `pwm` ``(4, W)`` from its hits in `regions` ``(S, R)`` (best hit per region on
    either strand or the forward one, kept when it scores at least `accept` × the PWM's best
    possible score). Returns (member rows, PWM)."""
    members = np.zeros(0, dtype=np.int64)
    margin = (
        pwm.shape[1] // 2
    )  # a site may hang half the PWM's width over a region's edge (PAD scores 0)
    regions = np.pad(regions, ((0, 0), (margin, margin)), constant_values=PAD)
    for _ in range(iterations):
        score, start, strand = best_hits(regions, pwm, both_strands=both_strands)
        best = np.log2(pwm.max(0) / 0.25).sum()
        members = np.flatnonzero(score >= accept * best)
        if len(members) == 0:
            break
        pwm = pwm_from_sites(
            aligned(regions[members], start[members], strand[members], pwm.shape[1])
        )
    return members, pwm


STOPS = {
    "max_motifs": "reached the most motifs per class",
    "too_few_seqlets": "too few seqlets left",
    "no_enriched_kmer": "no k-mer enriched over the background left",
    "too_few_sites": "the next PWM matched too few seqlets",
    # the modisco engine (`modisco`): TF-MoDISco's own search ended
    "modisco_done": "TF-MoDISco's positive patterns all taken",
    "modisco_none": "TF-MoDISco found no positive pattern with enough seqlets",
}


@dataclass
class PwmSearch:
    """What `search_pwms` found, and why it stopped (a key of ``STOPS``)."""

    motifs: list[Motif]
    stopped: str
    min_seqlets: int


def search_pwms(
    regions: np.ndarray,
    null_regions: np.ndarray,
    k: int = 6,
    max_motifs: int = 8,
    min_seqlets: int = 10,
    extend: int = 8,
    iterations: int = 3,
    accept: float = 0.6,
    max_log_p: float = np.log(1e-4),
    minimum_bits: float = 0.3,
    both_strands: bool = True,
) -> PwmSearch:
    """Seqlet regions ``(S, R)`` and background regions ``(S0, R)`` (uint8 codes) -> motifs, in
    the order found (the greedy loop of the module docstring), and why the loop stopped.
    `both_strands` False: forward strand only (k-mers are their own canonical form)."""
    rc_ids = reverse_complement_ids(k) if both_strands else np.arange(4**k)
    canonical = np.minimum(np.arange(4**k), rc_ids)
    null_ids = (
        kmer_ids_array(null_regions, k) if len(null_regions) else np.zeros((0, 1), dtype=np.int64)
    )
    remaining, motifs, rounds = np.arange(len(regions)), [], 0
    while True:
        rounds += 1
        if len(motifs) >= max_motifs or rounds > MAX_ROUNDS_PER_MOTIF * max_motifs:
            return PwmSearch(motifs, "max_motifs", min_seqlets)
        if len(remaining) < min_seqlets:
            return PwmSearch(motifs, "too_few_seqlets", min_seqlets)
        ids = kmer_ids_array(regions[remaining], k)
        seed, log_p = pick_seed(ids, null_ids, canonical)
        if log_p > max_log_p:
            return PwmSearch(motifs, "no_enriched_kmer", min_seqlets)
        pwm = seed_pwm(regions[remaining], ids, seed, int(rc_ids[seed]), k, extend)
        members, pwm = refine(regions[remaining], pwm, iterations, accept, both_strands)
        if len(members) < min_seqlets:
            return PwmSearch(motifs, "too_few_sites", min_seqlets)
        first, last = trim(pwm, minimum_bits, min(k, pwm.shape[1]))
        found = Motif(pwm[:, first:last], len(members), kmer_name(seed, k))
        copy_of = same_motif(found.pwm, [motif.pwm for motif in motifs], both_strands)
        if copy_of is None:
            motifs.append(found)
        else:  # another piece of a motif already found: its seqlets join it, no candidate spent
            motifs[copy_of].seqlets += found.seqlets
        remaining = np.delete(remaining, members)


SAME_MOTIF_P = 1e-3
"""TomTom p-value below which a new PWM is the same motif as one found before. A long motif
(CTCF, 19 bases) leaves seqlets its PWM did not take, and their best k-mer seeds another piece of
it: the search once returned 8 copies of CTCF as its 8 candidates. On JASPAR's CTCF, any 10-base
piece of it (either strand) scores p < 1e-5 against the whole; SP1 and GATA1 against CTCF score
p > 0.1."""
MAX_ROUNDS_PER_MOTIF = 4  # rounds (merged copies included) a search may take per motif asked


def same_motif(pwm: np.ndarray, found: list[np.ndarray], both_strands: bool) -> int | None:
    """The index of the motif of `found` (PWMs ``(4, W)``) that `pwm` matches (TomTom,
    memelite: p < `SAME_MOTIF_P`, on either strand when `both_strands`), or None."""
    if not found:
        return None
    import warnings

    from memelite import tomtom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_values = tomtom([pwm], found, n_jobs=1, reverse_complement=both_strands)[0]
    row = np.nan_to_num(np.asarray(p_values, dtype=np.float64)[0], nan=1.0)
    best = int(row.argmin())
    return best if row[best] < SAME_MOTIF_P else None


def find_pwms(regions: np.ndarray, null_regions: np.ndarray, **settings) -> list[Motif]:
    """The motifs of `search_pwms` (same arguments), without the reason it stopped."""
    return search_pwms(regions, null_regions, **settings).motifs
