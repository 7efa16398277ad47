"""What `dnanet marginalize` and `dnanet design` put into sequences, and the sequences they start
from: a motif named as a JASPAR id, a consensus string or a MEME file (`resolve_motif`), and
background sequences, either dinucleotide shuffles of the user's FASTA records
(`shuffled_backgrounds`) or i.i.d. random bases at a chosen GC content (`random_sequences`).

A motif given as a PWM (JASPAR, MEME) is inserted as its most likely sequence: the most probable
base of each column (ties: the first of A C G T), so every background gets the same bases and the
effect measured is that of one sequence, the PWM's consensus.

Sequences are codes uint8 ``(N, L)`` (`dnanet.inputs.encode`: A C G T = 0..3, N = 4, PAD = 5 after
each record's end) with their lengths int64 ``(N,)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.encode import BASE_LETTERS, BYTE_TO_CODE, pad_flat_codes, sequences_to_codes
from dnanet.inputs.shuffle import dinucleotide_shuffle

JASPAR_ID = re.compile(r"^[A-Z]{2}\d{4}(\.\d+)?$")  # MA0139, MA0139.2, PB0001.1 ...


@dataclass(frozen=True)
class Motif:
    """A motif to insert: its `name` (for tables and plots), the inserted bases `codes` uint8
    ``(W,)`` (A C G T = 0..3), and the PWM it came from ``(4, W)`` (None for a consensus)."""

    name: str
    codes: np.ndarray
    pwm: Optional[np.ndarray] = None

    @property
    def sequence(self) -> str:
        return "".join(BASE_LETTERS[self.codes])

    @property
    def width(self) -> int:
        return len(self.codes)

    def on_strand(self, strand: str) -> np.ndarray:
        """The bases inserted for `strand` (``+`` as given, ``-`` its reverse complement)."""
        return self.codes if strand == "+" else (3 - self.codes[::-1]).astype(np.uint8)


def most_likely_sequence(pwm: np.ndarray) -> np.ndarray:
    """The most probable base of each column of `pwm` ``(4, W)``: codes uint8 ``(W,)``."""
    return np.argmax(pwm, axis=0).astype(np.uint8)


def resolve_motif(text: str, option: str = "--motif") -> Motif:
    """`text` as a motif: a MEME file (``FILE.meme``: its one motif, or ``FILE.meme:NAME``), a
    JASPAR matrix id (``MA0139.2``; a base id takes the latest version; pyjaspar's bundled
    release, offline), or a consensus of A C G T (case ignored)."""
    text = text.strip()
    path, _, chosen = text.partition(":") if ".meme" in text.lower() else (text, "", "")
    if Path(path).suffix.lower() in (".meme", ".txt") or Path(path).exists():
        return _meme_motif(Path(path), chosen or None, option)
    if JASPAR_ID.match(text.upper()):
        from dnanet.synthetic.planted import jaspar_pwm

        try:
            name, pwm = jaspar_pwm(text.upper())
        except DnanetError as error:
            raise DnanetError(f"{option} {text}: {error}") from None
        return Motif(f"{text.upper()} {name}", most_likely_sequence(pwm), pwm)
    if not text or not re.fullmatch(r"[ACGTacgt]+", text):
        bad = sorted(set(re.sub(r"[ACGTacgt]", "", text))) or ["(empty)"]
        raise DnanetError(
            f"{option} '{text}': not a JASPAR id (e.g. MA0139.2), a MEME file (.meme) or a "
            f"consensus of A C G T (found {' '.join(bad)})"
        )
    codes = np.frombuffer(text.upper().encode().translate(BYTE_TO_CODE), dtype=np.uint8)
    return Motif(text.upper(), codes.copy())


def _meme_motif(path: Path, chosen: Optional[str], option: str) -> Motif:
    from dnanet.interpret.motifs.compare import read_motif_file

    motifs = read_motif_file(path).motifs
    if chosen is None and len(motifs) > 1:
        raise DnanetError(
            f"{option} {path}: {len(motifs)} motifs in the file; name one as {path}:NAME "
            f"(e.g. {path}:{next(iter(motifs))})"
        )
    name = chosen if chosen is not None else next(iter(motifs))
    if name not in motifs:
        raise DnanetError(f"{option} {path}: no MOTIF named {name} in the file")
    return Motif(name, most_likely_sequence(motifs[name]), motifs[name])


def random_sequences(n: int, length: int, gc: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` i.i.d. random sequences of `length` bases, G and C each ``gc / 2``, A and T each
    ``(1 - gc) / 2``: codes uint8 ``(n, length)`` and lengths ``(n,)`` (seeded)."""
    if not 0.0 <= gc <= 1.0:
        raise DnanetError(f"--gc {gc}: a fraction between 0 and 1")
    rng = np.random.default_rng(seed)
    probabilities = np.array([1 - gc, gc, gc, 1 - gc]) / 2
    codes = rng.choice(4, size=(n, length), p=probabilities).astype(np.uint8)
    return codes, np.full(n, length, dtype=np.int64)


def read_sequences(paths: list[Path]) -> tuple[list[str], list[bytes]]:
    """Ids and bases of every record of the FASTA `paths` (one-line errors for bad files)."""
    from dnanet.inputs.read import read_fasta

    ids, sequences = [], []
    for path in paths:
        for record in read_fasta(path):
            ids.append(record.id)
            sequences.append(record.sequence)
    if not sequences:
        raise DnanetError(f"{', '.join(map(str, paths))}: no FASTA records")
    return ids, sequences


def shuffled_backgrounds(paths: list[Path], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` dinucleotide shuffles of the records of the FASTA `paths` (record after record, round
    again with fresh shuffles when `n` is more than the records): padded codes ``(n, L)`` and
    lengths ``(n,)``, seeded."""
    _, sequences = read_sequences(paths)
    codes, lengths = sequences_to_codes(sequences)
    rng = np.random.default_rng(seed)
    parts = [
        dinucleotide_shuffle(codes[i % len(codes), : lengths[i % len(codes)]], rng)
        for i in range(n)
    ]
    chosen = np.array([len(part) for part in parts], dtype=np.int64)
    return pad_flat_codes(np.concatenate(parts), chosen), chosen
