"""The CLI end to end through Typer's CliRunner: train -> run folder -> evaluate -> predict."""

import csv
import gzip
import json

import numpy as np
import pytest
from safetensors.torch import load_file

from dnanet.cli import app
from dnanet.examples import example_path
from dnanet.runs.load import load_run

METRIC_KEYS = {"accuracy", "auroc", "auprc", "mcc", "f1", "n", "per_class"}


def test_run_folder_holds_weights_description_metrics_and_history(trained_run):
    assert sorted(p.name for p in trained_run.iterdir()) == [
        "calibration.json",
        "check.safetensors",
        "held_out_outputs.safetensors",
        "history.csv",
        "metrics.json",
        "model.json",
        "model.safetensors",
        "report",
        "report.html",
    ]
    description = json.loads((trained_run / "model.json").read_text())
    assert description["classes"] == ["bound", "background"]
    assert (
        description["model"]["name"] == "cnn"
        and description["model"]["arguments"]["encoder"] == "onehot"
    )
    assert {"dnanet", "torch"} <= set(description["versions"])
    assert [i["records"] for i in description["inputs"]] == [425, 425]
    assert all(len(i["sha256"]) == 64 for i in description["inputs"])
    assert description["config"]["train"]["epochs"] == 60
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and set(metrics["per_class"]) == {"bound", "background"}
    history = list(csv.DictReader(open(trained_run / "history.csv")))
    assert history[0]["epoch"] == "1" and "val_loss" in history[0]
    assert not list(trained_run.parent.glob(".*partial"))
    assert set(load_file(str(trained_run / "model.safetensors"))) == set(
        load_run(trained_run).model.state_dict()
    )


def test_evaluate_prints_and_writes_the_metric_keys(trained_run, runner, tmp_path):
    out = tmp_path / "heldout.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(trained_run),
            f"bound={example_path('heldout_bound.fa')}",
            f"background={example_path('heldout_background.fa')}",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert METRIC_KEYS <= set(metrics) and metrics["n"] == 150
    assert metrics["auroc"] >= 0.9
    assert "auroc" in result.output and f"{metrics['auroc']:.4f}" in result.output


def read_tsv(path):
    with open(path) as handle:
        return list(csv.reader(handle, delimiter="\t"))


def test_predict_writes_one_row_per_record_in_input_order(trained_run, runner, tmp_path):
    fasta = example_path("heldout_bound.fa")
    compressed = tmp_path / "unknown.fa.gz"
    compressed.write_bytes(gzip.compress(example_path("heldout_background.fa").read_bytes()))
    out = tmp_path / "predictions.tsv"
    result = runner.invoke(
        app, ["predict", str(trained_run), str(fasta), str(compressed), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = read_tsv(out)
    assert rows[0] == ["id", "predicted", "prob_bound", "prob_background"]
    expected_ids = [
        line[1:].split()[0]
        for f in (fasta, example_path("heldout_background.fa"))
        for line in open(f)
        if line.startswith(">")
    ]
    assert [r[0] for r in rows[1:]] == expected_ids
    probs = np.array([[float(x) for x in r[2:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(1), 1, atol=2e-6)
    assert all(r[1] == ("bound" if float(r[2]) > float(r[3]) else "background") for r in rows[1:])
    assert np.mean([r[1] == "bound" for r in rows[1:76]]) > 0.8


def test_predictions_do_not_depend_on_batch_size(trained_run, runner, tmp_path):
    """Same ids, classes and probabilities (to float32 rounding: batched kernels sum in other
    orders)."""
    outputs = []
    for batch_size in ("1", "7", "256"):
        out = tmp_path / f"p{batch_size}.tsv"
        result = runner.invoke(
            app, ["predict", str(trained_run), "--batch-size", batch_size, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        outputs.append(read_tsv(out))
    for other in outputs[1:]:
        assert [r[:2] for r in other] == [r[:2] for r in outputs[0]]
        np.testing.assert_allclose(
            np.array([r[2:] for r in other[1:]], dtype=float),
            np.array([r[2:] for r in outputs[0][1:]], dtype=float),
            atol=2e-6,
        )


def test_train_with_flags_and_label_table(runner, tmp_path):
    table = tmp_path / "labels.csv"
    rows = ["id,label"]
    fastas = []
    for name in ("bound", "background"):
        fastas.append(str(example_path(f"{name}.fa")))
        rows += [
            f"{line[1:].split()[0]},{name}" for line in open(fastas[-1]) if line.startswith(">")
        ]
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            *fastas,
            "--labels",
            str(table),
            "--epochs",
            "1",
            "--seed",
            "3",
            "--batch-size",
            "128",
            "--lr",
            "0.002",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "model.json").read_text())["config"]
    assert (
        config["seed"],
        config["train"]["epochs"],
        config["train"]["batch_size"],
        config["train"]["lr"],
    ) == (3, 1, 128, 0.002)


@pytest.mark.parametrize(
    "command", [["--help"], ["train", "--help"], ["evaluate", "--help"], ["predict", "--help"]]
)
def test_help_explains_each_command(runner, command):
    result = runner.invoke(app, command)
    assert result.exit_code == 0 and "Usage" in result.output


def test_train_log_has_settings_a_line_per_epoch_and_the_early_stop(runner, tmp_path):
    """Not a terminal (a batch job's log): plain lines, no progress bar."""
    from dnanet.synthetic.planted import planted_set

    noise = planted_set({}, n_per_class=200, length=60, seed=2)
    for name, part in (("a", slice(0, 100)), ("b", slice(100, 200))):
        (tmp_path / f"{name}.fa").write_bytes(
            b"".join(
                b">" + i.encode() + b"\n" + s + b"\n"
                for i, s in zip(noise.ids[part], noise.sequences[part])
            )
        )
    config = tmp_path / "cnn.yaml"
    config.write_text(
        "model:\n  name: cnn\n  channels: 8\n  hidden: 8\ntrain:\n  epochs: 30\n  patience: 2\n"
    )
    result = runner.invoke(
        app,
        [
            "train",
            f"a={tmp_path / 'a.fa'}",
            f"b={tmp_path / 'b.fa'}",
            "-c",
            str(config),
            "--out",
            str(tmp_path / "run"),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    settings = next(line for line in lines if line.startswith("training: "))
    for part in (
        "model cnn",
        "encoder onehot",
        "task binary (a, b)",
        "epochs 30",
        "batch size 32",
        "lr 0.002",
        "device cpu",
        "threads 1",
        "split 149 train / 21 validation / 30 test",
        "reverse complement",
    ):
        assert part in settings
    epochs = [line for line in lines if line.startswith("epoch ")]
    history = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert len(epochs) == len(history) < 30 and epochs[0].startswith("epoch 1/30  train loss ")
    assert (
        f"val loss {float(history[-1]['val_loss']):.4f}" in epochs[-1]
        and "best epoch" in epochs[-1]
    )
    kept = json.loads((tmp_path / "run" / "model.json").read_text())["best_epoch"]
    assert (
        f"stopped early after epoch {len(history)}: no lower validation loss for 2 epochs; "
        f"kept epoch {kept}" in result.output
    )
    assert not any(
        "━" in line for line in lines if line.startswith(("training", "epoch"))
    )  # no progress bar
