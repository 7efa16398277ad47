"""Task types: detection from labels, target encoding, outputs, and the CLI with label tables."""

import csv
import json

import numpy as np
import pytest
import torch

from dnanet.cli import app
from dnanet.data.tasks import Task, infer_task
from dnanet.errors import DnanetError
from dnanet.examples import example_path


def rows(*labels):
    return [tuple(label) if isinstance(label, tuple) else (label,) for label in labels]


def where(index: int) -> str:
    return f"labels.tsv line {index + 2}"


@pytest.mark.parametrize(
    "labels, columns, kind, names",
    [
        (rows("bound", "background", "bound"), ["class"], "binary", ["bound", "background"]),
        (rows("s70", "s24", "s32"), ["label"], "multiclass", ["s70", "s24", "s32"]),
        (rows("gata;ebox", "ebox", "ctcf"), ["label"], "multilabel", ["ctcf", "ebox", "gata"]),
        (rows(("1", "0"), ("0", "1")), ["gata", "ebox"], "multilabel", ["gata", "ebox"]),
        (rows("0.5", "1.25", "3"), ["expression"], "regression", ["expression"]),
        (rows("0", "1", "1"), ["label"], "binary", ["0", "1"]),
    ],
)
def test_task_is_inferred_from_labels(labels, columns, kind, names):
    task = infer_task(labels, columns)
    assert (task.kind, task.names) == (kind, names)


def test_whole_numbers_with_many_values_are_regression_and_explicit_kinds_are_checked():
    assert infer_task(rows(*map(str, range(30))), ["count"]).kind == "regression"
    assert infer_task(rows("1", "2", "3"), ["y"], "regression").kind == "regression"
    with pytest.raises(DnanetError, match="a binary task needs exactly 2 classes, found 3"):
        infer_task(rows("a", "b", "c"), ["label"], "binary")
    with pytest.raises(
        DnanetError, match="training needs at least two classes; all sequences are 'a'"
    ):
        infer_task(rows("a", "a"), ["label"])
    with pytest.raises(DnanetError, match="unknown task 'ranking'; valid tasks: auto, binary"):
        infer_task(rows("a", "b"), ["label"], "ranking")


def test_targets_are_encoded_per_kind_with_errors_naming_the_record():
    assert Task("binary", ["b", "a"]).encode(rows("a", "b"), where).tolist() == [1, 0]
    multilabel = Task("multilabel", ["ctcf", "ebox"]).encode(rows("ebox", "ctcf;ebox", ""), where)
    assert multilabel.tolist() == [[0, 1], [1, 1], [0, 0]]
    assert Task("regression", ["y"]).encode(rows("1.5", "-2"), where).tolist() == [[1.5], [-2.0]]
    with pytest.raises(
        DnanetError, match="labels.tsv line 3: regression label 'high' is not a finite number"
    ):
        Task("regression", ["y"]).encode(rows("1.5", "high"), where)
    with pytest.raises(
        DnanetError, match="labels.tsv line 2: label 'rest' is not one of ctcf, ebox"
    ):
        Task("multilabel", ["ctcf", "ebox"]).encode(rows("rest"), where)
    with pytest.raises(DnanetError, match="multilabel column 'ebox' must be 0 or 1, got 'yes'"):
        Task("multilabel", ["ctcf", "ebox"]).encode(rows(("1", "yes")), where)


def test_regression_outputs_are_in_the_data_units():
    task = Task("regression", ["y"]).with_statistics(np.array([[10.0], [20.0], [30.0]]))
    assert task.mean == [20.0]
    assert torch.allclose(
        task.activate(torch.tensor([[0.0], [1.0]])), torch.tensor([[20.0], [20 + task.std[0]]])
    )
    assert task.loss(torch.tensor([[0.0]]), torch.tensor([[20.0]])).item() == 0


def test_prediction_cells_per_kind():
    assert Task("multilabel", ["a", "b"]).prediction_cells(np.array([0.7, 0.2])) == [
        "a",
        "0.7",
        "0.2",
    ]
    confident = np.array([0.9999997, 1.2e-9], dtype=np.float32)  # 6 decimals read 1.000000
    cells = Task("multilabel", ["a", "b"]).prediction_cells(confident)[1:]
    assert cells == ["0.9999997", "1.2e-09"]
    assert np.array(cells, dtype=np.float32).tolist() == confident.tolist()
    assert Task("multiclass", ["a", "b", "c"]).prediction_cells(np.array([0.1, 0.2, 0.7]))[0] == "c"
    assert Task("regression", ["y", "z"]).prediction_header() == ["pred_y", "pred_z"]


def write_table(path, header, rows_):
    path.write_text("\n".join(["\t".join(header), *["\t".join(r) for r in rows_]]) + "\n")
    return path


def fasta_ids(path):
    return [line[1:].split()[0] for line in open(path) if line.startswith(">")]


def test_cli_trains_evaluates_and_predicts_a_regression_task(runner, tmp_path):
    """Target: GC content x 100 of each bundled CTCF sequence, from a label table."""
    fastas = [example_path("bound.fa"), example_path("background.fa")]
    sequences = {}
    for fasta in fastas:
        name = None
        for line in open(fasta):
            if line.startswith(">"):
                name = line[1:].split()[0]
                sequences[name] = ""
            else:
                sequences[name] += line.strip()
    gc = {
        name: 100 * sum(base in "GC" for base in seq) / len(seq) for name, seq in sequences.items()
    }
    table = write_table(tmp_path / "gc.tsv", ["id", "gc"], [(n, f"{v:.3f}") for n, v in gc.items()])
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            *map(str, fastas),
            "--labels",
            str(table),
            "--label-column",
            "gc",
            "--epochs",
            "8",
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"pearson", "spearman", "mse", "n", "per_target"} <= set(metrics) and metrics[
        "pearson"
    ] > 0.8, metrics
    assert json.loads((out / "model.json").read_text())["task"]["kind"] == "regression"
    predictions = tmp_path / "p.tsv"
    result = runner.invoke(app, ["predict", str(out), str(fastas[0]), "--out", str(predictions)])
    assert result.exit_code == 0, result.output
    with open(predictions) as handle:
        table_rows = list(csv.reader(handle, delimiter="\t"))
    assert table_rows[0] == ["id", "pred_gc"] and [r[0] for r in table_rows[1:]] == fasta_ids(
        fastas[0]
    )
    assert np.mean([abs(float(r[1]) - gc[r[0]]) for r in table_rows[1:]]) < 8
    result = runner.invoke(
        app, ["evaluate", str(out), str(fastas[1]), "--labels", str(table), "--label-column", "gc"]
    )
    assert result.exit_code == 0 and "pearson" in result.output, result.output
