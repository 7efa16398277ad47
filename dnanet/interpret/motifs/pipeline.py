"""The motif stages joined: scores -> seqlets -> PWMs -> enrichment -> faithfulness -> known
motifs, one class against the rest at a time, every class scored toward itself (so a binary
task gets both classes' motifs). Each class's `select.ClassReport` counts seqlets, candidate
PWMs and dropped motifs. Memory: the sequences' flat codes, one float32 score per base, and one
batch of model activations.

Two engines (``ENGINES``, `MotifOptions.engine`) turn the model into candidate PWMs: ``own``
(per-base scores -> seqlets -> k-mer-seeded PWMs; motifs ``M1``, ``M2``, ...) and ``modisco``
(hypothetical attributions -> TF-MoDISco's patterns, `modisco`; ``D1``, ``D2``, ...); ``both``
runs each. Every candidate then takes the same path: enrichment against the class background,
distinct sites, q-values (over each engine's motifs), TomTom, faithfulness."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from dnanet.data.sets import SequenceSet
from dnanet.inputs import shuffle
from dnanet.interpret import attribution
from dnanet.interpret.motifs import cluster, compare, enrich, modisco, scores, seqlets
from dnanet.interpret.motifs.select import ClassReport, FoundMotif, distinct_motifs, finish
from dnanet.progress import Reporter

__all__ = [
    "BACKGROUNDS",
    "ENGINES",
    "ClassReport",
    "FoundMotif",
    "MotifOptions",
    "discover",
    "with_background",
]

BACKGROUNDS = ("other", "shuffled")
ENGINES = ("own", "modisco", "both")
PREFIXES = {"own": "M", "modisco": "D"}  # motif ids: M1_<class> (own), D1_<class> (modisco)


@dataclass(frozen=True)
class MotifOptions:
    """Settings of `discover` (the CLI documents each)."""

    method: str = "auto"  # auto: attention for a transformer, gradient × input otherwise
    aggregation: str = "rollout"
    background: str = "other"
    classes: tuple[str, ...] = ()  # () = every class
    width: int = 15  # seqlet window, bases
    context: int = 10  # bases added on each side of a seqlet for clustering
    per_sequence: int = 2
    null_quantile: float = 0.9
    max_motifs: int = 8  # per class
    max_q: float = 0.05  # motifs with a higher enrichment q are dropped as not enriched
    site_p: float = 1e-4
    batch_size: int = 128
    faithfulness_sequences: int = 500
    seed: int = 0
    baseline_sequences: int = (
        3000  # baseline: most sequences per class (and background) searched for k-mers
    )
    baseline_length: int = (
        500  # baseline: longer sequences are searched in their central stretch of this length
    )
    both_strands: bool = (
        True  # False for a model trained on the forward strand only: PWMs and sites on + only
    )
    engine: str = "own"  # own, modisco or both (ENGINES)
    attribution: str = "saliency"  # the modisco engine's attributions (attribution.METHODS)


@dataclass
class ClassSet:
    """One class's sequences (`members`) and its background, as indices into the pool."""

    name: str
    target: int
    members: np.ndarray
    background: np.ndarray


def with_background(pool: SequenceSet, options: MotifOptions) -> SequenceSet:
    """The pool `discover` and the baseline take: `pool`, followed by its shuffles when the
    background is ``shuffled``."""
    return with_shuffles(pool, options.seed) if options.background == "shuffled" else pool


def class_sets(
    pool: SequenceSet, names: list[str], options: MotifOptions, source: str
) -> tuple[list[ClassSet], list[ClassReport]]:
    """The requested classes with their members and background (`with_background` pool), and a
    report per class; a class with no sequences or no background is reported as skipped."""
    sets, reports = [], []
    n_original = int((pool.targets >= 0).sum())
    for class_name in options.classes or names:
        target = names.index(class_name)
        members = np.flatnonzero(pool.targets == target)
        if options.background == "shuffled":
            background = members + n_original
        else:
            background = np.flatnonzero((pool.targets != target) & (pool.targets >= 0))
        report = ClassReport(source, class_name, len(members), len(background), max_q=options.max_q)
        reports.append(report)
        if len(members) == 0 or len(background) == 0:
            report.stopped = (
                f"skipped: no {'sequences' if len(members) == 0 else 'background sequences'}"
            )
            continue
        sets.append(ClassSet(class_name, target, members, background))
    return sets, reports


def with_shuffles(pool: SequenceSet, seed: int) -> SequenceSet:
    """`pool` followed by a dinucleotide shuffle of each of its sequences (target -1)."""
    flat, offsets = shuffle.shuffle_all(pool.flat, pool.offsets, np.arange(len(pool.ids)), seed)
    return SequenceSet(
        list(pool.ids) + [f"{i}_shuffled" for i in pool.ids],
        np.concatenate([pool.flat, flat]),
        np.concatenate([pool.offsets, offsets[1:] + pool.offsets[-1]]),
        np.concatenate([pool.targets, np.full(len(pool.ids), -1)]),
    )


def resolve_method(model: nn.Module, method: str) -> str:
    if method == "auto":
        return "attention" if scores.has_attention(model) else "gradient"
    if method == "attention" and not scores.has_attention(model):
        return "gradient"  # the caller reports the fallback
    return method


def score_pool(
    model: nn.Module,
    pool: SequenceSet,
    indices: np.ndarray,
    method: str,
    target: int,
    options: MotifOptions,
    tick: Callable[[int], None],
    objective_of: scores.ObjectiveOf | None = None,
) -> np.ndarray:
    """Flat float32 scores aligned with ``pool.flat`` (zero outside `indices`), toward output
    `target` as `objective_of` defines it (`scores.score_batch`)."""
    device = next(model.parameters()).device
    flat_scores = np.zeros(len(pool.flat), dtype=np.float32)
    lengths = pool.lengths
    order = indices[np.argsort(lengths[indices], kind="stable")]  # similar lengths share a batch
    for start in range(0, len(order), options.batch_size):
        batch = order[start : start + options.batch_size]
        codes = torch.from_numpy(pool.codes(batch)[0]).to(device)
        values = scores.score_batch(
            model, codes, method, target, options.aggregation, options.width, objective_of
        )
        values = values.detach().cpu().numpy()
        for row, i in enumerate(batch):
            flat_scores[pool.offsets[i] : pool.offsets[i + 1]] = values[row, : lengths[i]]
        tick(len(batch))
    return flat_scores


def class_motifs(
    pool: SequenceSet,
    flat_scores: np.ndarray,
    members: np.ndarray,
    background: np.ndarray,
    options: MotifOptions,
    report: ClassReport,
) -> list[cluster.Motif]:
    """Candidate PWMs from the seqlets of `members` against the best windows of `background`
    (indices); the seqlet and clustering counts go into `report`."""
    threshold = seqlets.null_threshold(
        flat_scores, pool.offsets, background, options.width, options.null_quantile
    )
    found = seqlets.find_seqlets(
        flat_scores, pool.offsets, members, options.width, options.per_sequence, threshold
    )
    report.with_seqlet, report.seqlets = len(np.unique(found.sequence)), len(found)
    null = seqlets.find_seqlets(flat_scores, pool.offsets, background, options.width, 1, -np.inf)
    size = options.width + 2 * options.context
    regions = seqlets.cut_regions(
        pool.flat, pool.offsets, found.sequence, found.start - options.context, size
    )
    null_regions = seqlets.cut_regions(
        pool.flat, pool.offsets, null.sequence, null.start - options.context, size
    )
    min_seqlets = max(5, int(0.02 * len(members)))
    search = cluster.search_pwms(
        regions,
        null_regions,
        max_motifs=options.max_motifs,
        min_seqlets=min_seqlets,
        both_strands=options.both_strands,
    )
    report.min_seqlets, report.stopped, report.candidates = (
        search.min_seqlets,
        search.stopped,
        len(search.motifs),
    )
    return search.motifs


def discover(
    model: nn.Module,
    names: list[str],
    pool: SequenceSet,
    options: MotifOptions,
    activate,
    known: compare.MotifDatabase | dict[str, np.ndarray] | None = None,
    reporter: Reporter | None = None,
    objective_of: scores.ObjectiveOf | None = None,
) -> tuple[list[FoundMotif], list[ClassReport], str]:
    """Motifs of each class of `pool` (a `with_background` pool; targets index `names`), each
    engine's most significant first (``options.engine``: own, modisco, or both: the own engine's
    then modisco's), a report per class and engine, and the scoring methods used (e.g.
    ``gradient_x_input + modisco:saliency``). `known`: motifs to compare with (None: no
    comparison). `objective_of`: what each class's scores explain (`scores.motif_objective`;
    default: the centred class logit); faithfulness measures the drop of the same output, as
    `activate` gives it. With ``options.both_strands`` False (a model trained on the forward strand
    only) seqlets, PWMs, enrichment and sites are all forward-strand: the scores already are (the
    model is read on the strand it was given). Progress (scoring, clustering, TomTom,
    faithfulness) goes to `reporter`."""
    reporter = reporter if reporter is not None else Reporter()
    engines = ("own", "modisco") if options.engine == "both" else (options.engine,)
    if "modisco" in engines:
        modisco.start_compiling()
    found: list[FoundMotif] = []
    reports: list[ClassReport] = []
    labels = []
    for engine in engines:
        search = own_motifs if engine == "own" else modisco_motifs
        motifs, engine_reports, label = search(model, names, pool, options, reporter, objective_of)
        motifs = finish(
            motifs,
            engine_reports,
            options.max_q,
            PREFIXES[engine],
            known,
            reporter,
            options.both_strands,
        )
        for motif in motifs:
            motif.engine = engine
        found, reports, labels = found + motifs, reports + engine_reports, labels + [label]
    measure_faithfulness(model, names, pool, found, options, activate, reporter)
    return found, reports, " + ".join(labels)


def own_motifs(
    model: nn.Module,
    names: list[str],
    pool: SequenceSet,
    options: MotifOptions,
    reporter: Reporter,
    objective_of: scores.ObjectiveOf | None,
) -> tuple[list[FoundMotif], list[ClassReport], str]:
    """The own engine's tested motifs of every class before the q cut, the class reports (source
    ``model``) and the scoring method's label."""
    method = resolve_method(model, options.method)
    label = (
        f"attention:{options.aggregation}*gradient"
        if method == "attention"
        else {"gradient": "gradient_x_input", "ism": "in_silico_mutagenesis"}[method]
    )
    sets, reports = class_sets(pool, names, options, "model")
    by_class = {report.class_name: report for report in reports}
    found: list[FoundMotif] = []
    for group in sets:
        found += group_motifs(
            model,
            pool,
            group,
            (method, label),
            options,
            by_class[group.name],
            reporter,
            objective_of,
        )
    return found, reports, label


def modisco_motifs(
    model: nn.Module,
    names: list[str],
    pool: SequenceSet,
    options: MotifOptions,
    reporter: Reporter,
    objective_of: scores.ObjectiveOf | None,
) -> tuple[list[FoundMotif], list[ClassReport], str]:
    """The modisco engine's tested motifs of every class before the q cut (TF-MoDISco's patterns
    of the class's `options.attribution` attributions, `modisco`), the class reports (source
    ``modisco``) and the label ``modisco:<attribution>``."""
    label = f"modisco:{options.attribution}"
    sets, reports = class_sets(pool, names, options, "modisco")
    by_class = {report.class_name: report for report in reports}
    found: list[FoundMotif] = []
    for group in sets:
        objective = (objective_of or attribution.centred_logit)(group.target)
        report = by_class[group.name]
        what = f"{group.name}: attributions ({options.attribution})"
        with reporter.counter(what, len(group.members), "sequences") as update:
            sequences, values = modisco.hypothetical_attributions(
                model,
                pool,
                group.members,
                options.attribution,
                objective,
                options.batch_size,
                _tally(update),
            )
        with reporter.counter(f"{group.name}: TF-MoDISco", None, "patterns") as update:
            patterns = modisco.find_patterns(sequences, values)
            update(len(patterns.motifs))
        candidates = patterns.motifs[: options.max_motifs]
        report.with_seqlet, report.seqlets = patterns.sequences_with_seqlet, patterns.seqlets
        report.min_seqlets, report.candidates = patterns.min_seqlets, len(candidates)
        report.stopped = (
            "max_motifs"
            if len(patterns.motifs) > options.max_motifs
            else ("modisco_done" if candidates else "modisco_none")
        )
        found += distinct_motifs(
            candidates,
            group.name,
            label,
            pool,
            group.members,
            group.background,
            options.site_p,
            report,
            options.both_strands,
        )
    return found, reports, label


def measure_faithfulness(
    model: nn.Module,
    names: list[str],
    pool: SequenceSet,
    found: list[FoundMotif],
    options: MotifOptions,
    activate,
    reporter: Reporter,
) -> None:
    """Each motif's faithfulness (`enrich.faithfulness`: the drop of its class's output, as
    `activate` gives it, when its sites are shuffled), in place."""
    measuring = (  # no bar when there is nothing to measure
        reporter.counter("faithfulness", len(found), "motifs")
        if found
        else contextlib.nullcontext(lambda done: None)
    )
    with measuring as update:
        for done, motif in enumerate(found, 1):
            target = names.index(motif.class_name)
            motif.faithfulness = enrich.faithfulness(
                model,
                pool.flat,
                pool.offsets,
                motif.site_table,
                np.flatnonzero(pool.targets == target),
                target,
                activate,
                options.faithfulness_sequences,
                options.batch_size,
                options.seed,
            )
            update(done)


def group_motifs(
    model: nn.Module,
    pool: SequenceSet,
    group: ClassSet,
    method: tuple[str, str],
    options: MotifOptions,
    report: ClassReport,
    reporter: Reporter,
    objective_of: scores.ObjectiveOf | None = None,
) -> list[FoundMotif]:
    """One class's motifs before the q cut: its members and background scored (`method`: the
    resolved method and its label; toward `objective_of`'s output), seqlets clustered into PWMs,
    each tested (`select`)."""
    resolved, label = method
    total = len(group.members) + len(group.background)
    with reporter.counter(f"{group.name}: scoring ({label})", total, "sequences") as update:
        flat_scores = score_pool(
            model,
            pool,
            np.concatenate([group.members, group.background]),
            resolved,
            group.target,
            options,
            _tally(update),
            objective_of,
        )
    with reporter.counter(f"{group.name}: clustering seqlets", None, "candidate PWMs") as update:
        candidates = class_motifs(
            pool, flat_scores, group.members, group.background, options, report
        )
        update(len(candidates))
        return distinct_motifs(
            candidates,
            group.name,
            label,
            pool,
            group.members,
            group.background,
            options.site_p,
            report,
            options.both_strands,
        )


def _tally(update: Callable[[int], None]) -> Callable[[int], None]:
    """A `score_pool` tick (sequences in the batch just scored) that reports the running total."""
    done = [0]

    def tick(count: int) -> None:
        done[0] += count
        update(done[0])

    return tick
