"""DNA or RNA letters for the motifs of a run, from the FASTA files given to `dnanet motifs`.

The reader encodes ``U`` as ``T`` (`dnanet.inputs.read`), so the codes cannot tell; the files can.
The inputs are RNA when their FASTA records (the first `SAMPLE_BASES` bases of each file) hold ``U``
and no ``T``: motifs, consensus strings, logos and MEME files then use ``A C G U``. Intervals
(BED) and generated backgrounds are cut from a genome: DNA, so they do not count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.inputs.read import read_fasta

DNA, RNA = "ACGT", "ACGU"
SAMPLE_BASES = 1 << 20  # per file
IUPAC = {
    frozenset("A"): "A",
    frozenset("C"): "C",
    frozenset("G"): "G",
    frozenset("T"): "T",
    frozenset("AG"): "R",
    frozenset("CT"): "Y",
    frozenset("CG"): "S",
    frozenset("AT"): "W",
    frozenset("GT"): "K",
    frozenset("AC"): "M",
}


def consensus(pwm: np.ndarray, letters: str = DNA) -> str:
    """Probabilities ``(4, W)`` -> an IUPAC consensus in `letters` (T or U): a base above 0.5, a
    pair above 0.75 together, else N."""
    found = []
    for column in pwm.T:
        order = np.argsort(column)[::-1]
        if column[order[0]] >= 0.5:
            found.append("ACGT"[order[0]])
        elif column[order[0]] + column[order[1]] >= 0.75:
            found.append(IUPAC[frozenset("ACGT"[order[0]] + "ACGT"[order[1]])])
        else:
            found.append("N")
    text = "".join(found)
    return text.replace("T", "U") if letters == RNA else text


def is_fasta(path: Path) -> bool:
    """Whether `path` is a FASTA file (its first non-blank byte, after gzip, is '>')."""
    from dnanet.inputs.read import open_binary

    try:
        with open_binary(path) as handle:
            for line in handle:
                if line.strip():
                    return line.lstrip()[:1] == b">"
    except (OSError, EOFError):
        return False
    return False


def file_letters(path: Path, sample: int = SAMPLE_BASES) -> tuple[int, int]:
    """(number of T, number of U) in the first `sample` bases of a FASTA file's records."""
    t = u = seen = 0
    for record in read_fasta(path):
        upper = record.sequence.upper()
        t, u, seen = t + upper.count(b"T"), u + upper.count(b"U"), seen + len(upper)
        if seen >= sample:
            break
    return t, u


def input_letters(paths: list[Path]) -> str:
    """``RNA`` (ACGU) when the FASTA files among `paths` hold U and no T, else ``DNA`` (ACGT)."""
    counts = [file_letters(path) for path in paths if Path(path).is_file() and is_fasta(Path(path))]
    t = sum(c[0] for c in counts)
    u = sum(c[1] for c in counts)
    return RNA if u > 0 and t == 0 else DNA
