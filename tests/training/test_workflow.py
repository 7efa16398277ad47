"""`dnanet.training.workflow`: a run trained through the library (no command line) is the run
`dnanet train` writes, says what the command prints, and an interrupted one resumes to the weights
of one never stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dnanet.errors import DnanetError
from dnanet.examples import training_inputs
from dnanet.inputs.sources import LabelledInput
from dnanet.progress import Reporter
from dnanet.report.page import write_run_report
from dnanet.runs.load import load_run
from dnanet.training.checkpoint import checkpoint_folder
from dnanet.training.loop import TrainingMonitor
from dnanet.training.workflow import TrainingStopped, resume_run, train_run

TINY = "seed: 2\nmodel: {name: cnn, channels: 8, hidden: 8}\ntrain: {epochs: 2, batch_size: 32}\n"


class StopAfter(TrainingMonitor):
    """Interrupts training (like Ctrl-C) once `epoch` has been checkpointed."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def epoch_done(self, record: dict, best_epoch: int) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("workflow")
    (folder / "tiny.yaml").write_text(TINY)
    return folder


@pytest.fixture(scope="module")
def straight(folder):
    """A run of the bundled example (given as `LabelledInput`s) with its report page."""
    reporter = Reporter()
    outcome = train_run(
        [LabelledInput(label, path) for label, path in training_inputs()],
        folder / "straight",
        config=folder / "tiny.yaml",
        threads=1,
        reporter=reporter,
        write_report=write_run_report,
    )
    return outcome, reporter


def test_a_run_trained_by_the_library_loads_with_the_metrics_it_returns(straight):
    outcome, _ = straight
    run = load_run(outcome.out)
    assert run.task.names == ["bound", "background"]
    assert run.record["config"]["train"]["epochs"] == 2 and run.record["config"]["seed"] == 2
    assert [entry["records"] for entry in run.record["inputs"]] == [425, 425]
    written = json.loads((outcome.out / "metrics.json").read_text())
    assert written == json.loads(json.dumps(outcome.metrics)) and written["n"] == 128
    assert outcome.metrics is outcome.result.test_metrics
    history = (outcome.out / "history.csv").read_text().splitlines()
    assert len(history) == 1 + len(outcome.result.history) == 3
    assert outcome.report == outcome.out / "report.html" and outcome.report.exists()
    assert outcome.written and outcome.report_warning is None
    assert not checkpoint_folder(outcome.out).exists()


def test_its_notes_and_closing_lines_are_what_dnanet_train_prints(straight):
    outcome, reporter = straight
    assert reporter.texts("info") == ["850 sequences read"]
    learned = outcome.result.description["learned"]
    closing = [
        *([] if learned else [("warning", f"{outcome.out}: the model did not learn")]),
        ("info", f"run written to {outcome.out}" + ("" if learned else " (learned: false)")),
        ("info", f"report: {outcome.report} (figures in {outcome.out / 'report'})"),
    ]
    assert [kind for kind, _ in outcome.summary] == [kind for kind, _ in closing]
    for (_, text), (_, start) in zip(outcome.summary, closing):
        assert text.startswith(start)
    assert outcome.notes == ("850 sequences read", *(text for _, text in outcome.summary))


def test_an_interrupted_run_keeps_its_epochs_and_resumes_to_the_uninterrupted_weights(
    folder, straight
):
    out = folder / "stopped"
    inputs = [f"{label}={path}" for label, path in training_inputs()]
    with pytest.raises(TrainingStopped) as stopped:
        train_run(inputs, out, config=folder / "tiny.yaml", threads=1, monitor=StopAfter(1))
    assert str(stopped.value) == (
        f"the finished epochs are kept: continue with dnanet train --resume {out}"
    )
    assert type(stopped.value.__cause__) is KeyboardInterrupt
    assert not out.exists() and checkpoint_folder(out).exists()
    with pytest.raises(DnanetError, match="has a checkpoint; continue it with --resume"):
        train_run(inputs, out, config=folder / "tiny.yaml")

    def no_fonts(*args):
        raise RuntimeError("no fonts")

    reporter = Reporter()
    outcome = resume_run(out, threads=1, reporter=reporter, write_report=no_fonts)
    assert reporter.texts("info") == [f"850 sequences read; resuming from {checkpoint_folder(out)}"]
    resumed, uninterrupted = (
        load_file(out / "model.safetensors"),
        load_file(straight[0].out / "model.safetensors"),
    )
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in uninterrupted)
    assert outcome.metrics == straight[0].metrics
    assert outcome.report is None and not (out / "report.html").exists()
    assert outcome.report_warning == f"{out}: report not written (RuntimeError: no fonts)"
    assert outcome.summary[-1] == ("warning", outcome.report_warning)
    assert not checkpoint_folder(out).exists()


def test_resume_refuses_new_run_options_and_a_run_without_checkpoint(tmp_path):
    given = {"inputs": ["a.fa"], "out": None, "epochs": 3, "background_ratio": 1, "val": []}
    with pytest.raises(DnanetError, match=r"checkpoint; drop FASTA inputs, --epochs$"):
        resume_run(tmp_path / "run", given=given)
    with pytest.raises(DnanetError, match="no unfinished run to resume"):
        resume_run(tmp_path / "run", given={"background_ratio": 1})
    with pytest.raises(DnanetError, match="--out is required"):
        train_run(None, None)
