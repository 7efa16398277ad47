"""`dnanet.tune.workflow`: a search run through the library (no command line) writes the files
`dnanet tune` writes, returns its best trial and says one line per trial; --jobs processes read
their data through the library alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dnanet.progress import Reporter
from dnanet.synthetic.planted import jaspar_pwm, planted_set
from dnanet.tune.workflow import SearchOutcome, run_search

BASE = "seed: 3\nmodel: {name: cnn, channels: 8, layers: 1, hidden: 8}\ntrain: {epochs: 2}\n"
SPACE = "model: cnn\nparameters:\n  train.lr: {low: 0.001, high: 0.02, log: true}\n"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """CTCF sites planted in 100 of 200 random 60-base sequences, a small base config and space."""
    folder = tmp_path_factory.mktemp("tune_workflow")
    _, pwm = jaspar_pwm("MA0139")
    paths = planted_set({"ctcf": pwm}, 100, length=60, seed=0).write_fasta(folder / "data")
    (folder / "base.yaml").write_text(BASE)
    (folder / "space.yaml").write_text(SPACE)
    (folder / "inputs.txt").write_text(
        "\n".join(f"{label}={path}" for label, path in paths.items())
    )
    return folder


def search(planted: Path, out: Path, **options) -> tuple[SearchOutcome, Reporter]:
    reporter = Reporter()
    outcome = run_search(
        (planted / "inputs.txt").read_text().split("\n"),
        out,
        config=planted / "base.yaml",
        space=planted / "space.yaml",
        threads=1,
        reporter=reporter,
        **options,
    )
    return outcome, reporter


def test_a_search_writes_the_study_files_and_returns_its_best_trial(planted):
    out = planted / "study"
    outcome, reporter = search(planted, out, trials=2)
    assert not outcome.interrupted and outcome.failure is None
    assert list(outcome.files) == [
        "trials.tsv",
        "history.png",
        "best_config.yaml",
        "importances.tsv",
        "importances.png",
    ]
    assert all((out / name).stat().st_size > 0 for name in (*outcome.files, "study.db"))
    table = pd.read_csv(out / "trials.tsv", sep="\t")
    assert list(table["state"]) == ["complete", "complete"]
    assert outcome.best.number == int(table.loc[table["val_loss"].idxmin(), "trial"])
    assert outcome.best_line.startswith(
        f"best trial #{outcome.best.number}: val loss {table['val_loss'].min():.4f} at epoch "
    )
    said = reporter.texts("info")
    assert said[0] == (
        "200 sequences read; tuning cnn over 1 parameters "
        f"({planted / 'space.yaml'}); 2 trials, 1 at a time"
    )
    assert said[1].startswith("trial 1/2 (#0) (the base config) lr=") and "complete" in said[1]
    assert said[2].startswith("trial 2/2 (#1) lr=")
    assert outcome.summary == (("info", f"written to {out}: {', '.join(outcome.files)}"),)
    assert outcome.notes == (*said, outcome.summary[0][1])

    again, reporter = search(planted, out, trials=2)  # the study is full: no new trial
    assert (
        reporter.texts()[-1] == "the study already has 2 finished trials (--trials 2): no new trial"
    )
    assert again.best.number == outcome.best.number


def test_jobs_processes_load_the_data_through_the_library_and_their_lines_come_back(planted):
    outcome, reporter = search(planted, planted / "jobs", trials=2, jobs=2, epochs=1)
    trial_lines = [text for text in reporter.texts("info") if text.startswith("trial ")]
    assert sorted(line.split(" (#")[0] for line in trial_lines) == ["trial 1/2", "trial 2/2"]
    assert outcome.best is not None and len(outcome.study.trials) == 2


def test_what_a_jobs_process_runs_imports_no_command_line(planted):
    """A --jobs process unpickles `load_tune_data` and the trial function: neither may pull in
    the Typer app (dnanet.cli)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dnanet.inputs.sources import GenomeSettings\n"
        "from dnanet.tune import study\n"
        "from dnanet.data.labelled import TrainingInputs\n"
        "from dnanet.tune.workflow import load_tune_data\n"
        f"inputs = {(planted / 'inputs.txt').read_text().split(chr(10))!r}\n"
        f"reading = TrainingInputs(inputs, [], [], None, 'id', ['label'], 'auto', "
        f"Path({str(planted / 'cache')!r}), GenomeSettings())\n"
        "data = load_tune_data(reading)\n"
        "print(len(data.sequences), data.task.kind, list(data.task.names))\n"
        "print(sorted(name for name in sys.modules if name.startswith('dnanet.cli')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["200 binary ['none', 'ctcf']", "[]"]
