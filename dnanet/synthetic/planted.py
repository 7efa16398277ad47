"""Planted-motif data sets: random DNA with known motif instances at known places.

A number is trusted only when the same code recovers a known truth. A planted set is that truth:
i.i.d. background bases (by default A/T 0.29 each, C/G 0.21 each: a 42% GC genome), one class
per motif whose sequences each carry ``sites`` instances sampled base by base from the motif's
PWM, on a random strand at a random position, and optionally a motif-free class. Everything is
seeded; the planted sites are returned, so a test can check both what a model learned and where
an attribution points.

JASPAR matrices come from pyjaspar's bundled SQLite release (offline): `jaspar_pwm("MA0139")`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dnanet.errors import DnanetError

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
GENOME_BACKGROUND = (0.29, 0.21, 0.21, 0.29)  # A C G T: 42% GC
NO_MOTIF = "none"


# Splice-site-like PWMs (4, W), rows A C G T, columns 5'->3' on the transcript: approximate human
# consensus frequencies, for position-dependent planted sets (`positioned_set`), not for biology.
# Donor: exon -3..-1 | intron +1..+6 (MAG|GTRAGT). Acceptor: a 10-base pyrimidine tract, then
# N Y A G | G (intron -5..-1 | exon +1).
SPLICE_PWMS = {
    "donor": np.array(
        [
            [0.35, 0.35, 0.19, 0.11],
            [0.60, 0.13, 0.14, 0.13],
            [0.09, 0.04, 0.80, 0.07],
            [0, 0, 1, 0],
            [0, 0, 0, 1],
            [0.60, 0.03, 0.35, 0.02],
            [0.71, 0.08, 0.12, 0.09],
            [0.07, 0.05, 0.81, 0.07],
            [0.17, 0.16, 0.18, 0.49],
        ]
    ).T,
    "acceptor": np.array(
        [[0.10, 0.35, 0.10, 0.45]] * 10
        + [
            [0.25, 0.30, 0.20, 0.25],
            [0.25, 0.45, 0.05, 0.25],
            [0.04, 0.70, 0.01, 0.25],
            [1, 0, 0, 0],
            [0, 0, 1, 0],
            [0.25, 0.15, 0.50, 0.10],
        ]
    ).T,
}


@dataclass
class PlantedSet:
    """Sequences (ASCII bytes), their class names, and the planted sites.

    ``sites`` has one row per planted instance: id, class, motif, start, end (0-based,
    half-open, forward-strand coordinates of the sequence), strand (+ or -).
    """

    ids: list[str]
    sequences: list[bytes]
    labels: list[str]
    sites: pd.DataFrame

    def write_fasta(self, folder: Path) -> dict[str, Path]:
        """One FASTA per class in `folder` ({class: path}), ready for
        ``dnanet train CLASS=PATH``."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {label: folder / f"{label}.fa" for label in dict.fromkeys(self.labels)}
        handles = {label: open(path, "wb") for label, path in paths.items()}
        try:
            for identifier, sequence, label in zip(self.ids, self.sequences, self.labels):
                handles[label].write(b">" + identifier.encode() + b"\n" + sequence + b"\n")
        finally:
            for handle in handles.values():
                handle.close()
        self.sites.to_csv(folder / "sites.tsv", sep="\t", index=False)
        return paths


def jaspar_pwm(matrix_id: str, release: str = "JASPAR2024") -> tuple[str, np.ndarray]:
    """(name, probabilities float64 ``(4, W)``, rows A C G T) of a JASPAR matrix; a base id
    (``MA0139``) takes its latest version."""
    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        database = jaspardb(release=release)
        motif = (
            database.fetch_motif_by_id(matrix_id)
            if "." in matrix_id
            else _latest(database, matrix_id)
        )
    if motif is None:
        raise DnanetError(f"no JASPAR matrix '{matrix_id}' in {release}")
    counts = np.array([motif.counts[base] for base in "ACGT"], dtype=np.float64)
    return motif.name, counts / counts.sum(0, keepdims=True)


def _latest(database, base_id: str):
    """The latest version of a JASPAR base id (``MA0139`` -> MA0139.2), or None."""
    for version in range(9, 0, -1):
        motif = database.fetch_motif_by_id(f"{base_id}.{version}")
        if motif is not None:
            return motif
    return None


def sample_site(pwm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One instance of a PWM ``(4, W)``: base codes 0..3 ``(W,)``, each position drawn from its
    column."""
    cumulative = np.cumsum(pwm, axis=0)  # (4, W)
    draws = rng.random(pwm.shape[1])
    return np.minimum((draws[None, :] > cumulative).sum(0), 3)


def planted_set(
    motifs: dict[str, np.ndarray],
    n_per_class: int,
    length: int = 200,
    sites: int = 1,
    background: tuple[float, ...] = GENOME_BACKGROUND,
    none_class: bool = True,
    seed: int = 0,
    prefix: str = "seq",
) -> PlantedSet:
    """A classification set: for each ``{class: PWM (4, W)}``, `n_per_class` sequences of
    `length` bases with `sites` non-overlapping instances of that class's motif (random strand,
    random position); plus, with `none_class`, `n_per_class` motif-free sequences (class
    ``none``). Records are interleaved by class, ids are ``<prefix><index>``."""
    rng = np.random.default_rng(seed)
    probabilities = np.asarray(background, dtype=np.float64)
    classes = ([NO_MOTIF] if none_class else []) + list(motifs)
    ids, sequences, labels, rows = [], [], [], []
    for index in range(n_per_class * len(classes)):
        label = classes[index % len(classes)]
        codes = rng.choice(4, size=length, p=probabilities / probabilities.sum())
        identifier = f"{prefix}{index}"
        if label != NO_MOTIF:
            pwm = motifs[label]
            for start, strand in _place(rng, length, pwm.shape[1], sites):
                site = sample_site(pwm, rng)
                codes[start : start + len(site)] = site if strand == "+" else 3 - site[::-1]
                rows.append((identifier, label, label, start, start + len(site), strand))
        ids.append(identifier)
        sequences.append(BASES[codes].tobytes())
        labels.append(label)
    columns = ["id", "class", "motif", "start", "end", "strand"]
    return PlantedSet(ids, sequences, labels, pd.DataFrame(rows, columns=columns))


def positioned_set(
    motifs: dict[str, np.ndarray],
    n_per_class: int,
    length: int = 60,
    jitter: int = 1,
    decoy_rate: float = 1.0,
    background: tuple[float, ...] = GENOME_BACKGROUND,
    seed: int = 0,
    prefix: str = "seq",
) -> PlantedSet:
    """A set where *where* a site sits decides the class, like splice sites or promoters aligned on
    their start. A share ``decoy_rate`` of the sequences holds one decoy: a forward-strand site of
    a random motif, clear of the middle; each motif's class also has a forward-strand site of its
    motif centred (start within ``jitter`` of the middle); class ``none`` has at most the decoy.
    Which motifs a sequence holds says little about its class; where they sit says it all. Records
    are interleaved by class, ids are ``<prefix><index>``; ``sites`` lists both kinds (motif
    column = the motif)."""
    rng = np.random.default_rng(seed)
    probabilities = np.asarray(background, dtype=np.float64)
    classes = [NO_MOTIF] + list(motifs)
    ids, sequences, labels, rows = [], [], [], []
    for index in range(n_per_class * len(classes)):
        label = classes[index % len(classes)]
        identifier = f"{prefix}{index}"
        codes = rng.choice(4, size=length, p=probabilities / probabilities.sum())
        centred = label if label != NO_MOTIF else classes[1 + rng.integers(len(motifs))]
        width = motifs[centred].shape[1]
        start = (length - width) // 2 + int(rng.integers(-jitter, jitter + 1))
        decoy = classes[1 + rng.integers(len(motifs))]
        decoy_width = motifs[decoy].shape[1]
        free = [
            s
            for s in range(length - decoy_width + 1)
            if s + decoy_width <= (length - width) // 2 - jitter
            or s >= (length + width) // 2 + jitter + 1
        ]
        if not free:
            raise ValueError(f"no room for a decoy {decoy_width} bases wide in {length} bases")
        placed = [(int(rng.choice(free)), decoy)] if rng.random() < decoy_rate else []
        placed += [(start, centred)] if label != NO_MOTIF else []
        for site_start, motif in placed:
            site = sample_site(motifs[motif], rng)
            codes[site_start : site_start + len(site)] = site
            rows.append((identifier, label, motif, site_start, site_start + len(site), "+"))
        ids.append(identifier)
        sequences.append(BASES[codes].tobytes())
        labels.append(label)
    columns = ["id", "class", "motif", "start", "end", "strand"]
    return PlantedSet(ids, sequences, labels, pd.DataFrame(rows, columns=columns))


def _place(rng: np.random.Generator, length: int, width: int, count: int) -> list[tuple[int, str]]:
    """`count` non-overlapping (start, strand) for sites of `width` in a sequence of `length`."""
    if count * width > length:
        raise ValueError(f"{count} sites of {width} bases do not fit in {length} bases")
    while True:
        starts = np.sort(rng.integers(0, length - width + 1, size=count))
        if count == 1 or np.all(np.diff(starts) >= width):
            return [(int(start), "+" if rng.random() < 0.5 else "-") for start in starts]


def site_likelihood_ratios(
    sequences: list[bytes], pwm: np.ndarray, background: tuple[float, ...] = GENOME_BACKGROUND
) -> np.ndarray:
    """P(sequence | one site of `pwm` somewhere) / P(sequence | background only), float64 ``(N,)``.

    The generative model of `planted_set` with ``sites=1``: a uniform start and strand, the site's
    bases from the PWM, the rest from `background`. The ratio is the mean over starts and strands
    of the product of pwm / background over the site's bases.
    """
    from scipy.special import logsumexp

    from dnanet.inputs.encode import BYTE_TO_CODE

    probabilities = np.asarray(background, dtype=np.float64)
    with np.errstate(divide="ignore"):  # a base the PWM never emits: log 0 = -inf, ratio 0
        log_ratio = np.log(pwm) - np.log(probabilities / probabilities.sum())[:, None]  # (4, W)
    reverse = log_ratio[::-1, ::-1]  # the reverse complement's (A<->T, C<->G, reversed)
    width = pwm.shape[1]
    ratios = np.empty(len(sequences))
    for index, sequence in enumerate(sequences):
        codes = np.frombuffer(sequence.translate(BYTE_TO_CODE), dtype=np.uint8).astype(np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(codes, width)  # (P, W)
        columns = np.arange(width)
        scores = np.concatenate(
            [log_ratio[windows, columns].sum(1), reverse[windows, columns].sum(1)]
        )
        ratios[index] = np.exp(logsumexp(scores) - np.log(len(scores)))
    return ratios


def bayes_posteriors(
    planted: PlantedSet,
    motifs: dict[str, np.ndarray],
    background: tuple[float, ...] = GENOME_BACKGROUND,
) -> tuple[list[str], np.ndarray]:
    """The best any classifier can do on a one-site planted set (equal class sizes): class names
    and posterior probabilities ``(N, C)`` from the true generative model."""
    names = sorted(set(planted.labels), key=planted.labels.index)
    columns = [
        np.ones(len(planted.sequences))
        if name == NO_MOTIF
        else site_likelihood_ratios(planted.sequences, motifs[name], background)
        for name in names
    ]
    likelihood = np.stack(columns, axis=1)
    return names, likelihood / likelihood.sum(1, keepdims=True)
