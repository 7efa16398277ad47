"""Does a signal model recover a known truth? Train on synthetic coverage, score against the rates.

`check_signal_truth` writes a synthetic genome with planted CTCF sites and coverage whose rates
the sites' PWM scores set (`dnanet.synthetic.coverage`), trains a profile model on the peaks and
gc-matched backgrounds with whole chromosomes held out, and scores the held-out test chromosome
against what only the generator knows:

- ``pearson_truth``: Pearson of predicted log(1 + reads) with the expected log(1 + reads) of each
  test window (the rates), beside ``ceiling``, the same for the observed reads: the best any model
  can do on these windows, since the observed reads are Poisson draws around the rates;
  ``pearson_observed`` scores the prediction against those draws, as metrics.json does;
- ``peak_offset_median`` (bases) and ``peak_within_10``: where the predicted profile peaks in each
  test peak window, against the planted site's centre;
- ``variant_lfc_mean`` and ``variant_lower``: the predicted log2 fold change of counts when the
  site's six central bases are replaced by their complements, and the share of sites it lowers;
  ``control_lfc_mean``: the same six-base change half a window away from the site (near 0).

`scripts/signal_truth.py` runs it for every family and prints a table; the tests run it small.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from dnanet.data.signal_task import split_flat
from dnanet.inference.predict import predict_batch
from dnanet.inputs.bed import read_intervals, window_of
from dnanet.inputs.encode import sequences_to_codes
from dnanet.inputs.genome import open_genome
from dnanet.runs.load import load_run
from dnanet.synthetic.coverage import (
    expected_counts,
    noise_ceiling,
    observed_counts,
    write_synthetic_coverage,
)
from dnanet.synthetic.genome import CHROMOSOMES, write_synthetic_genome
from dnanet.training.workflow import train_run

VARIANT_BASES = 6  # bases at the site's centre replaced by their complements


@dataclass
class TruthScores:
    """What `check_signal_truth` measured (see the module docstring)."""

    model: str
    test_windows: int
    pearson_truth: float
    ceiling: float
    pearson_observed: float
    peak_offset_median: float
    peak_within_10: float
    variant_lfc_mean: float
    variant_lower: float
    control_lfc_mean: float
    seconds_per_epoch: float

    def to_dict(self) -> dict:
        return asdict(self)


def check_signal_truth(
    folder: Path,
    model: str = "cnn",
    *,
    peaks: int = 600,
    window: int = 200,
    target_width: int = 100,
    jitter: int = 16,
    epochs: int = 15,
    seed: int = 0,
    **train_options,
) -> TruthScores:
    """Write the data into `folder`, train `model` there and score it (module docstring)."""
    folder = Path(folder)
    scale = max(1.0, peaks / 400)  # the example genome holds 400 peaks 1.5 kb apart at most
    chromosomes = tuple((name, int(size * scale)) for name, size in CHROMOSOMES)
    genome = write_synthetic_genome(
        folder / "data", peaks=peaks, seed=seed, chromosomes=chromosomes
    )
    coverage = write_synthetic_coverage(genome, folder / "data", seed=seed)
    out = folder / f"run-{model}"
    train_run(
        [f"peaks={genome.peaks}", "background=gc-matched"],
        out,
        model=model,
        genome=genome.genome,
        window=window,
        signal=[f"chip={coverage.signal}"],
        task="profile",
        target_width=target_width,
        jitter=jitter,
        split="chromosome",
        val_chroms="chr3",
        test_chroms="chr2",
        epochs=epochs,
        seed=seed,
        overwrite=True,
        **train_options,
    )
    run = load_run(out, torch.device("cpu"))
    windows = _test_windows(genome.peaks, genome.genome, window)
    reference = open_genome(genome.genome)
    sequences = [reference.fetch(chrom, start, end) for chrom, start, end in windows]
    totals, profiles = _predict(run, sequences)
    targets = [(c, *_centre(s, e, target_width)) for c, s, e in windows]  # the counted bases
    expected = np.log1p([expected_counts(coverage, *target) for target in targets])
    observed = np.log1p(observed_counts(coverage, targets))
    sites = _sites_in(coverage.sites, windows)
    offsets, lfc, control = _site_checks(run, sequences, windows, sites, profiles, target_width)
    history = pd.read_csv(out / "history.csv")
    return TruthScores(
        model,
        len(windows),
        _pearson(totals, expected),
        noise_ceiling(coverage, targets),
        _pearson(totals, observed),
        float(np.median(np.abs(offsets))),
        float(np.mean(np.abs(offsets) <= 10)),
        float(np.mean(lfc)),
        float(np.mean(lfc < 0)),
        float(np.mean(control)),
        float(history["seconds"].median()),
    )


def _test_windows(peaks: Path, genome: Path, width: int) -> list[tuple[str, int, int]]:
    """The test chromosome's (chr2) peak windows at the model's input width, and as many random
    windows of chr2 (mostly away from peaks: low counts)."""
    windows = [
        (interval.chrom, *window_of(interval, width))
        for interval in read_intervals(peaks)
        if interval.chrom == "chr2"
    ]
    rng = np.random.default_rng(1)
    size = open_genome(genome).sizes["chr2"]
    for _ in range(len(windows)):
        start = int(rng.integers(5_000, size - width - 5_000))
        windows.append(("chr2", start, start + width))
    return windows


def _centre(start: int, end: int, width: int) -> tuple[int, int]:
    left = start + (end - start - width) // 2
    return left, left + width


def _predict(run, sequences: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted log(1 + reads) ``(N,)`` and profiles ``(N, W)`` of the first track."""
    codes, lengths = sequences_to_codes(sequences)
    outputs = predict_batch(
        run.model,
        codes,
        lengths,
        run.reverse_complement_average,
        activate=run.task.activate,
    )
    totals, profiles = split_flat(outputs, len(run.task.names), run.task.width)
    return totals[:, 0].numpy(), profiles[:, 0].numpy()


def _sites_in(sites: pd.DataFrame, windows) -> list[tuple[int, int]]:
    """(window index, site centre within the window) of each window holding one planted site."""
    found = []
    for index, (chrom, start, end) in enumerate(windows):
        inside = sites[(sites.chrom == chrom) & (sites.start >= start) & (sites.end <= end)]
        if len(inside) == 1:
            centre = (int(inside.start.iloc[0]) + int(inside.end.iloc[0])) // 2 - start
            found.append((index, centre))
    return found


def _site_checks(run, sequences, windows, sites, profiles, target_width):
    """Profile peak offsets from the site centres, and the variant and control effects (log2)."""
    window = len(sequences[0])
    first = (window - target_width) // 2  # the profile's first base in the window
    offsets = np.array([profiles[i].argmax() + first - centre for i, centre in sites])
    broken, moved = [], []
    for index, centre in sites:
        broken.append(_mutated(sequences[index], centre))
        moved.append(_mutated(sequences[index], (centre + window // 2) % window))
    reference, _ = _predict(run, [sequences[i] for i, _ in sites])
    lowered, _ = _predict(run, broken)
    elsewhere, _ = _predict(run, moved)
    return offsets, (lowered - reference) / np.log(2), (elsewhere - reference) / np.log(2)


def _mutated(sequence: bytes, centre: int) -> bytes:
    """`sequence` with the `VARIANT_BASES` bases around `centre` complemented."""
    start = max(0, min(len(sequence) - VARIANT_BASES, centre - VARIANT_BASES // 2))
    part = (
        sequence[start : start + VARIANT_BASES].upper().translate(bytes.maketrans(b"ACGT", b"TGCA"))
    )
    return sequence[:start] + part + sequence[start + VARIANT_BASES :]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.pearsonr(np.asarray(a, dtype=float), np.asarray(b, dtype=float))[0])
