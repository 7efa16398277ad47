"""torchrun + DistributedDataParallel on the CPU (gloo): two processes train one model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.runs.load import load_run
from dnanet.runtime.distributed import Processes, per_process_batch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)
def test_torchrun_two_processes_write_one_valid_run_close_to_a_single_process(runner, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "dnanet",
        "train",
        "--out",
        str(out),
        "--epochs",
        "10",
        "--threads",
        "1",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stderr.count("run written to") == 1 and "2 processes" in done.stderr
    )  # rank 0 alone speaks
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".dnanet-cache",
        "ddp",
    ]  # one run folder, no checkpoint left
    assert load_run(out).record["split"] == {
        "kind": "random",
        "train": 637,
        "validation": 85,
        "test": 128,
        "fixed": [],
    }
    single = tmp_path / "single"
    result = runner.invoke(
        app, ["train", "--out", str(single), "--epochs", "10", "--threads", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    distributed_auroc = json.loads((out / "metrics.json").read_text())["auroc"]
    single_auroc = json.loads((single / "metrics.json").read_text())["auroc"]
    assert abs(distributed_auroc - single_auroc) < 0.03, (
        distributed_auroc,
        single_auroc,
    )  # same global batch 32


def test_the_global_batch_is_split_evenly():
    assert per_process_batch(32, Processes(0, 4, 0)) == 8
    with pytest.raises(DnanetError, match="multiple of the 3 processes"):
        per_process_batch(32, Processes(0, 3, 0))


@pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)
def test_torchrun_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path):
    """Every process of a 2-process run killed after a checkpoint; `--resume` under torchrun ends
    bit-identical to a 2-process run that was never stopped."""
    import signal
    import time

    from safetensors.torch import load_file

    from dnanet.training.checkpoint import checkpoint_folder

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "dnanet",
        "train",
    ]
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    process = subprocess.Popen(
        [*torchrun, "--out", str(killed), "--epochs", "12", "--threads", "1", "--quiet"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not (checkpoint_folder(killed) / "state.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.05)
    for pid in processes_running(
        str(killed)
    ):  # torchrun and both training processes (in sessions of their own)
        os.kill(pid, signal.SIGKILL)
    process.wait()
    time.sleep(1)
    assert not killed.exists(), "the run finished before it was killed"
    for command in (
        [*torchrun, "--resume", str(killed), "--threads", "1", "--quiet"],
        [*torchrun, "--out", str(straight), "--epochs", "12", "--threads", "1", "--quiet"],
    ):
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
    resumed, uninterrupted = (
        load_file(killed / "model.safetensors"),
        load_file(straight / "model.safetensors"),
    )
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in uninterrupted)


def processes_running(argument: str) -> list[int]:
    """The ids of this machine's processes whose command line contains `argument`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and argument.encode() in (entry / "cmdline").read_bytes().split(
                b"\0"
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)
def test_torchrun_trains_an_ensembles_members_in_one_process_group(tmp_path):
    """Members train one after another under one torchrun: a second process group in the same
    processes would hang on torchrun's store, so the members share one."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m",
               "dnanet", "train", "--folds", "2", "--epochs", "4", "--out", str(tmp_path / "ens"),
               "--threads", "1", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.count("ensemble of") + done.stdout.count("ensemble of") == 1
    record = json.loads((tmp_path / "ens" / "model.json").read_text())
    assert len(record["members"]) + len(record["left_out"]) == 2
