"""A model-free baseline: discriminative k-mer motifs of each class's whole sequences.

The seed-and-refine search the model's seqlets go through (`cluster.search_pwms`), run on whole
sequences instead: the regions are the class's sequences, the null regions its background
sequences (the other classes, or shuffles), so the seeds are the canonical 6-mers whose presence
is most enriched in the class (one-sided binomial test). Candidates then pass the same tests as
the model's motifs (`select`: Fisher enrichment, distinct sites, Benjamini-Hochberg q, TomTom),
but on held-out sequences: each class and background is split in halves (seeded), one half to
search, the other to test, since a PWM seeded and refined on a set of sequences is always
somewhat enriched in that same set (a motif-free class would otherwise get chance motifs).
It searches the strands the run was trained on (`MotifOptions.both_strands`).
No model is involved: it shows what is in the data whatever the model learned, so a known motif
the model's scores miss stays visible, and a model that did not learn still gets an answer.
"""

from __future__ import annotations

import numpy as np

from dnanet.data.sets import SequenceSet
from dnanet.interpret.motifs import cluster, compare, seqlets
from dnanet.interpret.motifs.pipeline import ClassSet, MotifOptions, class_sets
from dnanet.interpret.motifs.select import ClassReport, FoundMotif, distinct_motifs, finish
from dnanet.progress import Reporter

METHOD = "kmer_enrichment"


def sequence_regions(
    pool: SequenceSet, indices: np.ndarray, most: int, length: int, rng: np.random.Generator
) -> np.ndarray:
    """Codes uint8 ``(S, R)`` of up to `most` of sequences `indices` (a seeded sample), each cut
    to its central `length` bases; R is the longest kept length, shorter sequences end in PAD."""
    if len(indices) > most:
        indices = np.sort(rng.choice(indices, most, replace=False))
    lengths = np.diff(pool.offsets)[indices]
    width = int(min(length, lengths.max()))
    starts = np.maximum(0, (lengths - width) // 2)
    return seqlets.cut_regions(pool.flat, pool.offsets, indices, starts, width)


def halves(indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of `indices` into a search half and a test half (each sorted)."""
    order = rng.permutation(indices)
    middle = (len(order) + 1) // 2
    return np.sort(order[:middle]), np.sort(order[middle:])


def discover_baseline(
    names: list[str],
    pool: SequenceSet,
    options: MotifOptions,
    known: compare.MotifDatabase | dict[str, np.ndarray] | None = None,
    reporter: Reporter | None = None,
) -> tuple[list[FoundMotif], list[ClassReport]]:
    """Baseline motifs of each class of `pool` (a `pipeline.with_background` pool; targets index
    `names`), named ``B<rank>_<class>``, most significant first, and a report per class; progress
    (classes searched, TomTom) goes to `reporter`."""
    reporter = reporter if reporter is not None else Reporter()
    sets, reports = class_sets(pool, names, options, "baseline")
    by_class = {report.class_name: report for report in reports}
    found: list[FoundMotif] = []
    with reporter.counter("baseline k-mer search", len(sets), "classes") as update:
        for done, group in enumerate(sets, 1):
            found += class_baseline(pool, group, options, by_class[group.name])
            update(done)
    kept = finish(found, reports, options.max_q, "B", known, reporter, options.both_strands)
    for motif in kept:
        motif.engine = "baseline"
    return kept, reports


def class_baseline(
    pool: SequenceSet, group: ClassSet, options: MotifOptions, report: ClassReport
) -> list[FoundMotif]:
    """One class's baseline motifs before the q cut: PWMs searched in one half of its sequences
    against one half of its background, tested on the other halves."""
    rng = np.random.default_rng(options.seed)
    (search_members, test_members), (search_background, test_background) = (
        halves(group.members, rng),
        halves(group.background, rng),
    )
    regions = sequence_regions(
        pool, search_members, options.baseline_sequences, options.baseline_length, rng
    )
    null_regions = sequence_regions(
        pool, search_background, options.baseline_sequences, options.baseline_length, rng
    )
    search = cluster.search_pwms(
        regions,
        null_regions,
        max_motifs=options.max_motifs,
        min_seqlets=max(5, int(0.02 * len(regions))),
        both_strands=options.both_strands,
    )
    report.with_seqlet = report.seqlets = len(regions)
    report.min_seqlets, report.stopped, report.candidates = (
        search.min_seqlets,
        search.stopped,
        len(search.motifs),
    )
    return distinct_motifs(
        search.motifs,
        group.name,
        METHOD,
        pool,
        test_members,
        test_background,
        options.site_p,
        report,
        options.both_strands,
    )
