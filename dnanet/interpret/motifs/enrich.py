"""Is a motif enriched in its class? Scan, test, correct; and does the model use it?

Sites: memelite's FIMO (log-odds scan on both strands, or on the forward strand only for a model
trained on one strand; p-values under a uniform background) at
``p <= threshold``; a motif too short to ever reach the threshold (e.g. a 6-bp E-box, best
p = 4^-6) gets 1.5 × its best attainable p-value instead, i.e. near-consensus sites only.
Enrichment: one-sided Fisher's exact test on the numbers of class and background sequences
with a site; q-values by Benjamini-Hochberg over all motifs of the run.
Faithfulness: the mean drop in the class probability when the bases inside each of a
motif's sites are shuffled, over (at most ``limit``) class sequences that have a site.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from scipy.stats import false_discovery_control, fisher_exact
from torch import nn

from dnanet.inference.predict import predict_batch
from dnanet.inputs.encode import pad_flat_codes

SITE_COLUMNS = ["sequence", "start", "end", "strand", "score", "p"]


def site_threshold(pwm: np.ndarray, threshold: float) -> float:
    """FIMO p-value threshold for `pwm` ``(4, W)``: `threshold`, or 1.5 × the best attainable p."""
    best = np.prod((pwm == pwm.max(0, keepdims=True)).sum(0) / 4.0)
    return max(threshold, 1.5 * float(best))


def scan(
    pwm: np.ndarray,
    one_hot: np.ndarray,
    lengths: np.ndarray,
    threshold: float,
    both_strands: bool = True,
) -> pd.DataFrame:
    """Sites of `pwm` ``(4, W)`` in ``one_hot (n, 4, L)`` (rows: positions in `one_hot`) with
    columns ``SITE_COLUMNS``, inside each sequence; on both strands (`both_strands`) or on the
    forward strand only (every site ``+``)."""
    from memelite import fimo

    if len(one_hot) == 0 or one_hot.shape[-1] < pwm.shape[1]:
        return pd.DataFrame(columns=SITE_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hits = fimo(
            {"m": pwm},
            one_hot,
            threshold=site_threshold(pwm, threshold),
            reverse_complement=both_strands,
        )[0]
    hits = hits.rename(columns={"sequence_name": "sequence", "p-value": "p"})[SITE_COLUMNS]
    hits = hits[hits["end"] <= lengths[hits["sequence"].to_numpy(dtype=np.int64)]]
    return hits.sort_values(["sequence", "start"]).reset_index(drop=True)


def enrichment(
    with_site_class: int, n_class: int, with_site_background: int, n_background: int
) -> float:
    """One-sided Fisher's exact p-value that class sequences have a site more often."""
    table = [
        [with_site_class, n_class - with_site_class],
        [with_site_background, n_background - with_site_background],
    ]
    return float(fisher_exact(table, alternative="greater")[1]) if n_class and n_background else 1.0


def q_values(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg q-values of `p_values` (same order)."""
    return (
        false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh").tolist()
        if p_values
        else []
    )


def faithfulness(
    model: nn.Module,
    flat: np.ndarray,
    offsets: np.ndarray,
    sites: pd.DataFrame,
    indices: np.ndarray,
    target: int,
    activate,
    limit: int = 500,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """Mean drop in class `target`'s output when each site's bases are shuffled, over up to
    `limit` sequences with a site (``sites.sequence`` indexes `indices`)."""
    rng = np.random.default_rng(seed)
    chosen = np.unique(sites["sequence"].to_numpy(dtype=np.int64))
    if len(chosen) == 0:
        return float("nan")
    chosen = np.sort(rng.choice(chosen, min(limit, len(chosen)), replace=False))
    drops = []
    for batch in np.array_split(chosen, max(1, int(np.ceil(len(chosen) / batch_size)))):
        members = indices[batch]
        lengths = np.diff(offsets)[members]
        codes = pad_flat_codes(flat, lengths, offsets[members])  # (b, L)
        shuffled = codes.copy()
        for row, local in enumerate(batch):
            for start, end in sites.loc[sites["sequence"] == local, ["start", "end"]].to_numpy():
                shuffled[row, start:end] = rng.permutation(shuffled[row, start:end])
        both = torch.from_numpy(np.concatenate([codes, shuffled]))
        outputs = predict_batch(
            model, both, torch.from_numpy(np.concatenate([lengths, lengths])), activate=activate
        )[:, target].numpy()
        drops.append(outputs[: len(batch)] - outputs[len(batch) :])
    return float(np.concatenate(drops).mean())
