"""Shared fixtures: one CNN trained once per test session on the bundled CTCF example, and the
devices model tests run on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dnanet.cli import app

torch.set_num_threads(1)  # 2 threads spin-wait badly when another process holds a core

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(params=DEVICES, ids=DEVICES)
def device(request: pytest.FixtureRequest):
    """Each device a model test runs on: the CPU, and CUDA where one is present (tests build the
    model and inputs on it and compare on the CPU). On CUDA, TF32 is off for the test so float32
    results hold the CPU's tolerances."""
    if request.param == "cpu":
        yield torch.device("cpu")
        return
    settings = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield torch.device("cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = settings


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
    (`dnanet.synthetic.genome`); tests that change files copy them first."""
    from dnanet.synthetic.genome import write_synthetic_genome

    return write_synthetic_genome(tmp_path_factory.mktemp("genome"))
