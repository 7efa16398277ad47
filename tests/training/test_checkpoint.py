"""Runs that survive being killed: checkpoints after every epoch, `dnanet train --resume`."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dnanet.cli import app
from dnanet.config.run_config import load_config
from dnanet.errors import DnanetError
from dnanet.training.checkpoint import Checkpoint, checkpoint_folder
from dnanet.training.experiment import train_model
from dnanet.training.loop import TrainingMonitor
from tests.training.test_train import example_set

CPU = torch.device("cpu")


class StopAfter(TrainingMonitor):
    """Interrupts training (like Ctrl-C) once `epoch` has been checkpointed."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def small_config():
    config = load_config(epochs=4, batch_size=32)
    return dataclasses.replace(config, model={**config.model, "channels": 16, "hidden": 16})


def test_a_resumed_run_ends_with_the_weights_of_one_never_stopped(tmp_path):
    sequences, task = example_set()
    straight = train_model(small_config(), sequences, task, [], CPU)
    checkpoint = Checkpoint(tmp_path / ".run.checkpoint", invocation={"note": "test"})
    with pytest.raises(KeyboardInterrupt):
        train_model(small_config(), sequences, task, [], CPU, StopAfter(2), checkpoint)
    state = json.loads((checkpoint.folder / "state.json").read_text())
    assert (
        state["epoch"] == 2
        and len(state["history"]) == 2
        and state["invocation"] == {"note": "test"}
    )
    resumed = train_model(small_config(), sequences, task, [], CPU, None, checkpoint)
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    drop_time = [{k: v for k, v in record.items() if k != "seconds"} for record in straight.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == drop_time
    assert resumed.test_metrics == straight.test_metrics


def write_example(folder: Path) -> list[str]:
    from dnanet.examples import training_inputs

    return [f"{label}={path}" for label, path in training_inputs()]


def start_training(out: Path, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "dnanet",
        "train",
        *write_example(out.parent),
        "--out",
        str(out),
        "--epochs",
        "5",
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def wait_for_checkpoint(out: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    state = checkpoint_folder(out) / "state.json"
    deadline = time.monotonic() + timeout
    while not state.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.2)


def test_kill_9_then_resume_gives_the_uninterrupted_weights(runner, tmp_path):
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    process = start_training(killed)
    wait_for_checkpoint(killed, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not killed.exists() and checkpoint_folder(killed).exists()
    result = runner.invoke(app, ["train", "--resume", str(killed), "--threads", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output and not checkpoint_folder(killed).exists()
    result = runner.invoke(
        app,
        [
            "train",
            *write_example(tmp_path),
            "--out",
            str(straight),
            "--epochs",
            "5",
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    resumed_weights, straight_weights = (
        load_file(killed / "model.safetensors"),
        load_file(straight / "model.safetensors"),
    )
    assert all(
        torch.equal(resumed_weights[name], straight_weights[name]) for name in straight_weights
    )
    leftovers = [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".dnanet-cache"
    ]
    assert leftovers == []
    stores = list(
        (tmp_path / ".dnanet-cache").iterdir()
    )  # the three runs read one store, none half-written
    assert len(stores) == 1 and (stores[0] / "manifest.json").exists()


def test_sigterm_leaves_a_resumable_checkpoint_and_no_run_folder(runner, tmp_path):
    out = tmp_path / "run"
    process = start_training(out)
    wait_for_checkpoint(out, process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, output  # 128 + SIGTERM, as a shell reports a terminated job
    assert (
        "terminated (SIGTERM); the finished epochs are kept: "
        f"continue with dnanet train --resume {out}" in output
    )
    assert not out.exists() and checkpoint_folder(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".dnanet-cache",
        checkpoint_folder(out).name,
    ]  # no run
    again = runner.invoke(
        app, ["train", *write_example(tmp_path), "--out", str(out), "--threads", "1"]
    )
    assert again.exit_code == 1 and "has a checkpoint; continue it with --resume" in again.output


def test_resume_errors_are_one_line(runner, tmp_path):
    missing = runner.invoke(app, ["train", "--resume", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "no unfinished run to resume" in missing.output
    Checkpoint(checkpoint_folder(tmp_path / "run")).folder.mkdir()
    (checkpoint_folder(tmp_path / "run") / "state.json").write_text("{}")
    (checkpoint_folder(tmp_path / "run") / "state.safetensors").write_bytes(b"")
    mixed = runner.invoke(
        app, ["train", "a.fa", "--resume", str(tmp_path / "run"), "--epochs", "3"]
    )
    assert mixed.exit_code == 1 and "drop FASTA inputs, --epochs" in mixed.output


@pytest.fixture(scope="module")
def stopped_checkpoint(tmp_path_factory):
    """The checkpoint of a run interrupted after its first epoch, with what it trained on."""
    folder = tmp_path_factory.mktemp("stopped") / ".run.checkpoint"
    sequences, task = example_set()
    with pytest.raises(KeyboardInterrupt):
        train_model(
            small_config(),
            sequences,
            task,
            [],
            CPU,
            StopAfter(1),
            Checkpoint(folder, invocation={}),
        )
    return folder, sequences, task


def _poison(tensors):
    tensors["model.dense.0.weight"][0, 0] = float("nan")


def _reshape(tensors):
    tensors["model.dense.0.weight"] = torch.zeros(3, 3)


def _optimizer_shape(tensors):
    name = next(
        name for name in tensors if name.startswith("optimizer.") and name.endswith("exp_avg")
    )
    tensors[name] = torch.zeros(2)


@pytest.mark.parametrize(
    "tamper, fragment",
    [
        (_poison, "state.safetensors: tensor 'model.dense.0.weight' holds NaN or infinite values"),
        (
            _reshape,
            "state.safetensors: tensor 'model.dense.0.weight' has shape [3, 3], "
            "but the model of the run's config needs",
        ),
        (
            lambda tensors: tensors.pop("model.head.1.bias"),
            "state.safetensors has no tensor 'model.head.1.bias'",
        ),
        (
            lambda tensors: tensors.pop("best.head.1.bias"),
            "the best epoch's weights (best.*) are not the model's",
        ),
        (_optimizer_shape, "exp_avg' has shape [2], its parameter"),
        (
            lambda tensors: tensors.pop("rng.flips"),
            "the checkpoint does not fit this run ('rng.flips')",
        ),
        ({"epoch": "1"}, "state.json: 'epoch' has the wrong type ('1')"),
        ({"history": None}, "state.json: 'history' has the wrong type (None)"),
    ],
)
def test_a_tampered_checkpoint_is_one_error_before_training_goes_on(
    stopped_checkpoint, tmp_path, tamper, fragment
):
    folder, sequences, task = stopped_checkpoint
    copy = tmp_path / ".run.checkpoint"
    shutil.copytree(folder, copy)
    if isinstance(tamper, dict):
        state = json.loads((copy / "state.json").read_text())
        (copy / "state.json").write_text(json.dumps({**state, **tamper}))
    else:
        tensors = load_file(copy / "state.safetensors")
        tamper(tensors)
        save_file(tensors, str(copy / "state.safetensors"))
    with pytest.raises(DnanetError) as raised:
        train_model(small_config(), sequences, task, [], CPU, None, Checkpoint(copy))
    assert fragment in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


def test_a_checkpoint_state_that_is_not_a_regular_file_is_refused(stopped_checkpoint, tmp_path):
    folder, _, _ = stopped_checkpoint
    copy = tmp_path / ".run.checkpoint"
    shutil.copytree(folder, copy)
    (copy / "state.json").unlink()
    (copy / "state.json").symlink_to("/dev/zero")
    with pytest.raises(DnanetError, match="state.json: a device, expected a regular file"):
        Checkpoint(copy).read_invocation()
