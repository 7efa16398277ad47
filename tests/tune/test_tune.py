"""`dnanet tune`: a tiny Optuna study on a planted-motif set completes, resumes, never scores the
test split, and its best config retrains to the best trial's validation loss."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

from dnanet.cli import app
from dnanet.config.run_config import load_config
from dnanet.synthetic.planted import jaspar_pwm, planted_set

BASE = """seed: 3
model: {name: cnn, channels: 16, layers: 1, hidden: 16, position_bins: 0}
train: {epochs: 2, batch_size: 16}
"""
SPACE = """model: cnn
parameters:
  train.lr: {low: 0.001, high: 0.02, log: true}
  model.channels: [8, 16]
  model.dropout: {low: 0.0, high: 0.3}
  model.position_bins: [0, 2]
"""


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """CTCF sites planted in 150 of 300 random 60-base sequences, a small base config and space."""
    folder = tmp_path_factory.mktemp("tune")
    _, pwm = jaspar_pwm("MA0139")
    paths = planted_set({"ctcf": pwm}, 150, length=60, seed=0).write_fasta(folder / "data")
    (folder / "base.yaml").write_text(BASE)
    (folder / "space.yaml").write_text(SPACE)
    inputs = [f"{label}={path}" for label, path in paths.items()]
    return {
        "folder": folder,
        "inputs": inputs,
        "options": [
            "-c",
            str(folder / "base.yaml"),
            "--space",
            str(folder / "space.yaml"),
            "--threads",
            "1",
        ],
    }


def tune(runner, planted, out: Path, trials: int, *extra: str):
    return runner.invoke(
        app,
        [
            "tune",
            *planted["inputs"],
            *planted["options"],
            "--trials",
            str(trials),
            "--out",
            str(out),
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def study(runner, planted) -> Path:
    out = planted["folder"] / "study"
    result = tune(runner, planted, out, 2)
    assert result.exit_code == 0, result.output
    return out


def trials_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "trials.tsv", sep="\t")


def test_a_tiny_study_writes_its_files_and_one_line_per_trial(runner, planted, study):
    for name in (
        "study.db",
        "best_config.yaml",
        "trials.tsv",
        "history.png",
        "importances.png",
        "importances.tsv",
    ):
        assert (study / name).stat().st_size > 0, name
    table = trials_of(study)
    assert list(table["state"]) == ["complete", "complete"]
    assert set(table["model.channels"]) <= {8, 16} and table["train.lr"].between(0.001, 0.02).all()
    assert table["val_auroc"].notna().all()
    importances = pd.read_csv(study / "importances.tsv", sep="\t")
    assert set(importances["parameter"]) == {
        "train.lr",
        "model.channels",
        "model.dropout",
        "model.position_bins",
    }


def test_the_first_trial_is_the_base_config_so_tuning_never_loses_to_it(runner, planted, study):
    """Trial 0 runs the base config as it is (each searched key at its base value), so the best
    trial's validation loss is at most the base config's: a search cannot end worse than no
    search."""
    table = trials_of(study)
    first = table.iloc[0]
    assert bool(first["base_config"]) and not table["base_config"].iloc[1:].any()
    base = load_config(planted["folder"] / "base.yaml")
    assert first["train.lr"] == pytest.approx(base.train.lr)
    assert first["model.channels"] == base.model["channels"] == 16
    assert first["model.dropout"] == pytest.approx(base.model["dropout"])
    assert first["model.position_bins"] == 0
    assert table["val_loss"].min() <= first["val_loss"]


def test_a_base_value_outside_the_space_is_left_to_the_sampler():
    from dnanet.tune.search_space import Parameter

    assert Parameter("model.dropout", low=0.0, high=0.5, step=0.05).contains(0.2)
    assert not Parameter("model.dropout", low=0.0, high=0.5, step=0.05).contains(0.22)
    assert not Parameter("model.layers", low=1, high=4).contains(5)
    assert not Parameter("model.layers", low=1, high=4).contains(2.5)
    assert Parameter("train.batch_size", choices=(16, 32)).contains(32)
    assert not Parameter("train.batch_size", choices=(16, 64)).contains(32)
    assert not Parameter("model.hidden", low=8, high=64).contains(True)


def test_the_best_config_retrains_to_the_best_trials_validation_loss(runner, planted, study):
    table = trials_of(study)
    best = table.loc[table["val_loss"].idxmin()]
    config = load_config(study / "best_config.yaml")
    assert config.seed == 3 and config.train.epochs == 2  # the base config's keys are kept
    assert config.train.lr == pytest.approx(best["train.lr"], rel=1e-12)
    assert config.model["channels"] == best["model.channels"]
    run = planted["folder"] / "retrained"
    result = runner.invoke(
        app,
        [
            "train",
            *planted["inputs"],
            "-c",
            str(study / "best_config.yaml"),
            "--out",
            str(run),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    history = pd.read_csv(run / "history.csv")
    assert history["val_loss"].min() == pytest.approx(best["val_loss"], rel=1e-6)
    assert int(history["val_loss"].idxmin()) + 1 == best["best_epoch"]


def test_a_killed_study_resumes_keeping_its_finished_trials(runner, planted, study, tmp_path):
    out = tmp_path / "study"
    shutil.copytree(study, out)
    before = trials_of(out)
    storage = f"sqlite:///{out / 'study.db'}"
    optuna.load_study(
        study_name="study", storage=storage
    ).ask()  # what a killed process leaves: a running trial
    result = tune(runner, planted, out, 3)
    assert result.exit_code == 0, result.output
    assert "trial 3/3 (#3)" in result.output
    after = trials_of(out)
    assert list(after["state"]) == ["complete", "complete", "fail", "complete"]
    columns = ["val_loss", "train.lr", "model.channels", "model.dropout", "model.position_bins"]
    pd.testing.assert_frame_equal(after.loc[:1, columns], before[columns], check_dtype=False)
    again = tune(runner, planted, out, 3)  # the study is full: nothing more to do
    assert again.exit_code == 0 and "no new trial" in again.output
    assert len(trials_of(out)) == 4


def test_an_interrupted_search_writes_what_it_has_and_the_same_command_continues(
    runner, planted, tmp_path, monkeypatch
):
    import dnanet.training.experiment

    train_model, calls = dnanet.training.experiment.train_model, []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train_model(*args, **kwargs)

    monkeypatch.setattr(dnanet.training.experiment, "train_model", interrupted_second_time)
    out = tmp_path / "study"
    result = tune(runner, planted, out, 3)
    assert result.exit_code == 130
    assert list(trials_of(out)["state"]) == ["complete", "fail"]
    assert (out / "best_config.yaml").exists()
    monkeypatch.setattr(dnanet.training.experiment, "train_model", train_model)
    result = tune(runner, planted, out, 3)
    assert result.exit_code == 0, result.output
    assert list(trials_of(out)["state"]) == ["complete", "fail", "complete", "complete"]


def test_a_search_cut_off_in_its_base_trial_runs_the_base_config_when_continued(
    runner, planted, tmp_path, monkeypatch
):
    import dnanet.training.experiment

    train_model = dnanet.training.experiment.train_model

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dnanet.training.experiment, "train_model", interrupted)
    out = tmp_path / "study"
    assert tune(runner, planted, out, 2).exit_code == 130
    monkeypatch.setattr(dnanet.training.experiment, "train_model", train_model)
    result = tune(runner, planted, out, 2)
    assert result.exit_code == 0, result.output
    table = trials_of(out)
    assert list(table["state"]) == ["fail", "complete", "complete"]
    assert list(table["base_config"]) == [True, True, False]  # queued again, run first
    assert "(the base config)" in result.output


def test_trials_never_score_the_test_split(runner, planted, tmp_path, monkeypatch):
    import dnanet.training.experiment

    def no_test_scoring(*args, **kwargs):
        raise AssertionError("the test split was scored")

    monkeypatch.setattr(
        dnanet.training.experiment, "task_metrics", no_test_scoring
    )  # train_model's test scoring only
    result = tune(runner, planted, tmp_path / "study", 1)
    assert result.exit_code == 0, result.output
    assert list(trials_of(tmp_path / "study")["state"]) == ["complete"]
    assert "need at least 2 complete trials" in result.output  # one trial: no importances, said so


def test_resuming_with_another_space_is_refused(runner, planted, study, tmp_path):
    out = tmp_path / "study"
    shutil.copytree(study, out)
    other = tmp_path / "other.yaml"
    other.write_text(SPACE.replace("[8, 16]", "[8, 32]"))
    result = runner.invoke(
        app,
        [
            "tune",
            *planted["inputs"],
            "-c",
            str(planted["folder"] / "base.yaml"),
            "--space",
            str(other),
            "--trials",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "was started with other settings (different space)" in result.output


@pytest.mark.parametrize(
    "parameters, message",
    [
        ("  model.chanels: [8, 16]", "parameters.model.chanels: unknown key 'chanels' in model"),
        ("  data.val_fraction: {low: 0.1, high: 0.2}", "parameters.data.val_fraction: the split"),
        (
            "  train.lr: {low: 0.01, high: 0.001}",
            "parameters.train.lr: low (0.01) must be below high",
        ),
        (
            "  train.lr: {low: 0, high: 0.1, log: true}",
            "parameters.train.lr: a log range needs low > 0",
        ),
        (
            "  model.channels: [8, sixteen]",
            "parameters.model.channels: 'sixteen' is not a valid value",
        ),
        ("  model.layers: {low: 1, hihg: 3}", "parameters.model.layers: unknown field 'hihg'"),
        ("  lr: [0.1]", "parameters.lr: not a config key path"),
    ],
)
def test_a_bad_space_file_is_a_one_line_error_naming_the_key(
    runner, planted, tmp_path, parameters, message
):
    space = tmp_path / "bad.yaml"
    space.write_text(f"model: cnn\nparameters:\n{parameters}\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["tune", *planted["inputs"], "--model", "cnn", "--space", str(space), "--out", str(out)],
    )
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert str(space) in result.output and message in result.output
    assert not out.exists()


def test_a_space_for_another_family_is_refused(runner, planted, tmp_path):
    result = runner.invoke(
        app,
        [
            "tune",
            *planted["inputs"],
            "--model",
            "lstm",
            "--space",
            str(planted["folder"] / "space.yaml"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert (
        result.exit_code == 1 and "'model' is 'cnn', but the search is for 'lstm'" in result.output
    )


@pytest.mark.parametrize("family", ["cnn", "lstm", "transformer", "ternary_mlp"])
def test_every_family_has_a_shipped_space_that_fits_its_config(family):
    from dnanet.tune.search_space import load_space

    space = load_space(None, load_config(None, family))
    paths = {parameter.path for parameter in space.parameters}
    assert "train.lr" in paths and "train.batch_size" in paths and len(paths) >= 5


def test_a_trial_worse_than_the_median_is_pruned_but_never_after_its_last_epoch():
    from dnanet.tune.study import PruningMonitor

    study = optuna.create_study(
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )

    def trial_reporting(losses: list[float], epochs: int):
        trial = study.ask()
        monitor = PruningMonitor(trial)
        for epoch, loss in enumerate(losses, 1):
            monitor.epoch_started(epoch, epochs, 10)
            monitor.epoch_done({"epoch": epoch, "val_loss": loss}, 1)
        study.tell(trial, min(losses))

    trial_reporting([0.5, 0.4, 0.3], 3)
    with pytest.raises(optuna.TrialPruned):
        trial_reporting([0.9, 0.8, 0.7], 3)
    trial_reporting([0.45, 0.9], 2)  # worse than the median only after its last epoch: complete
    assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE


def test_trials_the_model_refuses_fail_with_their_reason_and_no_best_config(
    runner, planted, tmp_path
):
    space = tmp_path / "heads.yaml"
    space.write_text("model: transformer\nparameters:\n  model.d_model: [30]\n  model.heads: [4]\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "tune",
            *planted["inputs"],
            "--model",
            "transformer",
            "--space",
            str(space),
            "--epochs",
            "1",
            "--trials",
            "2",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "d_model (30) must be a multiple of heads (4)" in result.output
    table = trials_of(out)
    assert (
        list(table["state"]) == ["fail", "fail"]
        and table["error"].str.contains("multiple of heads").all()
    )
    assert not (out / "best_config.yaml").exists()


def test_a_search_cut_short_by_epochs_writes_the_config_to_train_with(runner, planted, tmp_path):
    """Trials of at most 1 epoch (--epochs 1) search quickly, but training from the best config
    as written must not stop at 1: it gets the base config's train.epochs back, and says so."""
    out = tmp_path / "short"
    result = tune(runner, planted, out, 1, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert trials_of(out)["epochs"].tolist() == [1]
    config = load_config(out / "best_config.yaml")
    base = load_config(planted["folder"] / "base.yaml")
    assert config.train.epochs == base.train.epochs == 2
    header = (out / "best_config.yaml").read_text()
    assert "# train.epochs is 2, the base config's: trials ran at most 1 epoch (--epochs)" in header
