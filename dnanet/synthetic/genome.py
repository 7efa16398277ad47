"""A small synthetic genome with motif sites planted at known coordinates, and its peaks as
narrowPeak.

The known truth the genome workflow is checked against (`dnanet example-genome`, the tests,
docs/tutorials/genome.md): chromosomes of random DNA in 20 kb isochores of differing GC content
(36-54%), soft-masked (lower-case) stretches, runs of N (2 kb at each chromosome's start, like a
telomere, and an assembly gap in chr2), and `peaks` sites of a JASPAR motif (CTCF by default,
sampled from its PWM, random strand). Peaks favour GC-rich isochores, as real ChIP-seq peaks do,
so GC content alone separates peaks from random windows a little, and a GC-matched background
takes that shortcut away. Each site is a narrowPeak line: an interval of 160-600 bases around the
site, whose summit (column 10) is the site's centre plus a peak caller's error (normal, sd 15
bases, at most 40). Everything is seeded. Coverage tracks of ChIP-like reads on such a genome
(signal and control bigWigs) come from `dnanet.synthetic.coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dnanet.files.outputs import claimed
from dnanet.progress import Reporter

CHROMOSOMES = (("chr1", 350_000), ("chr2", 280_000), ("chr3", 220_000), ("chr4", 150_000))
ISOCHORE = 20_000
TELOMERE = 2_000  # N bases at each chromosome's start
GAP = (60_000, 63_000)  # an assembly gap of N in chr2
MIN_SPACING = 1_500  # bases between peak summits
LINE = 60
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass
class SyntheticGenome:
    """Paths of a written genome (FASTA), its peaks (narrowPeak) and planted sites (TSV: chrom,
    start, end, strand, motif; 0-based half-open), and the sites as a table."""

    genome: Path
    peaks: Path
    sites_path: Path
    sites: pd.DataFrame


def write_example_genome(
    out: Path,
    *,
    peaks: int = 400,
    seed: int = 0,
    overwrite: bool = False,
    reporter: Reporter | None = None,
    coverage: bool = True,
) -> SyntheticGenome:
    """`dnanet example-genome`: `write_synthetic_genome` into the folder `out` as a whole: claimed
    first (refused if it exists, unless `overwrite`; what the claim cleaned up goes to `reporter`)
    and swapped in once complete (`dnanet.files.outputs`). With `coverage`, also ``signal.bw`` and
    ``control.bw`` (`dnanet.synthetic.coverage.write_synthetic_coverage`, same seed). Returns the
    paths under `out`."""
    from dnanet.synthetic.coverage import write_synthetic_coverage

    with (
        claimed(Path(out), overwrite, folder=True, reporter=reporter) as output,
        output.writing() as folder,
    ):
        made = write_synthetic_genome(folder, peaks=peaks, seed=seed)
        if coverage:
            write_synthetic_coverage(made, folder, seed=seed)
    return SyntheticGenome(
        Path(out) / made.genome.name,
        Path(out) / made.peaks.name,
        Path(out) / made.sites_path.name,
        made.sites,
    )


def write_synthetic_genome(
    folder: Path,
    peaks: int = 400,
    motif: str = "MA0139",
    seed: int = 0,
    chromosomes: tuple[tuple[str, int], ...] = CHROMOSOMES,
) -> SyntheticGenome:
    """Write ``genome.fa``, ``peaks.narrowPeak`` and ``sites.tsv`` into `folder` (see the module
    docstring)."""
    from dnanet.synthetic.planted import jaspar_pwm, sample_site

    rng = np.random.default_rng(seed)
    name, pwm = jaspar_pwm(motif)
    folder.mkdir(parents=True, exist_ok=True)
    sequences, gc_of = {}, {}
    for chrom, size in chromosomes:
        gc = rng.uniform(0.36, 0.54, size // ISOCHORE + 1)
        per_base = np.repeat(gc, ISOCHORE)[:size]
        draws = rng.random(size)
        strong = rng.random(size) < 0.5
        codes = np.where(draws < per_base, np.where(strong, 1, 2), np.where(strong, 0, 3)).astype(
            np.uint8
        )
        sequences[chrom], gc_of[chrom] = codes, per_base
    rows, peak_rows = [], []
    for chrom, summit in _summits(rng, chromosomes, gc_of, peaks):
        site = sample_site(pwm, rng)
        strand = "+" if rng.random() < 0.5 else "-"
        start = summit - len(site) // 2
        sequences[chrom][start : start + len(site)] = site if strand == "+" else 3 - site[::-1]
        rows.append((chrom, start, start + len(site), strand, name))
        called = summit + int(
            np.clip(np.round(rng.normal(0, 15)), -40, 40)
        )  # the peak caller's summit
        left, right = int(rng.integers(80, 301)), int(rng.integers(80, 301))
        score = int(rng.integers(200, 1001))
        peak_rows.append(
            (
                chrom,
                called - left,
                called + right,
                f"peak{len(peak_rows) + 1}",
                score,
                ".",
                round(float(rng.uniform(5, 60)), 3),
                round(float(rng.uniform(5, 300)), 3),
                round(float(rng.uniform(2, 250)), 3),
                left,
            )
        )
    genome = folder / "genome.fa"
    with open(genome, "wb") as handle:
        for chrom, codes in sequences.items():
            handle.write(f">{chrom} synthetic, seed {seed}\n".encode())
            handle.write(_lines(_letters(codes, chrom, rng)))
    peaks_path, sites_path = folder / "peaks.narrowPeak", folder / "sites.tsv"
    order = {chrom: i for i, (chrom, _) in enumerate(chromosomes)}
    peak_rows.sort(key=lambda row: (order[row[0]], row[1]))
    with open(peaks_path, "w") as handle:
        handle.writelines("\t".join(map(str, row)) + "\n" for row in peak_rows)
    sites = pd.DataFrame(rows, columns=["chrom", "start", "end", "strand", "motif"])
    sites = sites.sort_values(
        ["chrom", "start"], key=lambda c: c.map(order) if c.name == "chrom" else c
    )
    sites.to_csv(sites_path, sep="\t", index=False)
    return SyntheticGenome(genome, peaks_path, sites_path, sites.reset_index(drop=True))


def _summits(
    rng: np.random.Generator, chromosomes, gc_of: dict, count: int
) -> list[tuple[str, int]]:
    """`count` summit positions, at least MIN_SPACING apart and 1 kb from N runs and chromosome
    ends, accepted with a probability that rises with the isochore's GC (peaks favour GC-rich
    DNA)."""
    names = [chrom for chrom, _ in chromosomes]
    sizes = np.array([size for _, size in chromosomes], dtype=np.float64)
    chosen: dict[str, list[int]] = {chrom: [] for chrom in names}
    found, attempts = [], 0
    while len(found) < count:
        attempts += 1
        if attempts > 1000 * count:
            raise ValueError(f"cannot place {count} peaks {MIN_SPACING} bases apart in this genome")
        chrom = names[int(rng.choice(len(names), p=sizes / sizes.sum()))]
        size = int(sizes[names.index(chrom)])
        summit = int(rng.integers(TELOMERE + 1_000, size - 1_000))
        if chrom == "chr2" and GAP[0] - 1_000 <= summit < GAP[1] + 1_000:
            continue
        if rng.random() > (gc_of[chrom][summit] - 0.30) / 0.25:
            continue
        if any(abs(summit - other) < MIN_SPACING for other in chosen[chrom]):
            continue
        chosen[chrom].append(summit)
        found.append((chrom, summit))
    return found


def _letters(codes: np.ndarray, chrom: str, rng: np.random.Generator) -> bytes:
    """Codes -> ASCII with N runs (telomere; chr2's gap) and soft-masked (lower-case) stretches."""
    letters = _LETTERS[codes].copy()
    letters[:TELOMERE] = ord("N")
    if chrom == "chr2":
        letters[GAP[0] : GAP[1]] = ord("N")
    for start in rng.integers(TELOMERE, len(letters) - 300, len(letters) // 3_000):
        stretch = letters[start : start + 300]
        letters[start : start + 300] = np.where(
            stretch == ord("N"), stretch, stretch | 0x20
        )  # lower case
    return letters.tobytes()


def _lines(sequence: bytes) -> bytes:
    return b"".join(sequence[i : i + LINE] + b"\n" for i in range(0, len(sequence), LINE))
