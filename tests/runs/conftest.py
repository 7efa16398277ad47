"""One run folder of every family, trained once per session for the run-folder tests (the JSON
Schema, check-run, ONNX export, the independent reader): on the bundled CTCF example the shipped
CNN (3 epochs) and small ones (1 epoch): LSTM, transformer (windows of 16 tokens, so a 101 bp
record is chunked), CNN on k-mers, ternary MLP, and a 2-fold ensemble of the shipped CNN; on a
synthetic genome's coverage a profile run (small CNN, a control track) and a counts run (small
LSTM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnanet.synthetic.coverage import write_synthetic_coverage
from dnanet.synthetic.genome import write_synthetic_genome
from dnanet.training.folds import train_folds
from dnanet.training.workflow import train_run

SMALL_MODELS = {
    "cnn": "{name: cnn, channels: 16, hidden: 16, layers: 2, first_kernel: 9, position_bins: 8}",
    "lstm": "{name: lstm, conv_channels: 16, lstm_size: 8, hidden: 16, position_bins: 4}",
    "transformer": "{name: transformer, d_model: 16, heads: 2, layers: 1, ff_dim: 32, max_len: 16}",
    "kmer": "{name: cnn, channels: 16, hidden: 16, layers: 2, kmer_dim: 8}",
    "ternary_mlp": "{name: ternary_mlp, hidden: 8}",
}
ENCODERS = {"kmer": "{name: kmer, k: 3}", "ternary_mlp": "{name: kmer, k: 3}"}
CHROMOSOMES = (("chr1", 120_000), ("chr2", 80_000), ("chr3", 60_000))


def small_config(folder: Path, family: str) -> Path:
    path = folder / f"{family}.yaml"
    encoder = f"encoder: {ENCODERS[family]}\n" if family in ENCODERS else ""
    path.write_text(f"{encoder}model: {SMALL_MODELS[family]}\ntrain: {{epochs: 1}}\n")
    return path


@pytest.fixture(scope="session")
def family_runs(tmp_path_factory) -> dict[str, Path]:
    """{family: run folder} (see the module docstring)."""
    root = tmp_path_factory.mktemp("families")
    runs = {}
    runs["cnn"] = root / "cnn"  # the shipped CNN (3 blocks, 8 position bins): it learns
    train_run(None, runs["cnn"], epochs=3, threads=1)
    for family in ("lstm", "transformer", "kmer", "ternary_mlp"):
        runs[family] = root / family
        train_run(None, runs[family], config=small_config(root, family), threads=1)
    runs["ensemble"] = root / "ensemble"
    ensemble = dict(folds=2, epochs=4, threads=1)  # the shipped CNN: members that learn
    train_folds(None, runs["ensemble"], **ensemble)
    genome = write_synthetic_genome(root / "genome", peaks=120, seed=3, chromosomes=CHROMOSOMES)
    coverage = write_synthetic_coverage(genome, root / "genome", seed=3)
    signal = dict(
        genome=genome.genome, window=100, signal=[f"chip={coverage.signal}"], split="chromosome",
        val_chroms="chr3", test_chroms="chr2", epochs=1, cache=root / "cache", threads=1,
    )  # fmt: skip
    peaks = [f"peaks={genome.peaks}", "bg=gc-matched"]
    runs["profile"] = root / "profile"
    train_run(
        peaks,
        runs["profile"],
        config=small_config(root, "cnn"),
        task="profile",
        target_width=60,
        control=[f"chip={coverage.control}"],
        **signal,
    )
    runs["counts"] = root / "counts"
    train_run(peaks, runs["counts"], config=small_config(root, "lstm"), task="counts", **signal)
    return runs
