"""Which known motifs design wrote: every motif of a database (JASPAR CORE vertebrates by default,
or a MEME file) scanned with memelite's FIMO (both strands, p <= ``threshold`` under a uniform
background) in the designed and in the start sequences; a motif's enrichment is the one-sided
Fisher's exact test that more designed than start sequences carry a site, with Benjamini-Hochberg
q-values over the database (`dnanet.interpret.motifs.enrich`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from dnanet.interpret.motifs.enrich import enrichment, q_values

MOTIF_COLUMNS = ["motif", "name", "designed", "start", "n", "p", "q"]
SITE_P = 1e-4  # FIMO's default threshold


def one_hot_array(codes: np.ndarray) -> np.ndarray:
    """Codes uint8 ``(N, L)`` -> one-hot float32 ``(N, 4, L)`` (N and padding all zero)."""
    table = np.vstack([np.eye(4, dtype=np.float32), np.zeros((252, 4), np.float32)])
    return np.ascontiguousarray(table[codes].transpose(0, 2, 1))


def motif_database(motif_db: Optional[Path]) -> dict[str, np.ndarray]:
    """{"ID NAME": PWM (4, W)} of `motif_db` (a MEME file) or of JASPAR CORE vertebrates."""
    from dnanet.interpret.motifs.compare import jaspar_database, read_motif_file

    return (read_motif_file(motif_db) if motif_db else jaspar_database()).motifs


def sequences_with_site(
    motifs: dict[str, np.ndarray], codes: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """How many of the sequences codes ``(N, L)`` carry a FIMO site of each motif ``(K,)``."""
    from memelite import fimo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hits = fimo(motifs, one_hot_array(codes), threshold=SITE_P, reverse_complement=True)
    counts = []
    for found in hits:
        inside = found[found["end"] <= lengths[found["sequence_name"].to_numpy(dtype=np.int64)]]
        counts.append(inside["sequence_name"].nunique())
    return np.array(counts, dtype=np.int64)


def designed_motifs(
    motifs: dict[str, np.ndarray],
    designed: np.ndarray,
    start: np.ndarray,
    lengths: np.ndarray,
) -> pd.DataFrame:
    """``MOTIF_COLUMNS`` for every motif with a site in some designed sequence, most enriched
    first: its id and name, the designed and start sequences with a site, of `n` each, p and q."""
    with_design = sequences_with_site(motifs, designed, lengths)
    with_start = sequences_with_site(motifs, start, lengths)
    n = len(designed)
    p = [enrichment(int(d), n, int(s), n) for d, s in zip(with_design, with_start)]
    names = [key.partition(" ") for key in motifs]
    table = pd.DataFrame(
        {
            "motif": [identifier for identifier, _, _ in names],
            "name": [name or identifier for identifier, _, name in names],
            "designed": with_design,
            "start": with_start,
            "n": n,
            "p": p,
            "q": q_values(p),
        },
        columns=MOTIF_COLUMNS,
    )
    table = table[table["designed"] > 0]
    return table.sort_values(["p", "designed"], ascending=[True, False], kind="stable")
