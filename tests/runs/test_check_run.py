"""`dnanet check-run`: a fresh run of every family passes against the records training kept in
check.safetensors; one changed weight fails with one line naming the difference; a run without
the file says it has nothing to check against."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.inference.run_check import check_run
from dnanet.runs.check_file import CHECK_RECORDS, read_check_file

runner = CliRunner()
FAMILIES = ["cnn", "lstm", "transformer", "kmer", "ternary_mlp", "ensemble", "profile", "counts"]


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.stdout == "", result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_fresh_run_of_every_family_passes(family_runs, family):
    checked = check_run(family_runs[family])
    assert checked.passed and checked.failure() is None
    members = 2 if family == "ensemble" else 1
    assert len(checked.members) == members
    for member in checked.members:
        assert member.records == CHECK_RECORDS
        assert member.logits_difference <= 1e-5 and member.outputs_difference <= 1e-5
        assert member.part == "test"


def test_the_check_file_holds_test_records_and_their_outputs(family_runs):
    folder = family_runs["cnn"]
    records = read_check_file(folder)
    held_out = load_file(folder / "held_out_outputs.safetensors")
    assert records.codes.dtype == np.uint8 and records.codes.shape[0] == CHECK_RECORDS
    assert (records.lengths == 101).all() and records.codes.max() <= 4
    np.testing.assert_allclose(records.outputs.sum(1), 1.0, atol=1e-6)  # softmax probabilities
    # the same answers the test metrics scored: the first test records, in read order
    order = np.argsort(held_out["test_indices"])[:CHECK_RECORDS]
    np.testing.assert_allclose(records.outputs, held_out["test_outputs"][order], atol=1e-6)
    assert records.versions["torch"] and records.versions["dnanet"]


def test_check_run_prints_the_differences_and_the_versions(family_runs):
    result = runner.invoke(app, ["check-run", str(family_runs["cnn"])])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "8 test records" in text and ": pass" in text
    assert "versions saved: dnanet" in text and "now: dnanet" in text


def test_one_changed_weight_fails_with_one_line(family_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(family_runs["cnn"], run)
    weights = load_torch(run / "model.safetensors")
    weights["blocks.1.0.weight"][0, 0, 0] += 0.5  # finite: the loader's checks cannot see it
    save_file(weights, str(run / "model.safetensors"), metadata={"format": "pt"})
    line = one_error_line(runner.invoke(app, ["check-run", str(run)]))
    assert "check-run failed" in line and "logits differ by up to" in line
    assert "saved with dnanet" in line


def test_a_run_without_check_records_says_so(family_runs, tmp_path):
    run = tmp_path / "old"
    shutil.copytree(family_runs["cnn"], run)
    (run / "check.safetensors").unlink()
    line = one_error_line(runner.invoke(app, ["check-run", str(run)]))
    assert "no check.safetensors, so nothing to check against" in line


def test_a_profile_runs_check_records_are_read_without_the_control(family_runs):
    description = json.loads((family_runs["profile"] / "model.json").read_text())
    records = read_check_file(family_runs["profile"])
    tracks, width = len(description["task"]["names"]), description["task"]["width"]
    assert records.logits.shape == (CHECK_RECORDS, tracks * (1 + width))
    assert description["task"]["controls"]  # the model has a control input; predict leaves it out
