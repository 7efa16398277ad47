"""Known motifs, offline: TomTom (memelite) against JASPAR (pyjaspar's bundled SQLite release)
or any MEME-format file. No network, no external binaries.

TomTom p-values are per (query, target) pair; each query's q-values are Benjamini-Hochberg over
all targets of the database (as MEME's tomtom reports), and the matches are the targets with
the smallest p-values. TomTom also tries each target's reverse complement, except when the
learned motifs are strand-specific (a model trained on the forward strand only) and the database
is RNA (``ALPHABET= ACGU``): an RNA site and its complement are different sites.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dnanet.errors import DnanetError

JASPAR_RELEASE = "JASPAR2024"
JASPAR_COLLECTION = "CORE"
JASPAR_TAXON = "vertebrates"
TOP_MATCHES = 3
JASPAR_RNA_NOTE = (
    "JASPAR CORE holds motifs of DNA-binding proteins (transcription factors): an RNA model's "
    "matches to it are resemblances only; give RNA-binding protein motifs (a MEME file, "
    "ALPHABET= ACGU) with --motif-db"
)


@dataclass
class MotifDatabase:
    """Known motifs ``{"MA0139.2 CTCF": probabilities (4, W)}`` (rows A C G T/U), where they came
    from, their letters (``ACGU`` for an RNA motif file) and, for JASPAR, each matrix's TF family
    (``{"MA0139.2": "More than 3 adjacent zinc fingers"}``)."""

    name: str
    motifs: dict[str, np.ndarray]
    letters: str = "ACGT"
    dna_binding: bool = False  # JASPAR CORE: transcription factors only
    families: dict[str, str] = field(default_factory=dict)

    @property
    def rna(self) -> bool:
        return self.letters == "ACGU"


@dataclass
class Match:
    """A known motif matching a query: its id and name, TomTom p-value and q-value, and its
    PWM ``(4, W)`` oriented as it matched (reverse-complemented when ``strand`` is ``-``),
    starting `offset` columns before the query's first column."""

    id: str
    name: str
    p: float
    q: float
    pwm: np.ndarray | None = None
    strand: str = "+"
    offset: int = 0
    letters: str = "ACGT"
    family: str = ""  # JASPAR's TF family of the known motif ("" when the database has none)


def jaspar_database(
    release: str = JASPAR_RELEASE, collection: str = JASPAR_COLLECTION, taxon: str = JASPAR_TAXON
) -> MotifDatabase:
    """JASPAR's latest version of each matrix of `collection` and `taxon` (pyjaspar, offline)."""
    return MotifDatabase(
        f"{release} {collection} {taxon}",
        jaspar_motifs(release, collection, taxon),
        dna_binding=collection == "CORE",
        families=jaspar_families(release, collection, taxon),
    )


def jaspar_motifs(
    release: str = JASPAR_RELEASE, collection: str = JASPAR_COLLECTION, taxon: str = JASPAR_TAXON
) -> dict[str, np.ndarray]:
    """{"MA0139.2 CTCF": probabilities ``(4, W)``} for the latest version of each matrix."""
    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        database = jaspardb(release=release)
        found = database.fetch_motifs(collection=collection, tax_group=[taxon])
    motifs = {}
    for motif in found:
        counts = np.array([motif.counts[base] for base in "ACGT"], dtype=np.float64)  # (4, W)
        motifs[f"{motif.matrix_id} {motif.name}"] = (counts + 0.01) / (counts + 0.01).sum(
            0, keepdims=True
        )
    return motifs


def jaspar_families(
    release: str = JASPAR_RELEASE, collection: str = JASPAR_COLLECTION, taxon: str = JASPAR_TAXON
) -> dict[str, str]:
    """{"MA0139.2": "More than 3 adjacent zinc fingers"}: each matrix's JASPAR family (a dimer's
    families joined with "::", as its name is, e.g. MAF::NFE2 "Maf-related::Jun-related")."""
    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = jaspardb(release=release).fetch_motifs(collection=collection, tax_group=[taxon])
    return {motif.matrix_id: "::".join(motif.tf_family or []) for motif in found}


def read_motif_file(path: Path) -> MotifDatabase:
    """A MEME-format motif file (memelite's reader) -> its motifs and letters (``ALPHABET=``
    ``ACGU`` or ``RNA``: RNA); one-line errors naming the file and, for a bad matrix, the line."""
    from memelite.io import read_meme

    if not path.is_file():
        raise DnanetError(
            f"{path}: no such motif file" if not path.exists() else f"{path}: not a file"
        )
    try:
        text = path.read_text(encoding="utf-8")
        motifs = read_meme(str(path))
    except (ValueError, IndexError, AttributeError, UnicodeDecodeError) as error:
        raise DnanetError(
            f"{path}: not a MEME motif file ({_first_problem(path, error)})"
        ) from None
    if not motifs:
        raise DnanetError(
            f"{path}: no motifs found (expected MEME format: MOTIF lines and "
            "letter-probability matrices)"
        )
    alphabet = re.search(r"^ALPHABET\s*=?\s*\"?(\S+?)\"?\s*$", text, re.MULTILINE)
    letters = alphabet.group(1).upper() if alphabet else "ACGT"
    if letters not in ("ACGT", "ACGU", "DNA", "RNA"):
        raise DnanetError(
            f"{path}: ALPHABET= {alphabet.group(1)}: only DNA (ACGT) and RNA (ACGU) motifs compare"
        )
    for name, pwm in motifs.items():
        if not np.all(np.isfinite(pwm)) or np.any(pwm < 0) or np.any(np.abs(pwm.sum(0) - 1) > 0.1):
            raise DnanetError(
                f"{path}: MOTIF {name}: each matrix row must be 4 probabilities summing to 1"
            )
    return MotifDatabase(
        str(path),
        {name: (pwm + 1e-3) / (pwm + 1e-3).sum(0, keepdims=True) for name, pwm in motifs.items()},
        "ACGU" if letters in ("ACGU", "RNA") else "ACGT",
    )


def _first_problem(path: Path, error: Exception) -> str:
    """Where a MEME file stops parsing: the first matrix row that is not 4 numbers, or the
    reader's own message."""
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    rows = None  # matrix rows still expected
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("MOTIF"):
                rows = None
            elif line.startswith("letter"):
                width = re.search(r"\bw=\s*(\d+)", line)
                if width is None:
                    return f"line {number}: letter-probability line without w="
                rows = int(width.group(1))
            elif rows:
                fields = line.split()
                try:
                    if len(fields) != 4:
                        raise ValueError
                    [float(f) for f in fields]
                except ValueError:
                    return f"line {number}: expected 4 probabilities, got '{line.strip()[:40]}'"
                rows -= 1
    return str(error)


def as_database(known: MotifDatabase | dict[str, np.ndarray]) -> MotifDatabase:
    """`known` as a `MotifDatabase` (a plain ``{name: PWM (4, W)}`` dict is DNA motifs)."""
    return known if isinstance(known, MotifDatabase) else MotifDatabase("known motifs", dict(known))


def best_matches(
    queries: list[np.ndarray], known: MotifDatabase | dict[str, np.ndarray]
) -> list[Match | None]:
    """The best target of each query PWM ``(4, W)`` (None when there are no targets)."""
    return [
        found[0] if found else None for found in top_matches(queries, as_database(known), top=1)
    ]


def best_families(matches: list[Match]) -> str:
    """The TF families of the best match and of the matches tied with it on q (TomTom cannot tell
    them apart at that false discovery rate; e.g. an E-box matching BHLHE41 and USF2 at the same
    q names both "Hairy-related factors" and "bHLH-ZIP"), "; "-joined, in match order."""
    if not matches:
        return ""
    tied = [m.family for m in matches if m.q <= matches[0].q and m.family]
    return "; ".join(dict.fromkeys(tied))


def top_matches(
    queries: list[np.ndarray],
    database: MotifDatabase,
    strand_specific: bool = False,
    top: int = TOP_MATCHES,
) -> list[list[Match]]:
    """The `top` targets of each query PWM ``(4, W)`` by TomTom p-value (best first), with
    q-values; `strand_specific` queries are compared with an RNA database in their own
    orientation only."""
    from memelite import tomtom
    from scipy.stats import false_discovery_control

    targets = database.motifs
    if not queries or not targets:
        return [[] for _ in queries]
    names = list(targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_values, _, offsets, _, strands = tomtom(
            queries,
            [targets[n] for n in names],
            n_jobs=1,
            reverse_complement=not (strand_specific and database.rna),
        )[:5]
    matches = []
    for i, row in enumerate(np.asarray(p_values, dtype=np.float64)):
        row = np.clip(np.nan_to_num(row, nan=1.0), 0.0, 1.0)
        q = false_discovery_control(row, method="bh")
        found = []
        for best in np.argsort(row, kind="stable")[:top]:
            identifier, _, name = names[best].partition(" ")
            reverse = bool(strands[i][best])
            pwm = targets[names[best]]
            found.append(
                Match(
                    identifier,
                    name or identifier,
                    float(row[best]),
                    float(q[best]),
                    pwm[::-1, ::-1].copy() if reverse else pwm,
                    "-" if reverse else "+",
                    int(offsets[i][best]),
                    database.letters,
                    database.families.get(identifier, ""),
                )
            )
        matches.append(found)
    return matches
