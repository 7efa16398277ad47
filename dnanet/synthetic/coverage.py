"""Coverage tracks with a known truth for signal models: a ChIP-like signal bigWig and its control,
drawn on a synthetic genome (`dnanet.synthetic.genome`) from an expected signal kept in memory.

The generator, per base of the genome (everything seeded):

- **Sites.** Each planted site's rate (its expected reads, summed over its footprint) is set by
  its sequence, so a model can learn it: ``rate = exp(a + b * z)``, where z is the site's PWM
  log-odds score (`site_scores`: its planted bases read on its strand, against a uniform
  background) standardised over the sites, and a, b put z = -2 at ``rates[0]`` and z = +2 at
  ``rates[1]`` (20 and 600 reads: a 30-fold span), clipped to that span (`site_rates`).
- **Footprint.** A site's reads fall unstranded with a Gaussian footprint of sd `FOOTPRINT_SD`
  bases centred on the site's centre (``(start + end) / 2``; base i weighs
  ``exp(-(i + 0.5 - centre)^2 / (2 sd^2))``), cut at `FOOTPRINT_REACH` sd and normalised to sum 1.
- **Background.** Everywhere, ``depth * bias`` reads per base, where the bias is a slowly varying
  log-normal random field (knots every `BIAS_SCALE` bases with log-bias ~ N(0, `BIAS_SD`),
  interpolated linearly; 0 on N bases, where no read maps; mean 1 over the other bases). The bias
  does not come from the sequence: only the control tells it.
- **Tracks.** signal.bw = Poisson draws of (footprints + background) per base, the expected
  values being `SyntheticCoverage.expected`; control.bw = Poisson draws of
  ``control_depth * bias``: the background without any site.

Both are written as per-base counts with pyBigWig, chromosomes in the genome's order, runs of
equal values (mostly zeros) as one entry each. `expected_counts` is the truth of a window and
`noise_ceiling` the best correlation any model can reach on a set of windows. Motif matches that
arise by chance in the random DNA get no reads: only the planted sites bind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from dnanet.inputs.read import read_fasta

FOOTPRINT_SD = 20.0  # bases: the sd of a site's Gaussian footprint
FOOTPRINT_REACH = 4.0  # the footprint is cut this many sd either side of the centre
RATES = (20.0, 600.0)  # expected reads of a site RATE_Z sd below and above the mean score
RATE_Z = 2.0
DEPTH = 0.05  # background reads per base of the signal track (times the bias)
CONTROL_DEPTH = 0.1  # reads per base of the control track (times the bias)
BIAS_SCALE = 2_000  # bases between the knots of the bias field
BIAS_SD = 0.5  # sd of the log bias at the knots
PWM_FLOOR = 1e-3  # a PWM probability below this counts as this in the log-odds
_STREAM = 1  # the generator's random stream, apart from the genome's for the same seed
_BASE_CODES = np.full(256, 4, dtype=np.uint8)
for _code, _letter in enumerate(b"ACGT"):
    _BASE_CODES[_letter] = _BASE_CODES[_letter | 0x20] = _code


class PlantedGenome(Protocol):
    """What the generator reads of a `dnanet.synthetic.genome.SyntheticGenome` (not imported:
    `write_example_genome` calls this module, and the package has no import loops)."""

    genome: Path
    sites: pd.DataFrame


@dataclass
class SyntheticCoverage:
    """The written tracks (signal.bw, control.bw), the sites with their 'score' (PWM log-odds) and
    'rate' (expected reads), and the expected signal reads per base: chrom -> float64 (size,)."""

    signal: Path
    control: Path
    sites: pd.DataFrame
    expected: dict[str, np.ndarray]


def write_synthetic_coverage(
    genome: PlantedGenome,
    folder: Path,
    seed: int = 0,
    depth: float = DEPTH,
    control_depth: float = CONTROL_DEPTH,
    rates: tuple[float, float] = RATES,
    motif: str = "MA0139",
) -> SyntheticCoverage:
    """Write ``signal.bw`` and ``control.bw`` for `genome` (a `SyntheticGenome`: its FASTA and
    planted sites) into `folder` (see the module docstring). `motif` is the JASPAR matrix the
    genome's sites were sampled from."""
    from dnanet.synthetic.planted import jaspar_pwm

    rng = np.random.default_rng([seed, _STREAM])
    sequences = {record.id: record.sequence for record in read_fasta(genome.genome)}
    sites = genome.sites.copy()
    sites["score"] = site_scores(sites, sequences, jaspar_pwm(motif)[1])
    sites["rate"] = site_rates(sites["score"].to_numpy(), rates)
    bias = _bias(rng, sequences)
    expected = {chrom: depth * values for chrom, values in bias.items()}
    _add_footprints(expected, sites)
    folder.mkdir(parents=True, exist_ok=True)
    signal, control = folder / "signal.bw", folder / "control.bw"
    _write_bigwig(signal, {chrom: rng.poisson(values) for chrom, values in expected.items()})
    _write_bigwig(
        control, {chrom: rng.poisson(control_depth * values) for chrom, values in bias.items()}
    )
    return SyntheticCoverage(signal, control, sites, expected)


def site_scores(sites: pd.DataFrame, sequences: dict[str, bytes], pwm: np.ndarray) -> np.ndarray:
    """float64 (S,): the PWM log-odds (natural log, against a uniform background) of each site's
    bases ``sequences[chrom][start:end]``, read on the site's strand (reverse complement on -)."""
    log_odds = np.log(np.maximum(pwm, PWM_FLOOR) / 0.25)  # (4, W)
    width = pwm.shape[1]
    scores = np.empty(len(sites))
    for index, site in enumerate(sites.itertuples(index=False)):
        codes = _BASE_CODES[np.frombuffer(sequences[site.chrom][site.start : site.end], np.uint8)]
        if len(codes) != width or (codes > 3).any():
            raise ValueError(
                f"the site {site.chrom}:{site.start}-{site.end} is not {width} called bases: "
                "was the genome written with another motif?"
            )
        on_strand = codes if site.strand == "+" else 3 - codes[::-1]
        scores[index] = log_odds[on_strand, np.arange(width)].sum()
    return scores


def site_rates(scores: np.ndarray, rates: tuple[float, float] = RATES) -> np.ndarray:
    """float64 (S,): ``exp(a + b * z)`` with z the standardised `scores` (z = 0 when they are all
    equal), a and b putting z = -`RATE_Z` at ``rates[0]`` and z = +`RATE_Z` at ``rates[1]``,
    clipped to `rates` (the few sites further out get the end rates)."""
    spread = scores.std()
    z = (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores, np.float64)
    low, high = np.log(rates[0]), np.log(rates[1])
    intercept, slope = (low + high) / 2, (high - low) / (2 * RATE_Z)
    return np.clip(np.exp(intercept + slope * z), rates[0], rates[1])


def _bias(rng: np.random.Generator, sequences: dict[str, bytes]) -> dict[str, np.ndarray]:
    """chrom -> float64 (size,): the smooth log-normal bias field, 0 on N bases, mean 1 over the
    called bases of the genome."""
    bias, total, called = {}, 0.0, 0
    for chrom, sequence in sequences.items():
        knots = rng.normal(0.0, BIAS_SD, len(sequence) // BIAS_SCALE + 2)
        values = np.exp(
            np.interp(np.arange(len(sequence)), np.arange(len(knots)) * BIAS_SCALE, knots)
        )
        values[_BASE_CODES[np.frombuffer(sequence, np.uint8)] > 3] = 0
        bias[chrom], total, called = values, total + values.sum(), called + (values > 0).sum()
    scale = called / total if total else 0.0
    return {chrom: values * scale for chrom, values in bias.items()}


def footprint(centre: float, size: int) -> tuple[int, np.ndarray]:
    """(first base, weights float64 (L,) summing to 1) of a Gaussian footprint of sd
    `FOOTPRINT_SD` around `centre` (a position in bases), cut at `FOOTPRINT_REACH` sd and at the
    chromosome's ends (0, `size`)."""
    reach = FOOTPRINT_REACH * FOOTPRINT_SD
    first, last = max(int(np.floor(centre - reach)), 0), min(int(np.ceil(centre + reach)), size)
    weights = np.exp(-((np.arange(first, last) + 0.5 - centre) ** 2) / (2 * FOOTPRINT_SD**2))
    return first, weights / weights.sum()


def _add_footprints(expected: dict[str, np.ndarray], sites: pd.DataFrame) -> None:
    """Add each site's `rate` reads, spread by its footprint, to the expected signal."""
    for site in sites.itertuples(index=False):
        values = expected[site.chrom]
        first, weights = footprint((site.start + site.end) / 2, len(values))
        values[first : first + len(weights)] += site.rate * weights


def _write_bigwig(path: Path, counts: dict[str, np.ndarray]) -> None:
    """Per-base `counts` (chrom -> (size,), in genome order) as a bigWig: one entry per run of
    equal values."""
    import pyBigWig

    handle = pyBigWig.open(str(path), "w")
    try:
        handle.addHeader([(chrom, len(values)) for chrom, values in counts.items()], maxZooms=10)
        for chrom, values in counts.items():
            change = np.flatnonzero(np.diff(values)) + 1
            starts = np.concatenate([[0], change])
            ends = np.concatenate([change, [len(values)]])
            handle.addEntries(
                [chrom] * len(starts),
                starts.tolist(),
                ends=ends.tolist(),
                values=values[starts].astype(np.float64).tolist(),
            )
    finally:
        handle.close()


def expected_counts(coverage: SyntheticCoverage, chrom: str, start: int, end: int) -> float:
    """The expected signal reads on ``[start, end)`` of `chrom` (0-based, half-open): the truth a
    model of the signal track is judged against."""
    return float(coverage.expected[chrom][start:end].sum())


def observed_counts(coverage: SyntheticCoverage, windows: list[tuple[str, int, int]]) -> np.ndarray:
    """float64 (N,): the reads of signal.bw on each window ``(chrom, start, end)``."""
    import pyBigWig

    handle = pyBigWig.open(str(coverage.signal))
    try:
        return np.array(
            [
                np.nansum(handle.values(chrom, start, end, numpy=True))
                for chrom, start, end in windows
            ]
        )
    finally:
        handle.close()


def noise_ceiling(coverage: SyntheticCoverage, windows: list[tuple[str, int, int]]) -> float:
    """The Pearson correlation between log1p(observed reads) and log1p(expected reads) over
    `windows` ``[(chrom, start, end)]``: the best any model of the signal can reach there, since
    the rest is Poisson noise."""
    observed = observed_counts(coverage, windows)
    expected = np.array([expected_counts(coverage, *window) for window in windows])
    return float(np.corrcoef(np.log1p(observed), np.log1p(expected))[0, 1])
