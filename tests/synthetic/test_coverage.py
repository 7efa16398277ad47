"""`dnanet.synthetic.coverage`: the signal and control bigWigs drawn on the example genome hold
the truth they claim: site rates follow the motif score, reads pile up at the planted centres,
observed counts follow the expected ones up to Poisson noise, the control carries no site."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest

from dnanet.inputs.bed import read_intervals, reverse_complement
from dnanet.inputs.coverage import Coverage, Track
from dnanet.inputs.genome import open_genome
from dnanet.synthetic.coverage import (
    DEPTH,
    FOOTPRINT_SD,
    RATES,
    expected_counts,
    noise_ceiling,
    observed_counts,
    write_synthetic_coverage,
)
from dnanet.synthetic.genome import write_synthetic_genome
from dnanet.synthetic.planted import jaspar_pwm


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coverage")
    genome = write_synthetic_genome(folder, seed=5)
    return genome, write_synthetic_coverage(genome, folder, seed=5)


def centred(sites, half: int) -> list[tuple[str, int, int]]:
    """Windows of 2 * half bases around each site's centre."""
    return [
        (site.chrom, (site.start + site.end) // 2 - half, (site.start + site.end) // 2 + half)
        for site in sites.itertuples(index=False)
    ]


def test_the_same_seed_gives_the_same_tracks(made, tmp_path):
    genome, coverage = made
    again = write_synthetic_coverage(genome, tmp_path / "again", seed=5)
    assert again.signal.read_bytes() == coverage.signal.read_bytes()
    assert again.control.read_bytes() == coverage.control.read_bytes()
    other = write_synthetic_coverage(genome, tmp_path / "other", seed=6)
    assert other.signal.read_bytes() != coverage.signal.read_bytes()
    np.testing.assert_array_equal(other.sites["rate"], coverage.sites["rate"])  # set by sequence


def test_scores_are_the_pwm_log_odds_of_the_planted_bases_on_their_strand(made):
    genome, coverage = made
    pwm = jaspar_pwm("MA0139")[1]
    log_odds = np.log(np.maximum(pwm, 1e-3) / 0.25)
    reference = open_genome(genome.genome)
    for site in coverage.sites.head(25).itertuples(index=False):
        bases = reference.fetch(site.chrom, site.start, site.end).upper()
        bases = reverse_complement(bases) if site.strand == "-" else bases
        codes = ["ACGT".index(chr(base)) for base in bases]
        assert site.score == pytest.approx(log_odds[codes, np.arange(len(codes))].sum())


def test_rates_follow_the_score_and_span_thirtyfold(made):
    _, coverage = made
    sites = coverage.sites.sort_values("score")
    rates = sites["rate"].to_numpy()
    assert np.all(np.diff(rates) >= 0) and rates.min() >= RATES[0] and rates.max() <= RATES[1]
    assert (
        rates.max() / rates.min() > 15 and np.percentile(rates, 90) / np.percentile(rates, 10) > 4
    )
    tenth = len(sites) // 10
    weak, strong = sites.head(tenth), sites.tail(tenth)
    weak_reads = observed_counts(coverage, centred(weak, 100))
    strong_reads = observed_counts(coverage, centred(strong, 100))
    assert strong_reads.min() > weak_reads.max(), (strong_reads.min(), weak_reads.max())


def test_observed_counts_follow_the_expected_ones(made):
    genome, coverage = made
    summits = [
        (peak.chrom, peak.start + peak.summit - 100, peak.start + peak.summit + 100)
        for peak in read_intervals(genome.peaks)
    ]
    assert noise_ceiling(coverage, summits) > 0.9
    site = coverage.sites.iloc[0]
    window = centred(coverage.sites.iloc[:1], 100)[0]
    background = DEPTH * 200 * 5  # the bias stays well below 5 times its mean
    assert site.rate < expected_counts(coverage, *window) < site.rate + background
    totals = {chrom: values.sum() for chrom, values in coverage.expected.items()}
    handle = pyBigWig.open(str(coverage.signal))
    for chrom, expected in totals.items():
        observed = handle.stats(chrom, type="sum", exact=True)[0]
        assert abs(observed - expected) < 5 * np.sqrt(expected), chrom
    handle.close()


def test_reads_pile_up_at_the_planted_centres(made):
    _, coverage = made
    offsets = []
    handle = pyBigWig.open(str(coverage.signal))
    for site in coverage.sites[coverage.sites["rate"] >= 100].itertuples(index=False):
        centre = (site.start + site.end) / 2
        first = int(centre) - 3 * int(FOOTPRINT_SD)
        reads = handle.values(site.chrom, first, first + 6 * int(FOOTPRINT_SD) + 1, numpy=True)
        middle = (reads * (np.arange(first, first + len(reads)) + 0.5)).sum() / reads.sum()
        offsets.append(middle - centre)
    handle.close()
    assert np.median(np.abs(offsets)) < 3 and np.max(np.abs(offsets)) < 8, offsets


def test_the_control_has_the_background_but_no_site(made):
    genome, coverage = made
    sizes = open_genome(genome.genome).sizes
    with Coverage(
        [Track("signal", coverage.signal), Track("control", coverage.control)],
        sizes,
        genome.genome,
    ) as tracks:
        near = np.stack([tracks.fetch(*window) for window in centred(coverage.sites, 50)])
        everywhere = np.concatenate(
            [tracks.fetch(chrom, 0, size) for chrom, size in sizes.items()], 1
        )
        assert tracks.nan_bases == 0  # zeros are written, not left out
    signal_ratio = near[:, 0].mean() / everywhere[0].mean()
    control_ratio = near[:, 1].mean() / everywhere[1].mean()
    assert signal_ratio > 8 and 0.7 < control_ratio < 1.3, (signal_ratio, control_ratio)
    assert np.array_equal(everywhere, np.round(everywhere))  # read counts
    assert everywhere[:, :2_000].sum() == 0  # nothing maps to the telomere's N
