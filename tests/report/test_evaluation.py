"""A run scored as a library call (`dnanet.report.evaluation.evaluate_run`): the metrics are
`dnanet evaluate`'s, the report folder is refused before any work when it exists, and the notes
say what the command prints."""

from __future__ import annotations

import json

import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.examples import example_path, heldout_inputs
from dnanet.progress import Reporter
from dnanet.report.evaluation import evaluate_run
from dnanet.runs.load import load_run
from tests.inference.test_predictions import unlearned_copy

INPUTS = [
    f"bound={example_path('heldout_bound.fa')}",
    f"background={example_path('heldout_background.fa')}",
]


def test_metrics_are_the_ones_dnanet_evaluate_writes(trained_run, runner, tmp_path):
    result = runner.invoke(
        app, ["evaluate", str(trained_run), *INPUTS, "--out", str(tmp_path / "cli.json")]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "lib.json"
    evaluated = evaluate_run(trained_run, INPUTS, out=out)
    written = json.loads((tmp_path / "cli.json").read_text())
    assert evaluated.metrics == written and json.loads(out.read_text()) == written
    assert (evaluated.count, evaluated.report, evaluated.notes) == (150, None, [])
    assert evaluate_run(load_run(trained_run), INPUTS).metrics == written  # a loaded run too


def test_the_default_inputs_and_a_report_folder(trained_run, tmp_path):
    reporter = Reporter()
    report = tmp_path / "eval"
    evaluated = evaluate_run(
        trained_run, [], default=heldout_inputs, report=report, reporter=reporter
    )
    assert evaluated.report == report / "report.html" and evaluated.report.exists()
    assert "Evaluated records (150)" in evaluated.report.read_text(encoding="utf-8")
    assert (
        evaluated.notes == reporter.texts("info") and "bundled CTCF example" in evaluated.notes[0]
    )
    with pytest.raises(DnanetError, match="eval: already exists; choose another --report"):
        evaluate_run(tmp_path / "no-such-run", INPUTS, report=report)  # before the run is read


def test_a_model_that_did_not_learn_is_a_warning_note_and_in_the_metrics(trained_run, tmp_path):
    reporter = Reporter()
    evaluated = evaluate_run(unlearned_copy(trained_run, tmp_path), INPUTS, reporter=reporter)
    assert evaluated.metrics["learned"] is False
    (warning,) = evaluated.notes
    assert reporter.notes == [("warning", warning)] and warning.endswith(
        "the model did not learn: validation loss 0.69 is chance"
    )
