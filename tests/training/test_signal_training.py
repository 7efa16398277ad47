"""Training signal runs end to end on the example genome's coverage: profile and counts tasks, a
control track as a model input, every family, what model.json and metrics.json keep, resuming
settings; a family without positions refused for profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dnanet import api
from dnanet.data.signal import SignalSettings, signal_settings
from dnanet.errors import DnanetError
from dnanet.inference.predict import predict_batch
from dnanet.inputs.encode import sequences_to_codes
from dnanet.runs.load import load_run
from dnanet.synthetic.coverage import write_synthetic_coverage
from dnanet.synthetic.genome import write_synthetic_genome
from dnanet.training.workflow import train_run

SMALL = (("chr1", 120_000), ("chr2", 80_000), ("chr3", 60_000))


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signal")
    genome = write_synthetic_genome(folder, peaks=120, seed=3, chromosomes=SMALL)
    coverage = write_synthetic_coverage(genome, folder, seed=3)
    return folder, genome, coverage


def train(example, out, **options):
    folder, genome, coverage = example
    settings = dict(
        genome=genome.genome, window=100, signal=[f"chip={coverage.signal}"], split="chromosome",
        val_chroms="chr3", test_chroms="chr2", epochs=1, cache=folder / "cache",
    )  # fmt: skip
    settings.update(options)
    return train_run([f"peaks={genome.peaks}", "bg=gc-matched"], folder / out, **settings)


@pytest.fixture(scope="module")
def profile_run(example):
    folder, _, coverage = example
    outcome = train(
        example,
        "profile",
        task="profile",
        target_width=60,
        jitter=8,
        epochs=2,
        control=[f"chip={coverage.control}"],
    )
    return outcome, load_run(folder / "profile")


def test_a_profile_run_keeps_its_tracks_widths_and_metrics(profile_run, example):
    outcome, run = profile_run
    _, _, coverage = example
    record = run.record
    assert run.task.kind == "profile" and run.task.width == 60 and run.task.controls == ["chip"]
    assert run.window == 100  # the model's input; windows were read 16 wider for the jitter
    signal = record["signal"]
    assert signal["jitter"] == 8 and signal["target_width"] == 60
    assert signal["tracks"][0]["path"] == str(coverage.signal.resolve())
    assert len(signal["tracks"][0]["sha256"]) == 64 and signal["controls"][0]["name"] == "chip"
    metrics = json.loads((run.folder / "metrics.json").read_text())
    for key in ("pearson", "spearman", "mse", "baseline_mse", "jsd", "baseline_jsd"):
        assert key in metrics and key in metrics["per_track"]["chip"]
    assert 0 <= metrics["jsd"] <= 1
    history = (run.folder / "history.csv").read_text().splitlines()[0]
    assert "val_pearson" in history and "val_jsd" in history
    assert record["task"]["counts_weight"] >= 1  # lambda from the data (mean reads)
    assert not (run.folder / "calibration.json").exists()  # a profile run has no calibration


def test_the_control_is_an_input_and_prediction_leaves_it_out(profile_run):
    _, run = profile_run
    model = run.model
    codes, lengths = sequences_to_codes([b"ACGT" * 25, b"TTGCA" * 20])
    without = predict_batch(model, codes, lengths, activate=run.task.activate)
    control = torch.full((2, 1, 60), 2.0)
    with_control = predict_batch(model, codes, lengths, activate=run.task.activate, control=control)
    assert not torch.allclose(without[:, 0], with_control[:, 0])
    zero = predict_batch(
        model, codes, lengths, activate=run.task.activate, control=torch.zeros(2, 1, 60)
    )
    assert torch.allclose(without, zero)  # no control: its contribution is exactly zero


def test_predicted_profiles_average_both_strands_in_one_orientation(profile_run):
    _, run = profile_run
    codes, lengths = sequences_to_codes([b"ACGTTGCAAC" * 10])
    outputs = predict_batch(run.model, codes, lengths, True, activate=run.task.activate)
    reverse = codes[:, ::-1].copy()
    reverse = np.where(reverse < 4, 3 - reverse, reverse).astype(np.uint8)
    flipped = predict_batch(run.model, reverse, lengths, True, activate=run.task.activate)
    assert torch.allclose(outputs, run.task.flip(flipped), atol=1e-5)


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_every_family_trains_a_profile(example, model):
    outcome = train(example, f"profile-{model}", task="profile", target_width=60, model=model)
    assert outcome.result.description["task"]["kind"] == "profile"
    assert outcome.metrics["jsd"] is not None


def test_a_counts_run_is_regression_on_log_reads(example):
    outcome = train(example, "counts", model="cnn")
    task = outcome.result.description["task"]
    assert task["kind"] == "counts" and len(task["mean"]) == 1
    assert {"pearson", "mse", "baseline_mse"} <= set(outcome.metrics)
    _, genome, _ = example  # conformal intervals from the validation part, in reads
    frame = api.load_run(outcome.out).predict(genome.peaks, genome=genome.genome, conformal=0.1)
    assert list(frame.columns) == ["id", "name", "pred_chip", "low_chip", "high_chip"]
    assert frame["name"].str.startswith("peak").all()  # the narrowPeak's names, kept
    assert (0 <= frame["low_chip"]).all() and (frame["low_chip"] <= frame["pred_chip"]).all()
    assert (frame["pred_chip"] <= frame["high_chip"]).all()


def test_a_family_without_positions_has_no_profile_head(example):
    with pytest.raises(DnanetError, match="no per-position features"):
        train(example, "ternary", task="profile", model="ternary_mlp")


def test_signal_settings_survive_the_checkpoint(example):
    _, _, coverage = example
    settings = signal_settings(
        [f"chip={coverage.signal}"], "profile", 60, 8, control=[f"chip={coverage.control}"]
    )
    assert SignalSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == SignalSettings(
        *(
            getattr(settings, field)
            if field not in ("tracks", "controls")
            else tuple(
                type(track)(track.name, track.path.resolve()) for track in getattr(settings, field)
            )
            for field in settings.__dataclass_fields__
        )
    )
    with pytest.raises(DnanetError, match="no --signal track is named 'input'"):
        signal_settings(
            [f"chip={coverage.signal}"], "counts", control=[f"input={coverage.control}"]
        )


def test_an_interrupted_signal_run_resumes_to_the_uninterrupted_weights(example):
    from safetensors.torch import load_file

    from dnanet.training.workflow import TrainingStopped, resume_run
    from tests.training.test_workflow import StopAfter

    _, _, coverage = example
    options = dict(task="profile", target_width=60, jitter=4, epochs=2, threads=1)
    options["control"] = [f"chip={coverage.control}"]
    straight = train(example, "straight", **options)
    with pytest.raises(TrainingStopped):
        train(example, "stopped", monitor=StopAfter(1), **options)
    resumed = resume_run(straight.out.parent / "stopped", threads=1)
    first, second = (
        load_file(straight.out / "model.safetensors"),
        load_file(resumed.out / "model.safetensors"),
    )
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert resumed.metrics == straight.metrics


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_torchrun_trains_a_profile_run_with_a_control(example):
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder, genome, coverage = example
    out = folder / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "dnanet",
        "train", f"peaks={genome.peaks}", "bg=gc-matched", "--genome", str(genome.genome),
        "--window", "100", "--track", f"chip={coverage.signal}", "--control",
        f"chip={coverage.control}", "--task", "profile", "--target-width", "60", "--split",
        "chromosome", "--val-chroms", "chr3", "--test-chroms", "chr2", "--epochs", "1",
        "--cache", str(folder / "cache"), "--out", str(out), "--threads", "1", "--quiet",
    ]  # fmt: skip
    repository = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repository)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 processes" in done.stderr and done.stderr.count("run written to") == 1
    assert load_run(out).task.kind == "profile"


def test_tune_searches_a_signal_task(example):
    from dnanet.tune.workflow import run_search

    folder, genome, coverage = example
    outcome = run_search(
        [f"peaks={genome.peaks}", "bg=gc-matched"], folder / "tune", model="cnn", trials=1,
        epochs=1, genome=genome.genome, window=100, signal=[f"chip={coverage.signal}"],
        task="counts", split="chromosome", val_chroms="chr3", test_chroms="chr2",
        cache=folder / "cache", threads=1,
    )  # fmt: skip
    assert outcome.best is not None
    assert "val_pearson" in (folder / "tune" / "trials.tsv").read_text()
