"""A model that learned nothing never passes for a result (dnanet.training.learning_check and
`dnanet train`)."""

from __future__ import annotations

import json

import numpy as np
import torch

from dnanet.cli import app
from dnanet.data.tasks import Task
from dnanet.synthetic.planted import planted_set
from dnanet.training.learning_check import check_learning, prior_outputs

BINARY = Task("binary", ["bound", "background"])


def test_predicting_the_class_frequencies_has_not_learned():
    train = np.array([0] * 60 + [1] * 40)
    val = torch.tensor([0] * 30 + [1] * 20)
    check = check_learning(BINARY, train, prior_outputs(BINARY, train, 50), val)
    assert not check.learned and check.collapsed
    assert abs(check.val_loss - check.prior_loss) < 1e-6 and abs(check.improvement) < 1e-6
    assert "not clearly below" in check.message and "training class frequencies" in check.message


def test_a_model_that_separates_the_classes_has_learned():
    train = np.array([0, 1] * 50)
    val = torch.tensor([0, 1] * 25)
    outputs = torch.where(val[:, None] == torch.arange(2), 0.9, 0.1)
    check = check_learning(BINARY, train, outputs, val)
    assert check.learned and not check.collapsed and check.message == ""
    assert check.improvement > 0.5 and check.z > 3


def test_a_collapsed_model_is_flagged_whatever_its_loss():
    """Ranks well (useful probabilities) but the argmax is 'bound' for every record."""
    train = np.array([0, 1] * 50)
    val = torch.tensor([0, 1] * 25)
    p_bound = torch.where(val == 0, 0.95, 0.55)
    check = check_learning(BINARY, train, torch.stack([p_bound, 1 - p_bound], 1), val)
    assert check.collapsed and not check.learned
    assert "predicts class 'bound' for every validation record" in check.message


def test_regression_against_the_training_mean():
    task = Task("regression", ["expression"], mean=[5.0], std=[2.0])
    train = np.array([[3.0], [7.0], [5.0], [5.0]])
    val = torch.linspace(1.0, 9.0, 40)[:, None]
    at_mean = check_learning(task, train, prior_outputs(task, train, 40), val)
    assert not at_mean.learned and at_mean.collapsed and "training mean" in at_mean.message
    assert check_learning(task, train, val.clone(), val).learned
    few = torch.tensor(
        [[4.0], [6.0], [2.0], [8.0], [5.0], [5.5]]
    )  # too few records to tell from noise
    assert not check_learning(task, train, few.clone(), few).learned


def test_train_on_data_without_signal_says_the_model_did_not_learn(runner, tmp_path):
    """Two classes drawn from one distribution: the run is written, flagged, and says so."""
    noise = planted_set({}, n_per_class=600, length=100, seed=4)  # motif-free records only
    for name, part in (("a", slice(0, 300)), ("b", slice(300, 600))):
        (tmp_path / f"{name}.fa").write_bytes(
            b"".join(
                b">" + i.encode() + b"\n" + s + b"\n"
                for i, s in zip(noise.ids[part], noise.sequences[part])
            )
        )
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            f"a={tmp_path / 'a.fa'}",
            f"b={tmp_path / 'b.fa'}",
            "--out",
            str(out),
            "--epochs",
            "4",
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "the model did not learn" in result.output and "(learned: false)" in result.output
    description = json.loads((out / "model.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert description["learned"] is False and metrics["learned"] is False
    assert description["learning"]["improvement"] < 0.01
    predicted = runner.invoke(
        app, ["predict", str(out), str(tmp_path / "a.fa"), "--out", str(tmp_path / "p.tsv")]
    )
    assert predicted.exit_code == 0 and "the model did not learn" in predicted.output


def test_a_run_that_learned_says_so(trained_run):
    description = json.loads((trained_run / "model.json").read_text())
    assert description["learned"] is True and description["learning"]["improvement"] > 0.3
    assert json.loads((trained_run / "metrics.json").read_text())["learned"] is True
