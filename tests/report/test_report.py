"""Reports: every figure for every task kind, a page that links each of them, and the CLI's
train and evaluate --report writing them (a failed report does not cost the finished run)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dnanet.cli import app
from dnanet.data.tasks import Task
from dnanet.report.figures import one_vs_rest
from dnanet.report.page import write_evaluation_report, write_run_report
from dnanet.training.metrics import task_metrics

NAMES = {
    "binary": ["bound", "background"],
    "multiclass": ["none", "gata", "ebox"],
    "multilabel": ["ctcf", "gata", "ebox"],
    "regression": ["expression", "gc"],
}
PREDICTION_FIGURES = {
    "binary": {"roc.png", "precision_recall.png", "confusion.png", "calibration.png"},
    "regression": {"predicted_vs_true.png"},
}
PREDICTION_FIGURES["multiclass"] = PREDICTION_FIGURES["multilabel"] = PREDICTION_FIGURES["binary"]


class Links(HTMLParser):
    """Every img src and a href of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.anchors = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.anchors.append(attrs["href"])


def linked_pngs(page: Path) -> set[Path]:
    """The PNGs a page shows, each checked: linked as image and as link, present, a PNG that
    opens."""
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    assert links.images and sorted(links.images) == sorted(links.anchors)
    files = set()
    for src in links.images:
        assert not src.startswith(("/", "http")), src  # relative, so the folder can move
        path = page.parent / src
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 300, (src, image.size)
            image.verify()
        files.add(path)
    return files


def predictions(kind: str, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets and informative (noisy) outputs ``(n, C)`` as `dnanet.inference.predict.predict`
    returns them."""
    rng = np.random.default_rng(seed)
    names = NAMES[kind]
    if kind == "regression":
        targets = rng.normal(0, 1, (n, len(names))).astype(np.float32)
        return targets, targets + rng.normal(0, 0.5, targets.shape).astype(np.float32)
    if kind == "multilabel":
        targets = (rng.random((n, len(names))) < 0.3).astype(np.float32)
        return targets, 1 / (1 + np.exp(-(3 * (targets - 0.5) + rng.normal(0, 1, targets.shape))))
    targets = rng.integers(0, len(names), n)
    logits = rng.normal(0, 1, (n, len(names)))
    logits[np.arange(n), targets] += 2
    return targets, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def description(kind: str) -> dict:
    """What model.json says about a run (the keys the page reads)."""
    return {
        "model": {"name": "cnn", "arguments": {"channels": 8}},
        "task": Task(kind, NAMES[kind]).to_dict(),
        "reverse_complement_average": False,
        "strand": {
            "reverse_complement": False,
            "setting": "auto",
            "excess_skew": 0.31,
            "verdict": "strand-specific (k-mer strand skew 0.310 above sampling noise)",
        },
        "config": {"seed": 0, "train": {"epochs": 3, "lr": 0.002}},
        "inputs": [
            {"path": "/data/pum2_clip.fa", "class": None, "records": 1200, "sha256": "ab" * 32}
        ],
        "split": {
            "kind": "chromosome",
            "train": 900,
            "validation": 100,
            "test": 300,
            "fixed": [],
            "chromosomes": {"validation": ["chr10"], "test": ["chr8", "chr9"]},
        },
        "duplicates": {"removed": {"validation": 0, "test": 2}},
        "best_epoch": 2,
        "learned": True,
        "versions": {"dnanet": "0.1.0", "torch": "2.13.0", "python": "3.11.7"},
        "created": "2026-11-26T07:00:00+00:00",
    }


HISTORY = [
    {
        "epoch": 1,
        "train_loss": 0.9,
        "val_loss": 0.8,
        "val_accuracy": 0.6,
        "val_auroc": None,
        "lr": 1e-3,
        "seconds": 1.0,
    },
    {
        "epoch": 2,
        "train_loss": 0.6,
        "val_loss": 0.5,
        "val_accuracy": 0.8,
        "val_auroc": 0.85,
        "lr": 1e-3,
        "seconds": 1.0,
    },
    {
        "epoch": 3,
        "train_loss": 0.4,
        "val_loss": 0.55,
        "val_accuracy": 0.79,
        "val_auroc": 0.84,
        "lr": 1e-4,
        "seconds": 1.0,
    },
]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression"])
def test_run_report_has_every_figure_of_its_kind_linked_and_the_run_described(tmp_path, kind):
    targets, outputs = predictions(kind)
    metrics = task_metrics(Task(kind, NAMES[kind]), targets, outputs)
    run = tmp_path / "run"
    run.mkdir()
    page = write_run_report(run, description(kind), metrics, HISTORY, targets, outputs)
    assert page == run / "report.html"
    shown = linked_pngs(page)
    assert {path.name for path in shown} == PREDICTION_FIGURES[kind] | {"history.png"}
    assert shown == set((run / "report").iterdir())  # nothing drawn that the page leaves out
    text = page.read_text(encoding="utf-8")
    for expected in (
        "/data/pum2_clip.fa",
        "strand-specific (k-mer strand skew 0.310",
        "the forward strand only",
        "chr8, chr9",
        "2.13.0",
        "3.11.7",
        f"{metrics['n']:,}",
        *NAMES[kind],
    ):
        assert expected in text, expected
    headline = metrics["pearson"] if kind == "regression" else metrics["auroc"]
    assert f"{headline:.4g}" in text
    assert "did not learn" not in text


def test_curves_are_for_the_positive_class_of_a_binary_task_and_every_class_otherwise():
    targets, outputs = predictions("binary")
    truth, scores, names = one_vs_rest(Task("binary", NAMES["binary"]), targets, outputs)
    assert names == ["bound"] and truth[:, 0].tolist() == (targets == 0).tolist()
    assert np.array_equal(scores[:, 0], outputs[:, 0])
    targets, outputs = predictions("multiclass")
    truth, scores, names = one_vs_rest(Task("multiclass", NAMES["multiclass"]), targets, outputs)
    assert names == NAMES["multiclass"] and truth.sum(1).tolist() == [1] * len(targets)


def test_a_class_absent_from_the_evaluated_set_still_gets_every_figure(tmp_path):
    """A held-out set without one class (e.g. evaluating on bound records only) is reported, not
    refused."""
    targets, outputs = predictions("multiclass")
    keep = targets != 2
    targets, outputs = targets[keep], outputs[keep]
    task = Task("multiclass", NAMES["multiclass"])
    inputs = [{"path": "more_none.fa", "class": "none", "records": int((targets == 0).sum())}]
    page = write_evaluation_report(
        tmp_path / "eval",
        Path("runs/motifs"),
        description("multiclass"),
        task_metrics(task, targets, outputs),
        inputs,
        targets,
        outputs,
    )
    assert {path.name for path in linked_pngs(page)} == PREDICTION_FIGURES["multiclass"]
    assert "more_none.fa" in page.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory, runner) -> Path:
    """`dnanet train` for 2 epochs on three planted classes (a GATA site, an E-box, neither)."""
    from dnanet.synthetic.planted import planted_set

    folder = tmp_path_factory.mktemp("report_run")
    consensus = {"gata": "AGATAAGG", "ebox": "CCACGTGG"}
    pwms = {
        name: np.array([[float(base == b) for base in site] for b in "ACGT"])
        for name, site in consensus.items()
    }
    planted = planted_set(pwms, n_per_class=80, length=60, seed=1)
    arguments = []
    for name in ("none", *consensus):
        path = folder / f"{name}.fa"
        records = zip(planted.ids, planted.sequences, planted.labels)
        path.write_bytes(
            b"".join(
                b">" + i.encode() + b"\n" + s + b"\n" for i, s, label in records if label == name
            )
        )
        arguments.append(f"{name}={path}")
    config = folder / "tiny.yaml"
    config.write_text("model:\n  name: cnn\n  channels: 8\n  hidden: 8\ntrain:\n  epochs: 2\n")
    out = folder / "run"
    result = runner.invoke(
        app,
        ["train", *arguments, "-c", str(config), "--out", str(out), "--quiet", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.output
    return out


def test_train_writes_the_report_beside_the_run(planted_run):
    shown = linked_pngs(planted_run / "report.html")
    assert {path.name for path in shown} == PREDICTION_FIGURES["multiclass"] | {"history.png"}
    assert all(path.parent == planted_run / "report" for path in shown)
    text = (planted_run / "report.html").read_text(encoding="utf-8")
    described = json.loads((planted_run / "model.json").read_text())
    metrics = json.loads((planted_run / "metrics.json").read_text())
    for expected in (
        described["inputs"][0]["path"],
        described["strand"]["verdict"],
        described["versions"]["torch"],
        f"{metrics['accuracy']:.4g}",
    ):
        assert expected in text, expected
    inputs = text[text.index("<h3>Training inputs</h3>") : text.index("<h3>Split</h3>")]
    assert "{" not in inputs and described["inputs"][0]["sha256"][:12] + "…" in inputs
    settings = text[text.index("<h3>Settings</h3>") : text.index("<h3>Versions</h3>")]
    assert described["config"]["data"]["split"] == "random"
    assert "data.val_fraction" in settings and "data.val_chroms" not in settings
    assert "data.fold<" not in settings and "model.channels" in settings


def test_report_inputs_show_nested_provenance_as_lists_and_keep_applicable_settings():
    from dnanet.report.html import _records_table, applicable_settings

    table = _records_table(
        [
            {
                "path": "peaks.narrowPeak",
                "class": "bound",
                "records": 3,
                "sha256": "ab" * 32,
                "genome": {"path": "hg38.fa", "fingerprint": "x"},
                "window": 200,
                "notes": ["3 intervals skipped", "read as 200-base windows"],
            }
        ]
    )
    assert "{" not in table and "<li>genome:<ul><li>path: hg38.fa</li>" in table
    assert "<li>3 intervals skipped</li>" in table and "<li>window: 200</li>" in table
    config = {
        "encoder": {"name": "kmer", "k": 6, "stride": 1},
        "data": {"split": "chromosome", "val_fraction": 0.1, "val_chroms": ["chr10"], "folds": 5},
        "model": {"name": "cnn", "kmer_dim": 64},
    }
    shown = applicable_settings(config)
    assert shown["encoder"] == config["encoder"] and shown["model"]["kmer_dim"] == 64
    assert shown["data"] == {"split": "chromosome", "val_chroms": ["chr10"], "folds": 5}
    assert config["data"]["val_fraction"] == 0.1  # the run's own record is left as it is


def test_evaluate_report_on_new_records_and_refuses_an_existing_folder(
    planted_run, runner, tmp_path
):
    inputs = [f"{name}={planted_run.parent / (name + '.fa')}" for name in ("none", "gata", "ebox")]
    report = tmp_path / "eval"
    result = runner.invoke(
        app, ["evaluate", str(planted_run), *inputs, "--report", str(report), "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    assert {path.name for path in linked_pngs(report / "report.html")} == PREDICTION_FIGURES[
        "multiclass"
    ]
    assert "Evaluated records (240)" in (report / "report.html").read_text(encoding="utf-8")
    again = runner.invoke(
        app, ["evaluate", str(planted_run), *inputs, "--report", str(report), "--threads", "1"]
    )
    assert (
        again.exit_code == 1
        and "already exists" in again.output
        and len(again.output.strip().splitlines()) == 1
    )
    (report / "stale.png").write_bytes(b"old")  # --overwrite replaces the folder as a whole
    replaced = runner.invoke(
        app,
        ["evaluate", str(planted_run), *inputs, "--report", str(report), "--threads", "1"]
        + ["--overwrite"],
    )
    assert replaced.exit_code == 0, replaced.output
    assert (report / "report.html").exists() and not (report / "stale.png").exists()


def test_a_report_that_fails_leaves_the_finished_run_and_says_so(
    planted_run, runner, tmp_path, monkeypatch
):
    import dnanet.report.page

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(dnanet.report.page, "write_run_report", broken)
    out = tmp_path / "run"
    config = planted_run.parent / "tiny.yaml"
    result = runner.invoke(
        app,
        [
            "train",
            f"none={planted_run.parent / 'none.fa'}",
            f"gata={planted_run.parent / 'gata.fa'}",
            "-c",
            str(config),
            "--epochs",
            "1",
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "report not written (RuntimeError: no fonts)" in result.output
    assert (out / "model.json").exists() and not (out / "report.html").exists()
