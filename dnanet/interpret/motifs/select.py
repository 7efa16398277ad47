"""Candidate PWMs -> reported motifs, the same way for the model's seqlets and for the k-mer
baseline, with a per-class account of what was dropped and why.

Per class: each candidate PWM is scanned in the class and background sequences (memelite FIMO)
and tested (one-sided Fisher); candidates are taken by p, and one whose sites mostly (>= half of
their centres) fall inside the sites of a more significant motif of the class is dropped.
Over all classes of one source: Benjamini-Hochberg q, motifs with ``q > max_q`` dropped as not
enriched, the rest ranked by p and named ``<prefix><rank>_<class>``, then compared with known
motifs (the top `compare.TOP_MATCHES`). A `ClassReport` counts every step, so an empty result
says where it emptied. Scans cover both strands, or the forward one only (``both_strands``
False: a model trained on one strand; every site is then on ``+``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from dnanet.data.sets import SequenceSet
from dnanet.inputs.encode import one_hot
from dnanet.interpret.motifs import cluster, compare, enrich
from dnanet.progress import Reporter

REPORT_COLUMNS = [
    "source",
    "class",
    "sequences",
    "background",
    "sequences_with_seqlet",
    "seqlets",
    "min_seqlets",
    "candidate_pwms",
    "dropped_same_sites",
    "dropped_not_enriched",
    "motifs",
    "clustering_stopped",
    "explanation",
]


@dataclass
class FoundMotif:
    """A motif with its statistics; ``sites`` holds its sites in the class's sequences as
    (sequence id, start, end, strand, score), ``site_table`` the same as found by `enrich.scan`
    (``sequence`` indexes the class's members)."""

    class_name: str
    method: str
    pwm: np.ndarray  # (4, W)
    seqlets: int
    n_class: int
    n_background: int
    with_site_class: int = 0
    with_site_background: int = 0
    p: float = 1.0
    q: float = 1.0
    faithfulness: float = float("nan")
    match: compare.Match | None = None  # the best of `matches`
    matches: list[compare.Match] = field(default_factory=list)  # best first
    sites: list = field(default_factory=list)
    site_table: pd.DataFrame | None = field(default=None, repr=False)
    id: str = ""
    engine: str = "own"  # what found it: own or modisco (`pipeline.ENGINES`), or baseline


@dataclass
class ClassReport:
    """How one class's motifs came about (`source`: model (the own engine), modisco or
    baseline); columns ``REPORT_COLUMNS``."""

    source: str
    class_name: str
    sequences: int
    background: int
    with_seqlet: int = 0
    seqlets: int = 0
    min_seqlets: int = 0
    candidates: int = 0
    same_sites: int = 0
    not_enriched: int = 0
    motifs: int = 0
    stopped: str = ""  # a key of cluster.STOPS, or why the class was skipped
    max_q: float = 0.05

    def explanation(self) -> str:
        """Why the class has the motifs it has (most useful when it has none)."""
        if self.stopped.startswith("skipped"):
            return self.stopped
        if self.seqlets == 0 and self.source == "model":
            return "no seqlets: no window of the class scored above the background's best windows"
        parts = [f"{self.motifs} motif{'s' * (self.motifs != 1)} kept"]
        if self.same_sites:
            parts.append(f"{self.same_sites} dropped: mostly the same sites as a better motif")
        if self.not_enriched:
            parts.append(f"{self.not_enriched} dropped: not enriched (q > {self.max_q:g})")
        stop = cluster.STOPS.get(self.stopped, self.stopped)
        if self.stopped == "too_few_seqlets" and self.candidates == 0:
            stop += f" ({self.seqlets} < {self.min_seqlets})"
        return "; ".join(parts + [f"search stopped: {stop}"])

    def row(self) -> list:
        return [
            self.source,
            self.class_name,
            self.sequences,
            self.background,
            self.with_seqlet,
            self.seqlets,
            self.min_seqlets,
            self.candidates,
            self.same_sites,
            self.not_enriched,
            self.motifs,
            self.stopped,
            self.explanation(),
        ]

    def line(self) -> str:
        """One terminal line."""
        if self.stopped.startswith("skipped"):
            return f"{self.source} {self.class_name}: {self.stopped}"
        what = (
            "sequences searched (the rest test)"
            if self.source == "baseline"
            else "sequences with a seqlet"
        )
        counts = f"{self.with_seqlet:,}/{self.sequences:,} {what}"
        if self.source != "baseline":
            counts += f", {self.seqlets:,} seqlets"
        return (
            f"{self.source} {self.class_name}: {counts}, {self.candidates} candidate PWM"
            f"{'s' * (self.candidates != 1)} -> {self.explanation()}"
        )


def test_motif(
    motif: FoundMotif,
    pool: SequenceSet,
    members: np.ndarray,
    background: np.ndarray,
    site_p: float,
    both_strands: bool = True,
) -> None:
    """Fill in the motif's site counts, sites and enrichment p-value (class `members` against
    `background`, both sequence indices of `pool` (its targets: class index per sequence, -1 for a
    shuffle); sites on both strands or the forward one)."""
    found = []
    for indices in (members, background):
        hits = []
        for start in range(0, len(indices), 2048):
            chunk = indices[start : start + 2048]
            codes, lengths = pool.codes(chunk)  # (n, L_max), (n,)
            part = enrich.scan(
                motif.pwm, one_hot(torch.from_numpy(codes)).numpy(), lengths, site_p, both_strands
            )
            part["sequence"] += start
            hits.append(part)
        found.append(pd.concat(hits) if hits else pd.DataFrame(columns=enrich.SITE_COLUMNS))
    sites, background_sites = found
    motif.with_site_class = int(sites["sequence"].nunique())
    motif.with_site_background = int(background_sites["sequence"].nunique())
    motif.p = enrich.enrichment(
        motif.with_site_class, len(members), motif.with_site_background, len(background)
    )
    motif.site_table = sites
    motif.sites = [
        (pool.ids[members[s]], int(b), int(e), st, float(sc))
        for s, b, e, st, sc in sites[["sequence", "start", "end", "strand", "score"]].itertuples(
            index=False
        )
    ]


def distinct_motifs(
    candidates: list[cluster.Motif],
    class_name: str,
    method: str,
    pool: SequenceSet,
    members: np.ndarray,
    background: np.ndarray,
    site_p: float,
    report: ClassReport,
    both_strands: bool = True,
) -> list[FoundMotif]:
    """Test each candidate PWM (`test_motif`), then keep them by p unless their sites mostly
    coincide with a kept one's (counted in ``report.same_sites``)."""
    tested = []
    for candidate in candidates:
        motif = FoundMotif(
            class_name, method, candidate.pwm, candidate.seqlets, len(members), len(background)
        )
        test_motif(motif, pool, members, background, site_p, both_strands)
        tested.append(motif)
    covered = np.zeros(len(pool.flat), dtype=bool)  # bases inside the sites of kept motifs
    kept = []
    for motif in sorted(tested, key=lambda m: m.p):
        table = motif.site_table
        starts = pool.offsets[members[table["sequence"].to_numpy(dtype=np.int64)]] + table[
            "start"
        ].to_numpy(dtype=np.int64)
        widths = table["end"].to_numpy(dtype=np.int64) - table["start"].to_numpy(dtype=np.int64)
        if len(starts) and covered[starts + widths // 2].mean() >= 0.5:
            report.same_sites += 1
            continue
        for start, width in zip(starts, widths):
            covered[start : start + width] = True
        kept.append(motif)
    return kept


def finish(
    found: list[FoundMotif],
    reports: list[ClassReport],
    max_q: float,
    prefix: str,
    known: compare.MotifDatabase | dict[str, np.ndarray] | None,
    reporter: Reporter | None = None,
    both_strands: bool = True,
) -> list[FoundMotif]:
    """q-values over `found`, drop ``q > max_q`` (counted in the class's report), rank by p,
    name ``<prefix><rank>_<class>``, and compare with `known` (None: no comparison; motifs of a
    one-strand model meet an RNA database in their own orientation only); the comparison's
    progress goes to `reporter`."""
    for motif, q in zip(found, enrich.q_values([m.p for m in found])):
        motif.q = q
    by_class = {report.class_name: report for report in reports}
    kept = []
    for motif in found:
        if motif.q > max_q:
            by_class[motif.class_name].not_enriched += 1
        else:
            kept.append(motif)
            by_class[motif.class_name].motifs += 1
    kept.sort(key=lambda m: (m.p, -m.with_site_class))
    for rank, motif in enumerate(kept, 1):
        motif.id = f"{prefix}{rank}_{motif.class_name}"
    if known is not None and kept:
        reporter = reporter if reporter is not None else Reporter()
        what = "comparing with known motifs (TomTom)"
        with reporter.counter(what, len(kept), "motifs") as update:
            database = compare.as_database(known)
            for motif, matches in zip(
                kept, compare.top_matches([m.pwm for m in kept], database, not both_strands)
            ):
                motif.matches, motif.match = matches, (matches[0] if matches else None)
            update(len(kept))
    return kept
