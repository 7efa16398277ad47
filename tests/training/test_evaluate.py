"""Metrics against values worked out by hand, above all for a class with no records in the set:
it has n 0, undefined one-vs-rest scores, and is left out of every macro average alike."""

import numpy as np
import pytest

from dnanet.data.tasks import Task
from dnanet.training.metrics import (
    classification_metrics,
    multilabel_metrics,
    regression_metrics,
    task_metrics,
)

# Four records of classes a, a, b, b; class c has none. Predicted (argmax): a, b, b, c.
LABELS = np.array([0, 0, 1, 1])
PROBS = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]])


def test_multiclass_one_vs_rest_values_by_hand():
    metrics = classification_metrics(LABELS, PROBS, ["a", "b", "c"])
    a, b = metrics["per_class"]["a"], metrics["per_class"]["b"]
    # a: scores 0.7 0.3 (a) above 0.2 0.1 (rest): AUROC 1, AP 1; predicted once, rightly: P 1, R 1/2
    assert (a["n"], a["auroc"], a["auprc"], a["precision"], a["recall"]) == (2, 1.0, 1.0, 1.0, 0.5)
    assert a["f1"] == pytest.approx(2 / 3)
    # b: scores 0.5 0.3 (b) vs 0.2 0.4: 3 of 4 pairs ordered -> AUROC 0.75; AP = 1/2 * 1 + 1/2 * 2/3
    assert (b["n"], b["auroc"]) == (2, 0.75) and b["auprc"] == pytest.approx(5 / 6)
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 0.5, 0.5)
    assert metrics["accuracy"] == 0.5 and metrics["n"] == 4


def test_a_class_with_no_records_is_left_out_of_every_macro_average():
    metrics = classification_metrics(LABELS, PROBS, ["a", "b", "c"])
    c = metrics["per_class"]["c"]
    assert c["n"] == 0
    assert (c["auroc"], c["auprc"], c["recall"], c["f1"]) == (None, None, None, None)
    assert c["precision"] == 0.0  # c was predicted once, wrongly
    # the macro averages are over a and b alone, each of them
    assert metrics["auroc"] == pytest.approx((1.0 + 0.75) / 2)
    assert metrics["auprc"] == pytest.approx((1.0 + 5 / 6) / 2)
    assert metrics["f1"] == pytest.approx((2 / 3 + 0.5) / 2)  # not (2/3 + 1/2 + 0) / 3
    assert metrics["note"] == (
        "no records of class c here (n: 0): its AUROC, AUPRC, recall and F1 are undefined "
        "and it is left out of every macro average"
    )


def test_every_class_present_has_no_note():
    labels = np.array([0, 1, 2, 0])
    metrics = classification_metrics(labels, PROBS, ["a", "b", "c"])
    assert "note" not in metrics and all(
        scores["n"] > 0 for scores in metrics["per_class"].values()
    )
    assert metrics["f1"] == pytest.approx(
        np.mean([scores["f1"] for scores in metrics["per_class"].values()])
    )


def test_binary_set_with_only_the_positive_class_names_the_missing_one():
    labels = np.array([0, 0, 0])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2]])
    metrics = classification_metrics(labels, probs, ["bound", "background"])
    assert (
        metrics["positive_class"] == "bound" and metrics["auroc"] is None
    )  # one class: no ranking to score
    assert metrics["f1"] == pytest.approx(0.8)  # P 1, R 2/3
    assert (
        metrics["per_class"]["background"]["n"] == 0
        and metrics["per_class"]["background"]["f1"] is None
    )
    assert "background" in metrics["note"] and "bound" not in metrics["note"]


def test_multilabel_label_without_positives_is_left_out_of_every_macro_average():
    # label x: 1 0 1 0, predicted 1 0 0 1; label y: no positives, predicted 0 1 0 0
    targets = np.array([[1, 0], [0, 0], [1, 0], [0, 0]], dtype=np.float32)
    probs = np.array([[0.9, 0.1], [0.2, 0.7], [0.4, 0.2], [0.6, 0.3]])
    metrics = multilabel_metrics(targets, probs, ["x", "y"])
    x, y = metrics["per_class"]["x"], metrics["per_class"]["y"]
    assert (x["auroc"], x["f1"], x["accuracy"], x["mcc"]) == (0.75, 0.5, 0.5, 0.0)
    assert x["auprc"] == pytest.approx(5 / 6)
    assert y["n"] == 0 and y["accuracy"] == 0.75
    assert (y["auroc"], y["auprc"], y["f1"], y["recall"], y["mcc"]) == (
        None,
        None,
        None,
        None,
        None,
    )
    # every macro average is x's alone: y's accuracy 0.75 is not averaged in, nor a 0 F1 or MCC
    assert {key: metrics[key] for key in ("accuracy", "auroc", "f1", "mcc")} == {
        "accuracy": 0.5,
        "auroc": 0.75,
        "f1": 0.5,
        "mcc": 0.0,
    }
    assert metrics["exact_match"] == 0.25  # only the first record has both labels right
    assert "label y" in metrics["note"]


def test_note_names_several_missing_classes():
    labels = np.array([0, 0, 0, 0])
    metrics = classification_metrics(labels, PROBS, ["a", "b", "c"])
    assert metrics["note"].startswith("no records of classes b, c here (n: 0): their")
    assert metrics["auroc"] is None  # one class present: no ranking to score
    assert metrics["f1"] == pytest.approx(0.4)  # a alone: predicted once, rightly, of 4: P 1, R 1/4


def test_binary_metrics_are_for_the_first_class_by_hand():
    # bound (class 0, the positive class): records 0-2, with probabilities 0.9 0.6 0.4 | 0.7 0.2 0.1
    labels = np.array([0, 0, 0, 1, 1, 1])
    bound = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1])
    probs = np.stack([bound, 1 - bound], 1)
    metrics = classification_metrics(labels, probs, ["bound", "background"])
    assert metrics["positive_class"] == "bound" and metrics["n"] == 6
    # AUROC: of the 9 (bound, background) pairs, 0.4 < 0.7 and 0.6 < 0.7 are the 2 ordered wrongly
    assert metrics["auroc"] == pytest.approx(7 / 9)
    # AP: ranked 0.9 (hit) 0.7 0.6 (hit) 0.4 (hit): precision 1, 2/3, 3/4 at the hits
    assert metrics["auprc"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    # predicted bound: records 0, 1, 3 -> TP 2, FP 1, FN 1, TN 2
    assert metrics["f1"] == pytest.approx(2 / 3) and metrics["accuracy"] == pytest.approx(4 / 6)
    # MCC = (TP TN - FP FN) / sqrt((TP + FP) (TP + FN) (TN + FP) (TN + FN))
    assert metrics["mcc"] == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))
    background = metrics["per_class"]["background"]
    assert background["auroc"] == pytest.approx(7 / 9)
    assert background["precision"] == pytest.approx(2 / 3)


def test_multiclass_mcc_by_hand():
    # truth a a b b, predicted a b b c: c = 2 right of s = 4; true counts t = 2 2 0,
    # predicted counts p = 1 2 1
    # MCC = (c s - sum p t) / sqrt((s^2 - sum p^2) (s^2 - sum t^2)) = (8 - 6) / sqrt(10 * 8)
    metrics = classification_metrics(LABELS, PROBS, ["a", "b", "c"])
    assert metrics["mcc"] == pytest.approx(2 / np.sqrt(80))


def test_multilabel_precision_recall_and_scores_by_hand():
    # x: truth 1 0 1 0, predicted 1 0 0 1
    # y: truth 0 1 1 0, predicted 0 1 1 1, its probabilities ranked perfectly
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.9], [0.6, 0.55]])
    metrics = multilabel_metrics(targets, probs, ["x", "y"])
    x, y = metrics["per_class"]["x"], metrics["per_class"]["y"]
    assert (x["precision"], x["recall"]) == (0.5, 0.5)
    assert (y["auroc"], y["auprc"], y["precision"], y["recall"]) == (1.0, 1.0, 2 / 3, 1.0)
    assert y["f1"] == pytest.approx(0.8) and y["accuracy"] == 0.75
    # y: TP 2, TN 1, FP 1, FN 0 -> (2 - 0) / sqrt(3 * 2 * 2 * 1)
    assert y["mcc"] == pytest.approx(2 / np.sqrt(12))
    assert metrics["f1"] == pytest.approx((0.5 + 0.8) / 2)
    assert metrics["auroc"] == pytest.approx((0.75 + 1) / 2)
    assert metrics["exact_match"] == 0.5  # records 1 and 2 have both labels right


def test_regression_metrics_by_hand():
    # first target: truth 1 2 3 4, guess 1 3 2 4: deviations -1.5 -.5 .5 1.5 and -1.5 .5 -.5 1.5,
    # covariance sum 4, each variance sum 5 -> Pearson 0.8; the ranks are the values -> Spearman 0.8
    # second target: a constant guess has no correlation (None) but an MSE
    targets = np.array([[1, 0], [2, 1], [3, 2], [4, 3]], dtype=np.float32)
    values = np.array([[1, 1], [3, 1], [2, 1], [4, 1]], dtype=np.float32)
    metrics = regression_metrics(targets, values, ["signal", "flat"])
    signal, flat = metrics["per_target"]["signal"], metrics["per_target"]["flat"]
    assert signal["pearson"] == pytest.approx(0.8) and signal["spearman"] == pytest.approx(0.8)
    assert signal["mse"] == pytest.approx(0.5)  # (0 + 1 + 1 + 0) / 4
    assert (flat["pearson"], flat["spearman"]) == (None, None)
    assert flat["mse"] == pytest.approx(1.5)  # (1 + 0 + 1 + 4) / 4
    assert metrics["pearson"] == pytest.approx(0.8)  # the mean over the targets where it is defined
    assert metrics["mse"] == pytest.approx((0.5 + 1.5) / 2) and metrics["n"] == 4


def test_task_metrics_picks_the_metrics_of_the_task_kind():
    targets = np.array([[1.0], [2.0], [3.0]])
    regression = task_metrics(Task("regression", ["y"], [0.0], [1.0]), targets, targets * 2)
    assert regression["pearson"] == pytest.approx(1.0)
    assert regression["mse"] == pytest.approx(14 / 3)  # (1 + 4 + 9) / 3
    multilabel = task_metrics(
        Task("multilabel", ["x", "y"]),
        np.array([[1, 0], [0, 1]]),
        np.array([[0.9, 0.2], [0.3, 0.7]]),
    )
    assert multilabel["exact_match"] == 1.0 and set(multilabel["per_class"]) == {"x", "y"}
    # truth a b a, predicted (argmax) a b b
    binary = task_metrics(
        Task("binary", ["a", "b"]),
        np.array([0, 1, 0]),
        np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]]),
    )
    assert binary["positive_class"] == "a" and binary["accuracy"] == pytest.approx(2 / 3)
