"""Shared fixtures: one CNN trained once per test session on the bundled CTCF example."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dnanet.cli import app

torch.set_num_threads(1)  # 2 threads spin-wait badly when another process holds a core


@pytest.fixture(scope="session")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, runner: CliRunner) -> Path:
    """A run folder from `dnanet train` with the shipped CNN config on the bundled example."""
    out = tmp_path_factory.mktemp("runs") / "ctcf"
    result = runner.invoke(app, ["train", "--out", str(out), "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def synthetic_genome(tmp_path_factory: pytest.TempPathFactory):
    """A 1 Mb genome with 400 CTCF sites planted at known coordinates and their peaks as narrowPeak
    (`dnanet.synthetic_genome`); tests that change files copy them first."""
    from dnanet.synthetic_genome import write_synthetic_genome

    return write_synthetic_genome(tmp_path_factory.mktemp("genome"))
