"""Known motifs, offline: TomTom (memelite) against JASPAR (pyjaspar's bundled SQLite release)
or any MEME-format file. No network, no external binaries.

TomTom p-values are per (query, target) pair; each query's q-values are Benjamini-Hochberg over
all targets of the database (as MEME's tomtom reports), and the best match is the target with
the smallest p-value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet.errors import DnanetError

JASPAR_RELEASE = "JASPAR2024"
JASPAR_COLLECTION = "CORE"
JASPAR_TAXON = "vertebrates"


@dataclass
class Match:
    """The best known motif for a query: its id and name, TomTom p-value and q-value."""

    id: str
    name: str
    p: float
    q: float


def jaspar_motifs(release: str = JASPAR_RELEASE, collection: str = JASPAR_COLLECTION,
                  taxon: str = JASPAR_TAXON) -> dict[str, np.ndarray]:
    """{"MA0139.2 CTCF": probabilities ``(4, W)``} for the latest version of each matrix."""
    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        database = jaspardb(release=release)
        found = database.fetch_motifs(collection=collection, tax_group=[taxon])
    motifs = {}
    for motif in found:
        counts = np.array([motif.counts[base] for base in "ACGT"], dtype=np.float64)  # (4, W)
        motifs[f"{motif.matrix_id} {motif.name}"] = (counts + 0.01) / (counts + 0.01).sum(0, keepdims=True)
    return motifs


def read_motif_file(path: Path) -> dict[str, np.ndarray]:
    """A MEME-format motif file -> {MOTIF line: probabilities ``(4, W)``}; one-line errors."""
    from memelite.io import read_meme

    if not path.is_file():
        raise DnanetError(f"{path}: no such motif file" if not path.exists() else f"{path}: not a file")
    try:
        motifs = read_meme(str(path))
    except (ValueError, IndexError, AttributeError, UnicodeDecodeError) as error:
        raise DnanetError(f"{path}: not a MEME motif file ({error})") from None
    if not motifs:
        raise DnanetError(f"{path}: no motifs found (expected MEME format: MOTIF lines and "
                          "letter-probability matrices)")
    return motifs


def best_matches(queries: list[np.ndarray], targets: dict[str, np.ndarray]) -> list[Match | None]:
    """Best target of each query PWM ``(4, W)`` by TomTom p-value, with its q-value."""
    from memelite import tomtom
    from scipy.stats import false_discovery_control

    if not queries or not targets:
        return [None] * len(queries)
    names = list(targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_values = tomtom(queries, [targets[n] for n in names], n_jobs=1)[0]  # (Q, T)
    matches = []
    for row in np.asarray(p_values, dtype=np.float64):
        row = np.clip(np.nan_to_num(row, nan=1.0), 0.0, 1.0)
        q = false_discovery_control(row, method="bh")
        best = int(np.argmin(row))
        identifier, _, name = names[best].partition(" ")
        matches.append(Match(identifier, name or identifier, float(row[best]), float(q[best])))
    return matches
