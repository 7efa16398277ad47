"""Calibration as a user meets it, on the run trained on the bundled CTCF example: train writes
calibration.json from its validation part, `predict --conformal` adds prediction sets and
temperature-scaled probabilities, `evaluate --conformal` reports the coverage reached per class,
and a run without calibration.json is pointed to `dnanet calibrate`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
from scipy.special import softmax

from dnanet import api
from dnanet.cli import app
from dnanet.data.tasks import Task
from dnanet.examples import example_path
from dnanet.inference.calibration import CALIBRATION_FILE, read_calibration
from dnanet.inference.predictions import read_prediction_table
from tests.inference.test_calibration import ALPHA, coverage_bounds
from tests.test_cli_help import one_line_error

CLASSES = ["bound", "background"]
TASK = Task("binary", CLASSES)


def invoke(runner, *args):
    return runner.invoke(app, [str(arg) for arg in args])


def split_heldout(folder: Path, first: int) -> tuple[list[str], list[str]]:
    """The bundled held-out FASTA files cut in two: each class's first `first` records, and the
    rest, as CLASS=PATH inputs."""
    inputs: tuple[list[str], list[str]] = ([], [])
    for name in CLASSES:
        lines = example_path(f"heldout_{name}.fa").read_text().splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith(">")] + [len(lines)]
        records = ["\n".join(lines[a:b]) for a, b in zip(starts, starts[1:])]
        for part, chosen in enumerate((records[:first], records[first:])):
            path = folder / f"{name}.{part}.fa"
            path.write_text("\n".join(chosen) + "\n")
            inputs[part].append(f"{name}={path}")
    return inputs


def test_train_writes_calibration_from_the_validation_part(trained_run):
    data = json.loads((trained_run / CALIBRATION_FILE).read_text())
    validation = json.loads((trained_run / "model.json").read_text())["split"]["validation"]
    assert data["source"] == "validation" and data["n"] == validation
    assert sum(data["groups"][name]["n"] for name in CLASSES) == validation
    for name in CLASSES:
        scores = data["groups"][name]["scores"]
        assert scores == sorted(scores) and 0 <= scores[0] and scores[-1] <= 1
    assert 0.05 <= data["temperature"] <= 20 and data["ece_after"] is not None


def test_predict_conformal_adds_the_set_and_temperature_scaled_probabilities(
    trained_run, runner, tmp_path
):
    plain, conformal = tmp_path / "plain.tsv", tmp_path / "conformal.tsv"
    assert invoke(runner, "predict", trained_run, "--out", plain).exit_code == 0
    result = invoke(runner, "predict", trained_run, "--conformal", ALPHA, "--out", conformal)
    assert result.exit_code == 0, result.output
    before = read_prediction_table(plain.read_text())
    after = read_prediction_table(conformal.read_text())
    assert list(after.columns) == [*before.columns, "set"]
    assert (after["predicted"] == before["predicted"]).all()
    calibration = read_calibration(trained_run, TASK)
    probabilities = before[["prob_bound", "prob_background"]].to_numpy()
    scaled = softmax(np.log(np.clip(probabilities, 1e-12, 1)) / calibration.temperature, axis=1)
    np.testing.assert_allclose(after[["prob_bound", "prob_background"]], scaled, atol=2e-5)
    thresholds = calibration.thresholds(ALPHA)
    for row, cell in zip(scaled, after["set"]):
        expected = [name for name, p, q in zip(CLASSES, row, thresholds) if 1 - p <= q]
        if all(abs(1 - p - q) > 1e-4 for p, q in zip(row, thresholds)):  # clear of rounding
            assert cell == ",".join(expected), (row, cell)
    assert set(after["set"]) <= {"", "bound", "background", "bound,background"}
    frame = api.load_run(trained_run).predict(str(example_path("heldout_bound.fa")), conformal=0.1)
    assert list(frame.columns) == list(after.columns)
    assert (frame["set"].to_numpy() == after["set"].to_numpy()[: len(frame)]).all()


def test_evaluate_conformal_reports_coverage_per_class(trained_run, runner, tmp_path):
    """On the 75 + 75 held-out records, each class's coverage is within the binomial tolerance of
    0.9 for its about 42 validation records and 75 test records."""
    out = tmp_path / "metrics.json"
    result = invoke(runner, "evaluate", trained_run, "--conformal", ALPHA, "--out", out)
    assert result.exit_code == 0, result.output
    assert "conformal coverage" in result.stdout and "calibration error" in result.stdout
    report = json.loads(out.read_text())["calibration"]
    assert report["target_coverage"] == 0.9 and report["calibrated_on"] == "validation"
    for name in CLASSES:
        entry = report["per_class"][name]
        low, high = coverage_bounds(entry["calibration_n"], entry["n"])
        assert entry["n"] == 75 and low <= entry["coverage"] <= high, entry
    assert report["ece_before"] >= 0 and report["ece_after"] >= 0 and report["mean_set_size"] > 0


def test_a_run_without_calibration_is_pointed_to_calibrate(trained_run, runner, tmp_path):
    """An older run has no calibration.json: --conformal says to run `dnanet calibrate`, which
    fits one on held-out data (refused a second time without --overwrite)."""
    old = tmp_path / "old"
    shutil.copytree(trained_run, old)
    (old / CALIBRATION_FILE).unlink()
    for command in ("predict", "evaluate"):
        extra = ["--out", tmp_path / "p.tsv"] if command == "predict" else []
        result = invoke(runner, command, old, "--conformal", ALPHA, *extra)
        one_line_error(result, f"{old}: no {CALIBRATION_FILE}", f"dnanet calibrate {old}")
    assert not (tmp_path / "p.tsv").exists()
    calibrate, evaluate = split_heldout(tmp_path, 40)
    result = invoke(runner, "calibrate", old, *calibrate)
    assert result.exit_code == 0, result.output
    assert "written from 80 records: temperature" in result.stderr
    data = json.loads((old / CALIBRATION_FILE).read_text())
    assert data["source"] == "held-out inputs" and data["groups"]["bound"]["n"] == 40
    one_line_error(invoke(runner, "calibrate", old, *calibrate), "already exists", "--overwrite")
    assert invoke(runner, "calibrate", old, *calibrate, "--overwrite").exit_code == 0
    metrics = api.load_run(old).evaluate(evaluate, conformal=ALPHA)
    for name in CLASSES:  # 40 calibration and 35 new records per class
        entry = metrics["calibration"]["per_class"][name]
        low, high = coverage_bounds(40, 35)
        assert entry["n"] == 35 and low <= entry["coverage"] <= high, entry
    one_line_error(
        invoke(runner, "predict", old, "--conformal", 1.5, "--out", tmp_path / "q.tsv"),
        "ALPHA must be between 0 and 1",
    )
    result = invoke(runner, "predict", old, "--conformal", 0.01, "--out", tmp_path / "q.tsv")
    assert "too few calibration records for alpha 0.01 in bound (40), background (40)" in (
        result.stderr
    ), result.stderr
    assert set(read_prediction_table((tmp_path / "q.tsv").read_text())["set"]) == {
        "bound,background"
    }  # 40 records cannot promise 99%: every class is in every set
    assert math.isfinite(metrics["calibration"]["temperature"])
