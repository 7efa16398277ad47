"""`dnanet train --tensorboard DIR` and `--wandb PROJECT` (`dnanet.training.tracking`): each
epoch's history.csv row at step = epoch, then the report's figures, the test metrics and the
config; read back from what TensorBoard and an offline W&B run keep on disk."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dnanet
from dnanet.cli import app
from dnanet.examples import training_inputs
from dnanet.training.loop import TrainingMonitor
from dnanet.training.tracking import Tracking
from dnanet.training.workflow import TrainingStopped, resume_run, train_run

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--epochs", "3", "--quiet", "--threads", "1"]
EPOCH_COLUMNS = ("train_loss", "val_loss", "val_accuracy", "val_auroc", "lr")


def history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def tensorboard_events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_tensorboard_logs_history_figures_and_config(runner, tmp_path):
    pytest.importorskip("tensorboard")
    out, logs = tmp_path / "ctcf", tmp_path / "tb"
    result = runner.invoke(app, ["train", "--out", out, "--tensorboard", logs, *QUICK])
    assert result.exit_code == 0, result.output
    events, rows = tensorboard_events(logs), history(out)
    for column in EPOCH_COLUMNS:  # float32 in the event file
        logged = events.Scalars(column)
        assert [event.step for event in logged] == [int(row["epoch"]) for row in rows] == [1, 2, 3]
        assert [event.value for event in logged] == pytest.approx(
            [float(row[column]) for row in rows], rel=1e-6, abs=1e-9
        )
    metrics = json.loads((out / "metrics.json").read_text())
    assert events.Scalars("test/auroc")[0].value == pytest.approx(metrics["auroc"], rel=1e-6)
    tags = events.Tags()
    figures = {path.stem for path in (out / "report").glob("*.png")}
    assert {"roc", "history"} <= figures
    assert set(tags["images"]) == {f"figures/{name}" for name in figures}
    roc = events.Images("figures/roc")[0]
    assert roc.step == 3 and roc.width > 100 and roc.height > 100
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"lr": 0.002' in config and '"name": "cnn"' in config
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def wandb_records(run_folder: Path):
    """The records of an offline W&B run's ``run-ID.wandb`` file (a LevelDB-style log: 7-byte
    file header, then per 32 KiB block chunks of crc32, length, type; type 1 is a whole record,
    2 to 4 its first, middle and last chunks), each a ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_folder.glob("run-*.wandb")
    data, position, pending = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while position + 7 <= len(data):
        room = 32768 - position % 32768
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if room < 7 or (length == 0 and kind == 0):  # the rest of the block is padding
            position += room
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_wandb_offline_run_holds_the_history_figures_and_config(runner, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    (tmp_path / "wandb-home").mkdir()
    out = tmp_path / "ctcf"
    result = runner.invoke(app, ["train", "--out", out, "--wandb", "dnanet-tests", *QUICK])
    assert result.exit_code == 0, result.output
    (run_folder,) = (tmp_path / "wandb-home" / "wandb").glob("offline-run-*")
    records = list(wandb_records(run_folder))
    steps: dict[int, dict] = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            items = {
                "/".join(item.nested_key) or item.key: item.value_json
                for item in record.history.item
            }
            steps.setdefault(record.history.step.num, {}).update(items)
    rows = history(out)
    assert sorted(steps) == [1, 2, 3]
    for row in rows:
        logged = steps[int(row["epoch"])]
        for column in EPOCH_COLUMNS:
            assert json.loads(logged[column]) == pytest.approx(float(row[column]), rel=1e-12)
    assert json.loads(steps[3]["figures/roc/_type"]) == "image-file"
    assert list(run_folder.glob("files/media/images/figures/roc_*.png"))
    (run,) = [record.run for record in records if record.WhichOneof("record_type") == "run"]
    assert run.project == "dnanet-tests" and run.display_name == "ctcf"
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["train"]["lr"] == 0.002
    summary = {
        item.key: item.value_json
        for record in records
        if record.WhichOneof("record_type") == "summary"
        for item in record.summary.update
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads(summary["test/auroc"]) == pytest.approx(metrics["auroc"], rel=1e-12)


def test_an_ensemble_member_logs_to_its_own_folder_through_the_api(tmp_path):
    pytest.importorskip("tensorboard")
    logs = tmp_path / "tb"
    run = dnanet.train(out=tmp_path / "ens", folds=2, fold=1, epochs=2, threads=1, tensorboard=logs)
    assert run.path == tmp_path / "ens" / "fold_1"
    logged = tensorboard_events(logs / "fold_1").Scalars("val_loss")
    assert [event.value for event in logged] == pytest.approx(
        [float(row["val_loss"]) for row in history(run.path)], rel=1e-6
    )
    assert sorted(path.name for path in logs.iterdir()) == ["fold_1"]  # DIR itself holds none


@pytest.mark.parametrize(
    ("option", "value", "module", "package"),
    [
        ("--tensorboard", "tb", "torch.utils.tensorboard", "tensorboard"),
        ("--wandb", "dnanet-tests", "wandb", "wandb"),
    ],
)
def test_a_missing_tracking_package_is_a_one_line_error(
    runner, tmp_path, monkeypatch, option, value, module, package
):
    monkeypatch.setitem(sys.modules, module, None)  # `import` of it now raises ImportError
    out = tmp_path / "ctcf"
    value = str(tmp_path / value) if option == "--tensorboard" else value
    result = runner.invoke(app, ["train", "--out", out, option, value, *QUICK])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip() == errors[0], result.stderr
    assert f"pip install {package}" in errors[0] and option in errors[0]
    assert "Traceback" not in result.output and not out.exists()


class StopAfterFirstEpoch(TrainingMonitor):
    """Interrupts training (like Ctrl-C) once epoch 1 has been checkpointed."""

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt


def test_a_resumed_run_goes_on_with_the_curves_it_started(tmp_path):
    pytest.importorskip("tensorboard")
    (tmp_path / "tiny.yaml").write_text(
        "seed: 2\nmodel: {name: cnn, channels: 8, hidden: 8}\ntrain: {epochs: 3, batch_size: 32}\n"
    )
    out, tracking = tmp_path / "run", Tracking(tmp_path / "tb")
    inputs = [f"{label}={path}" for label, path in training_inputs()]
    with pytest.raises(TrainingStopped):
        train_run(
            inputs,
            out,
            config=tmp_path / "tiny.yaml",
            threads=1,
            monitor=StopAfterFirstEpoch(),
            tracking=tracking,
        )
    assert [event.step for event in tensorboard_events(tmp_path / "tb").Scalars("val_loss")] == [1]
    resume_run(out, threads=1, tracking=tracking)
    logged = tensorboard_events(tmp_path / "tb").Scalars("val_loss")
    assert [event.step for event in logged] == [1, 2, 3]
    assert [event.value for event in logged] == pytest.approx(
        [float(row["val_loss"]) for row in history(out)], rel=1e-6
    )


@pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)
def test_under_torchrun_rank_0_alone_logs(tmp_path):
    pytest.importorskip("tensorboard")
    out, logs = tmp_path / "ddp", tmp_path / "tb"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["-m", "dnanet", "train", "--out", str(out), "--tensorboard", str(logs), *QUICK]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list(logs.glob("events.out.tfevents.*"))) == 1
    logged = tensorboard_events(logs).Scalars("train_loss")
    assert [event.step for event in logged] == [1, 2, 3]
    assert [event.value for event in logged] == pytest.approx(
        [float(row["train_loss"]) for row in history(out)], rel=1e-6
    )
