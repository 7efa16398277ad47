"""Fixtures of the interpretation tests: the CNN trained once per session on the synthetic genome
with CTCF sites planted at known places, which the variant tests score variants with."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnanet.cli import app


@pytest.fixture(scope="session")
def variant_run(synthetic_genome, tmp_path_factory, runner) -> Path:
    """The shipped CNN trained on the 400 planted peaks against a GC-matched background
    (window 200)."""
    out = tmp_path_factory.mktemp("variant-runs") / "gc"
    result = runner.invoke(
        app,
        [
            "train",
            f"bound={synthetic_genome.peaks}",
            "background=gc-matched",
            "--genome",
            str(synthetic_genome.genome),
            "--window",
            "200",
            "--out",
            str(out),
            "--epochs",
            "30",
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    return out
