"""The motif stages joined: scores -> seqlets -> PWMs -> enrichment -> faithfulness -> known
motifs, one class against the rest at a time. Memory: the sequences' flat codes, one float32
score per base and class, and one batch of model activations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from dnanet.encode import pad_flat_codes
from dnanet.motifs import cluster, compare, enrich, scores, seqlets, shuffle

BACKGROUNDS = ("other", "shuffled")


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
    site_p: float = 1e-4
    batch_size: int = 128
    faithfulness_sequences: int = 500
    seed: int = 0


@dataclass
class FoundMotif:
    """A motif with its statistics; ``sites`` holds its sites in the class's sequences."""

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
    match: compare.Match | None = None
    sites: list = field(default_factory=list)  # (sequence id, start, end, strand, score)
    id: str = ""


@dataclass
class Pool:
    """Sequences as flat codes (``offsets (N + 1,)``), class index per sequence (-1: shuffle)."""

    ids: list[str]
    flat: np.ndarray
    offsets: np.ndarray
    targets: np.ndarray


def with_shuffles(pool: Pool, seed: int) -> Pool:
    """`pool` followed by a dinucleotide shuffle of each of its sequences (target -1)."""
    flat, offsets = shuffle.shuffle_all(pool.flat, pool.offsets, np.arange(len(pool.ids)), seed)
    return Pool(pool.ids + [f"{i}_shuffled" for i in pool.ids], np.concatenate([pool.flat, flat]),
                np.concatenate([pool.offsets, offsets[1:] + pool.offsets[-1]]),
                np.concatenate([pool.targets, np.full(len(pool.ids), -1)]))


def resolve_method(model: nn.Module, method: str) -> str:
    if method == "auto":
        return "attention" if scores.has_attention(model) else "gradient"
    if method == "attention" and not scores.has_attention(model):
        return "gradient"  # the caller reports the fallback
    return method


def score_pool(model: nn.Module, pool: Pool, indices: np.ndarray, method: str, target: int,
               options: MotifOptions, tick: Callable[[int], None]) -> np.ndarray:
    """Flat float32 scores aligned with ``pool.flat`` (zero outside `indices`)."""
    device = next(model.parameters()).device
    flat_scores = np.zeros(len(pool.flat), dtype=np.float32)
    lengths = np.diff(pool.offsets)
    order = indices[np.argsort(lengths[indices], kind="stable")]  # similar lengths share a batch
    for start in range(0, len(order), options.batch_size):
        batch = order[start: start + options.batch_size]
        codes = torch.from_numpy(pad_flat_codes(pool.flat, lengths[batch], pool.offsets[batch])).to(device)
        values = scores.score_batch(model, codes, method, target, options.aggregation).detach().cpu().numpy()
        for row, i in enumerate(batch):
            flat_scores[pool.offsets[i]: pool.offsets[i + 1]] = values[row, : lengths[i]]
        tick(len(batch))
    return flat_scores


def class_motifs(pool: Pool, flat_scores: np.ndarray, members: np.ndarray, background: np.ndarray,
                 options: MotifOptions) -> list[cluster.Motif]:
    """PWMs from the seqlets of `members` against the best windows of `background` (indices)."""
    threshold = seqlets.null_threshold(flat_scores, pool.offsets, background, options.width, options.null_quantile)
    found = seqlets.find_seqlets(flat_scores, pool.offsets, members, options.width, options.per_sequence, threshold)
    null = seqlets.find_seqlets(flat_scores, pool.offsets, background, options.width, 1, -np.inf)
    size = options.width + 2 * options.context
    regions = seqlets.cut_regions(pool.flat, pool.offsets, found.sequence, found.start - options.context, size)
    null_regions = seqlets.cut_regions(pool.flat, pool.offsets, null.sequence, null.start - options.context, size)
    min_seqlets = max(5, int(0.02 * len(members)))
    return cluster.find_pwms(regions, null_regions, max_motifs=options.max_motifs, min_seqlets=min_seqlets)


def test_motif(motif: FoundMotif, pool: Pool, members: np.ndarray, background: np.ndarray,
               options: MotifOptions):
    """Fill in site counts and the enrichment p-value; return the class sites (DataFrame)."""
    lengths = np.diff(pool.offsets)
    found = []
    for indices in (members, background):
        hits = []
        for start in range(0, len(indices), 2048):
            chunk = indices[start: start + 2048]
            part = enrich.scan(motif.pwm, enrich.one_hot_numpy(pool.flat, pool.offsets, chunk), lengths[chunk], options.site_p)
            part["sequence"] += start
            hits.append(part)
        found.append(enrich.pd.concat(hits) if hits else enrich.pd.DataFrame(columns=enrich.SITE_COLUMNS))
    sites, background_sites = found
    motif.with_site_class = int(sites["sequence"].nunique())
    motif.with_site_background = int(background_sites["sequence"].nunique())
    motif.p = enrich.enrichment(motif.with_site_class, len(members), motif.with_site_background, len(background))
    motif.sites = [(pool.ids[members[s]], int(b), int(e), st, float(sc))
                   for s, b, e, st, sc in sites[["sequence", "start", "end", "strand", "score"]].itertuples(index=False)]
    return sites


def background_of(pool: Pool, members: np.ndarray, target: int, background: str, n_original: int) -> np.ndarray:
    """The background sequences of a class: the other classes, or the class's own shuffles."""
    if background == "shuffled":
        return members + n_original
    return np.flatnonzero((pool.targets != target) & (pool.targets >= 0))


def discover(model: nn.Module, names: list[str], pool: Pool, options: MotifOptions, activate,
             known: dict[str, np.ndarray] | None = None,
             say: Callable[[str], None] = lambda message: None) -> tuple[list[FoundMotif], str]:
    """Motifs of each class of `pool` (targets index `names`), most significant first, and the
    scoring method used. `known`: motifs to compare with (None: no comparison)."""
    method = resolve_method(model, options.method)
    n_original = len(pool.ids)
    if options.background == "shuffled":
        pool = with_shuffles(pool, options.seed)
    label = f"attention:{options.aggregation}" if method == "attention" else \
        {"gradient": "gradient_x_input", "ism": "in_silico_mutagenesis"}[method]
    found: list[FoundMotif] = []
    shared = None
    for class_name in options.classes or names:
        target = names.index(class_name)
        members = np.flatnonzero(pool.targets == target)
        background = background_of(pool, members, target, options.background, n_original)
        if len(members) == 0 or len(background) == 0:
            say(f"{class_name}: skipped (no {'sequences' if len(members) == 0 else 'background sequences'})")
            continue
        counter = _Counter(say, f"{class_name}: scoring ({label})", len(members) + len(background))
        if method == "attention":  # class-blind: score every sequence once
            if shared is None:
                shared = score_pool(model, pool, np.arange(len(pool.ids)), method, target, options, counter)
            flat_scores = shared
        else:
            flat_scores = score_pool(model, pool, np.concatenate([members, background]), method, target, options, counter)
        say(f"{class_name}: clustering seqlets")
        candidates = []
        for motif in class_motifs(pool, flat_scores, members, background, options):
            result = FoundMotif(class_name, label, motif.pwm, motif.seqlets, len(members), len(background))
            candidates.append((result, test_motif(result, pool, members, background, options)))
        covered = np.zeros(len(pool.flat), dtype=bool)  # bases inside the sites of kept motifs
        for result, sites in sorted(candidates, key=lambda pair: pair[0].p):
            starts = pool.offsets[members[sites["sequence"].to_numpy(dtype=np.int64)]] + sites["start"].to_numpy(dtype=np.int64)
            centres = starts + (sites["end"].to_numpy(dtype=np.int64) - sites["start"].to_numpy(dtype=np.int64)) // 2
            if len(centres) and covered[centres].mean() >= 0.5:
                continue  # mostly the same sites as a more significant motif of this class
            for start, width in zip(starts, sites["end"].to_numpy(dtype=np.int64) - sites["start"].to_numpy(dtype=np.int64)):
                covered[start: start + width] = True
            result.faithfulness = enrich.faithfulness(model, pool.flat, pool.offsets, sites, members, target, activate,
                                                      options.faithfulness_sequences, options.batch_size, options.seed)
            found.append(result)
    for motif, q in zip(found, enrich.q_values([m.p for m in found])):
        motif.q = q
    found.sort(key=lambda m: (m.p, -m.with_site_class))
    for rank, motif in enumerate(found, 1):
        motif.id = f"M{rank}_{motif.class_name}"
    if known is not None and found:
        say("comparing with known motifs (TomTom)")
        for motif, match in zip(found, compare.best_matches([m.pwm for m in found], known)):
            motif.match = match
    return found, label


class _Counter:
    """A progress callback: counts scored sequences and reports them through `say`."""

    def __init__(self, say: Callable[[str], None], what: str, total: int):
        self.say, self.what, self.total, self.done = say, what, total, 0

    def __call__(self, count: int) -> None:
        self.done += count
        self.say(f"{self.what}: {self.done:,}/{self.total:,} sequences")
