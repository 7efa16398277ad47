"""Calibration on planted data: temperature scaling finds how over- or underconfident a model is,
and split-conformal sets and intervals reach 1 - alpha on new records within each class, label
and target (`dnanet.inference.calibration`).

Tolerances: for n calibration and m test records of one class, the coverage reached is
Beta(k, n + 1 - k) given the calibration part (k = ceil((n + 1)(1 - alpha))), seen through m
binomial draws; its standard deviation is about sqrt(alpha (1 - alpha) (1/n + 1/m)). The checks
allow 4.5 of them (a false alarm about once in 150,000 runs), on top of the 1/(n + 1) the method
may overshoot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dnanet.data.loaders import code_batches
from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.inference.calibrated_outputs import CalibratedColumns, coverage_report
from dnanet.inference.calibration import (
    CALIBRATION_FILE,
    MAX_SCORES,
    Calibration,
    ScoreGroup,
    apply_temperature,
    conformal_intervals,
    conformal_sets,
    fit_calibration,
    interval_coverage,
    read_calibration,
    set_coverage,
    write_calibration,
)
from dnanet.inference.predict import predict
from dnanet.synthetic.planted import bayes_posteriors, jaspar_pwm, planted_set
from tests.training.test_train import (
    CPU,
    EBOX,
    planted_sequences,
    sequence_set,
    small_cnn_config,
)

ALPHA = 0.1


def tolerance(n: int, m: int, alpha: float = ALPHA) -> float:
    return 4.5 * math.sqrt(alpha * (1 - alpha) * (1 / n + 1 / m))


def coverage_bounds(n: int, m: int) -> tuple[float, float]:
    """The coverage m test records may show after n calibration records: 1 - alpha within the
    tolerance, plus the at most 1/(n + 1) the method overshoots."""
    allowed = tolerance(n, m)
    return 1 - ALPHA - allowed, 1 - ALPHA + 1 / (n + 1) + allowed


def assert_covers(covered: np.ndarray, n_calibration: int, what: str) -> None:
    """`covered` bool (m,): within `coverage_bounds`."""
    low, high = coverage_bounds(n_calibration, len(covered))
    assert low <= covered.mean() <= high, (what, covered.mean(), low, high)


def sharpened(probabilities: np.ndarray, power: float) -> np.ndarray:
    """Probabilities ``(N, C)`` with their logits scaled by `power` (>1: overconfident)."""
    raised = probabilities**power
    return raised / raised.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def posteriors() -> dict:
    """Three planted classes (no motif, CTCF, GATA; 800 each) for calibration and another 800 each
    for testing: their true posteriors, a perfectly calibrated model (`bayes_posteriors`)."""
    pwms = {"ctcf": jaspar_pwm("MA0139")[1], "gata": jaspar_pwm("MA0035")[1]}
    parts = {}
    for part, seed in (("calibration", 1), ("test", 2)):
        planted = planted_set(pwms, 800, length=80, seed=seed)
        names, probabilities = bayes_posteriors(planted, pwms)
        targets = np.array([names.index(label) for label in planted.labels])
        parts[part] = probabilities, targets
    return {"task": Task("multiclass", names), **parts}


def test_temperature_recovers_how_overconfident_a_model_is(posteriors):
    """Logits x 3 (overconfident) -> T near 3 and a lower ECE; logits x 0.5 -> T near 0.5."""
    task, (probabilities, targets) = posteriors["task"], posteriors["calibration"]
    over = fit_calibration(task, sharpened(probabilities, 3.0), targets)
    assert 2.6 < over.temperature < 3.4, over.temperature
    assert over.ece_after < over.ece_before / 3 and over.ece_after < 0.03, over
    under = fit_calibration(task, sharpened(probabilities, 0.5), targets)
    assert 0.4 < under.temperature < 0.6 and under.ece_after < under.ece_before, under
    scaled = apply_temperature(task, sharpened(probabilities, 3.0), over)
    np.testing.assert_allclose(scaled, probabilities, atol=0.05)  # back near the truth
    assert (scaled.argmax(1) == probabilities.argmax(1)).all()  # the predicted class stays


@pytest.mark.parametrize("power", [1.0, 3.0])
def test_prediction_sets_cover_each_class_on_new_records(posteriors, power):
    """Mondrian split conformal: within every class, the true class is in the set of about 90%
    of new records, whether the model is calibrated or overconfident."""
    task, (probabilities, targets) = posteriors["task"], posteriors["calibration"]
    calibration = fit_calibration(task, sharpened(probabilities, power), targets)
    test_probabilities, test_targets = posteriors["test"]
    sets = conformal_sets(calibration, sharpened(test_probabilities, power), ALPHA)
    covered = set_coverage(sets, test_targets)
    for c, name in enumerate(task.names):
        n = calibration.groups[c][0].n
        assert n == 800
        assert_covers(covered[test_targets == c], n, name)
    assert 1 <= sets.sum(1).mean() < 2  # informative: far fewer than the 3 classes


def test_regression_intervals_cover_new_records_of_a_trained_model():
    """A CNN trained on planted E-box counts (target 10 x count + 100, plus noise); its
    conformal intervals from 1,000 new records cover about 90% of another 1,000."""
    from dnanet.training.experiment import train_model

    def records(n: int, seed: int):
        rng = np.random.default_rng(seed)
        counts = rng.integers(0, 3, size=n)
        noise = rng.standard_t(3, size=n) * 3  # heavy tails: no Gaussian interval would do
        targets = (10.0 * counts + 100 + noise)[:, None].astype(np.float32)
        return sequence_set(planted_sequences([[EBOX] * c for c in counts], seed=seed), targets)

    task = Task("regression", ["signal"])
    result = train_model(small_cnn_config(), records(360, 2), task, [], CPU)
    trained_task = Task.from_dict(result.description["task"])
    assert result.calibration.kind == "regression" and result.calibration.n > 0

    def outputs(sequences):
        average = result.description["reverse_complement_average"]
        batches = code_batches(sequences, 256)
        return predict(result.model, batches, average, activate=trained_task.activate)

    calibration_set, test_set = records(1000, 11), records(1000, 12)
    calibration = fit_calibration(trained_task, outputs(calibration_set), calibration_set.targets)
    low, high = conformal_intervals(calibration, outputs(test_set), ALPHA)
    assert_covers(interval_coverage(low, high, test_set.targets)[:, 0], 1000, "signal")
    assert (high - low)[0, 0] < 30  # narrower than the 0..2 E-box range of 20 plus noise


def test_multilabel_sets_cover_each_label_and_status():
    """Two labels drawn from known probabilities; an overconfident model's per-label sets hold
    the true status (present or absent) for about 90% of the records of each status."""
    rng = np.random.default_rng(0)
    task = Task("multilabel", ["a", "b"])

    def records(n: int):
        truth = rng.beta(0.7, 0.7, size=(n, 2))
        targets = (rng.random((n, 2)) < truth).astype(np.float32)
        overconfident = torch.sigmoid(2.5 * torch.logit(torch.from_numpy(truth))).numpy()
        return overconfident, targets

    calibration = fit_calibration(task, *records(3000))
    assert 2.1 < calibration.temperature < 2.9 and calibration.ece_after < calibration.ece_before
    outputs, targets = records(3000)
    covered = set_coverage(conformal_sets(calibration, outputs, ALPHA), targets)
    for j, name in enumerate(task.names):
        for status, group in enumerate(calibration.groups[j]):
            rows = targets[:, j] == status
            assert_covers(covered[rows, j], group.n, f"{name} status {status}")
    report = coverage_report(task, calibration, outputs, targets, ALPHA)
    assert report["per_label"]["a"]["coverage"] == pytest.approx(covered[:, 0].mean(), abs=1e-6)
    columns = CalibratedColumns(task, calibration, ALPHA)
    assert columns.prediction_header() == ["predicted", "prob_a", "prob_b", "set_a", "set_b"]
    sure = columns.prediction_cells(np.array([0.9999, 0.0001], dtype=np.float32))
    assert sure[0] == "a" and sure[3:] == ["1", "0"]  # present for a, absent for b


def test_a_large_part_keeps_20000_scores_and_stays_conservative():
    """60,000 scores keep 20,000 order statistics; every threshold is at least the exact one
    and covers at most 1/20,000 more of the scores."""
    scores = np.random.default_rng(1).exponential(size=60_000)
    group = ScoreGroup.of(scores)
    ordered = np.sort(scores)
    assert group.n == 60_000 and len(group.scores) == MAX_SCORES
    for alpha in (0.01, 0.1, 0.37):
        exact = ordered[math.ceil(60_001 * (1 - alpha)) - 1]
        kept = group.threshold(alpha)
        assert kept >= exact * (1 - 1e-6)
        assert (ordered <= kept).mean() - (ordered <= exact).mean() <= 1 / MAX_SCORES + 1e-9


def test_too_few_records_for_alpha_put_every_class_in_the_set():
    """5 records of a class: alpha 0.1 needs ceil(6 x 0.9) = 6 > 5, so that class is in every
    set (its threshold is infinite) and the note names it."""
    task = Task("binary", ["bound", "background"])
    outputs = np.array([[0.9, 0.1]] * 5 + [[0.2, 0.8]] * 50)
    targets = np.array([0] * 5 + [1] * 50)
    calibration = fit_calibration(task, outputs, targets)
    sets = conformal_sets(calibration, np.array([[0.01, 0.99]]), ALPHA)
    assert sets[0, 0] and calibration.unbounded(ALPHA) == ["bound (5)"]
    assert not math.isinf(calibration.groups[0][0].threshold(0.3))  # ceil(6 x 0.7) = 5 <= 5


def test_calibration_json_round_trips_and_is_refused_for_another_run(tmp_path, posteriors):
    task, (probabilities, targets) = posteriors["task"], posteriors["calibration"]
    calibration = fit_calibration(task, sharpened(probabilities, 2.0), targets)
    write_calibration(tmp_path / CALIBRATION_FILE, calibration)
    read = read_calibration(tmp_path, task)
    assert isinstance(read, Calibration) and read.n == 2400
    np.testing.assert_allclose(read.thresholds(ALPHA), calibration.thresholds(ALPHA), rtol=1e-5)
    assert read.temperature == pytest.approx(calibration.temperature, rel=1e-5)
    other = Task("multiclass", ["none", "ctcf", "ebox"])
    with pytest.raises(DnanetError, match="fitted for a multiclass run with outputs none, ctcf"):
        read_calibration(tmp_path, other)
    data = json.loads((tmp_path / CALIBRATION_FILE).read_text())
    data["groups"]["ctcf"]["scores"] = data["groups"]["ctcf"]["scores"][::-1]  # not sorted
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(data))
    with pytest.raises(DnanetError, match="not a dnanet calibration"):
        read_calibration(tmp_path, task)
    with pytest.raises(DnanetError, match="no calibration.json .* dnanet calibrate"):
        read_calibration(tmp_path / "elsewhere", task)
