"""Reports of signal runs (counts and profile, `dnanet train --signal`): the metrics beside their
baselines, predicted vs observed log(1 + reads) per track, a profile run's example windows, and
the history of the validation metrics recorded; first the figure functions on synthetic arrays
with a known answer, then runs trained on the example genome's coverage."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from dnanet.cli import app
from dnanet.data.tasks import Task
from dnanet.report import plots, signal_plots
from dnanet.report.figures import signal_figures
from dnanet.report.page import write_run_report
from dnanet.training.signal_metrics import signal_metrics
from tests.report.test_report import description, linked_pngs

TRACKS = ["chip", "control"]
WIDTH = 50


class Tables(HTMLParser):
    """The tables of a page: per table, a list of cell texts per row."""

    def __init__(self):
        super().__init__()
        self.tables, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self.cell)
            self.cell = None


def table(page: Path, first: str) -> list[list[str]]:
    """The rows of the page's one table whose first cell is `first`."""
    parser = Tables()
    parser.feed(page.read_text(encoding="utf-8"))
    (rows,) = [rows for rows in parser.tables if rows and rows[0][0] == first]
    return rows


def signal_table(page: Path) -> dict[str, list[str]]:
    """The page's table of signal metrics: its rows (metric, key, model, baseline, beats the
    baseline) by key."""
    head, *rows = table(page, "metric (mean over tracks)")
    assert head[1:] == ["key", "model", "baseline", "beats the baseline"]
    return {row[1]: row for row in rows}


def profile_arrays(n: int = 40, seed: int = 0) -> tuple[Task, np.ndarray, np.ndarray]:
    """A profile task over two tracks and flat targets and activated outputs ``(n, 2 + 2*W)``:
    Poisson reads around a centred footprint whose size grows with the row (row n - 1 has the
    most), and a model that knows the footprint and is off by 20% in its totals."""
    rng = np.random.default_rng(seed)
    shape = np.exp(-0.5 * ((np.arange(WIDTH) - WIDTH / 2) / 6) ** 2)
    shape /= shape.sum()
    rates = np.geomspace(5, 2000, n)[:, None, None] * np.array([1.0, 0.3])[None, :, None]
    counts = rng.poisson(rates * shape).astype(np.float32)
    totals = np.log1p(counts.sum(-1))
    targets = np.concatenate([totals, counts.reshape(n, -1)], 1)
    probabilities = np.broadcast_to(shape, (n, len(TRACKS), WIDTH))
    outputs = np.concatenate([np.log1p(0.8 * counts.sum(-1)), probabilities.reshape(n, -1)], 1)
    prior = np.concatenate([totals.mean(0), np.full(len(TRACKS) * WIDTH, 1 / WIDTH)])
    task = Task("profile", TRACKS, width=WIDTH, prior=prior.tolist())
    return task, targets.astype(np.float32), outputs.astype(np.float32)


def test_example_windows_are_those_with_most_reads_then_ones_near_the_median():
    reads = np.array([5.0, 90, 7, 40, 6, 100, 8, 60, 50, 3, 9])
    chosen = signal_plots.example_windows(reads)
    assert [row for row, _ in chosen] == [5, 1, 7, 8, 10, 6]  # median 9: then 9 and 8 reads
    assert chosen[0][1] == "most reads #1" and chosen[-1][1] == "near the median"
    assert [row for row, _ in signal_plots.example_windows(reads[:3])] == [1, 2, 0]  # all, once


def test_profile_figure_draws_predicted_reads_per_base_of_the_chosen_windows(tmp_path, monkeypatch):
    task, targets, outputs = profile_arrays()
    drawn = {}

    def capture(observed, predicted, names, labels, path, title):
        drawn.update(observed=observed, predicted=predicted, names=names, labels=labels)

    monkeypatch.setattr(signal_plots, "plot_profile_examples", capture)
    monkeypatch.setattr(plots, "plot_predicted_vs_true", lambda *args, **kwargs: None)
    figures = signal_figures(task, targets, outputs, tmp_path, "test split")
    assert [figure.file for figure in figures] == ["log_counts.png", "profile_examples.png"]
    rows = [39, 38, 37, 36]  # the most reads: the last rows
    assert drawn["labels"][:4] == [
        f"window {row + 1}, most reads #{i + 1}" for i, row in enumerate(rows)
    ]
    assert len(drawn["labels"]) == 6 and drawn["names"] == TRACKS
    counts = targets[:, 2:].reshape(-1, 2, WIDTH)
    np.testing.assert_array_equal(drawn["observed"][:4], counts[rows])
    # predicted reads per base: 0.8 x the observed total, spread over the footprint
    np.testing.assert_allclose(
        drawn["predicted"][:4].sum(-1), 0.8 * counts[rows].sum(-1), rtol=1e-4
    )
    shape = outputs[0, 2 : 2 + WIDTH]
    np.testing.assert_allclose(
        drawn["predicted"][0, 0], 0.8 * counts[39, 0].sum() * shape, rtol=1e-4
    )


def test_signal_figures_are_pngs_with_a_panel_per_track(tmp_path, monkeypatch):
    task, targets, outputs = profile_arrays()
    saved = {}
    save = plots.save_figure

    def keep(figure, path):
        saved[path.name] = [axes for axes in figure.axes if axes.get_visible()]
        save(figure, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(signal_plots, "save_figure", keep)
    signal_figures(task, targets, outputs, tmp_path, "test split (n 40)")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(saved)
    scatter = saved["log_counts.png"]
    assert [axes.get_xlabel() for axes in scatter] == [
        f"observed log(1 + reads), {name}" for name in TRACKS
    ]
    r = np.corrcoef(targets[:, 0], outputs[:, 0])[0, 1]
    assert scatter[0].get_title().startswith(f"chip: r {r:.3f}")
    assert len(saved["profile_examples.png"]) == 6 * len(TRACKS)
    counts_task = Task("counts", TRACKS, mean=[3.0, 1.0], std=[1.0, 1.0])
    (figure,) = signal_figures(counts_task, targets[:, :2], outputs[:, :2], tmp_path, "test")
    assert figure.file == "log_counts.png"
    assert "training mean 3" in saved["log_counts.png"][0].get_legend().get_texts()[0].get_text()


def test_history_figure_labels_the_signal_metrics_and_marks_the_baseline_loss(
    tmp_path, monkeypatch
):
    saved = {}
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: saved.update(figure=figure))
    history = [
        {"epoch": 1, "train_loss": 9.0, "val_loss": 8.0, "val_pearson": 0.2, "val_jsd": 0.7},
        {"epoch": 2, "train_loss": 7.0, "val_loss": 6.5, "val_pearson": 0.4, "val_jsd": 0.6},
    ]
    labels = {"pearson": "Pearson r, log(1 + reads)", "jsd": "median JSD of profiles"}
    plots.plot_history(history, 2, tmp_path / "h.png", metric_labels=labels, baseline_loss=7.5)
    loss, pearson, jsd = saved["figure"].axes
    assert pearson.get_ylabel() == "validation Pearson r, log(1 + reads)"
    assert jsd.get_ylabel() == "validation median JSD of profiles"
    assert "baseline (prior)" in [text.get_text() for text in loss.get_legend().get_texts()]


@pytest.mark.parametrize("epochs", [1, 2, 3, 40])
def test_history_figure_labels_whole_epochs_only(tmp_path, monkeypatch, epochs):
    """A run of one or two epochs was labelled 0.96, 0.98, ...: every tick is a whole epoch."""
    saved = {}
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: saved.update(figure=figure))
    history = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_auroc": 0.5 + e / 100}
        for e in range(1, epochs + 1)
    ]
    plots.plot_history(history, epochs, tmp_path / "h.png")
    for axes in saved["figure"].axes:
        saved["figure"].canvas.draw()
        low, high = axes.get_xlim()
        ticks = [tick for tick in axes.get_xticks() if low <= tick <= high]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
    assert 1 in ticks or epochs > 3


def test_a_counts_page_from_synthetic_arrays(tmp_path):
    task, targets, outputs = profile_arrays()
    counts_task = Task("counts", TRACKS, mean=targets[:, :2].mean(0).tolist(), std=[1.0, 1.0])
    targets, outputs = targets[:, :2], outputs[:, :2]
    metrics = signal_metrics(counts_task, targets, outputs)
    described = {**description("regression"), "task": counts_task.to_dict()}
    history = [{"epoch": 2, "train_loss": 1.0, "val_loss": 0.9, "val_pearson": 0.5, "val_mse": 1}]
    page = write_run_report(tmp_path, described, metrics, history, targets, outputs)
    assert {path.name for path in linked_pngs(page)} == {"history.png", "log_counts.png"}
    rows = signal_table(page)
    assert rows["mse"][2:] == [f"{metrics['mse']:.4g}", f"{metrics['baseline_mse']:.4g}", "yes"]
    assert "jsd" not in rows


@pytest.fixture(scope="module")
def signal_runs(tmp_path_factory, runner) -> dict[str, Path]:
    """A profile and a counts run trained for 2 epochs on the example genome's two coverage
    tracks (a tiny CNN, 200-base windows, 100-base targets)."""
    folder = tmp_path_factory.mktemp("signal_report")
    data = folder / "data"
    made = runner.invoke(app, ["example-genome", str(data), "--peaks", "120"])
    assert made.exit_code == 0, made.output
    config = folder / "tiny.yaml"
    config.write_text("model:\n  name: cnn\n  channels: 8\n  hidden: 8\n")
    runs = {}
    for task in ("profile", "counts"):
        out = folder / task
        result = runner.invoke(
            app,
            [
                "train",
                f"peaks={data / 'peaks.narrowPeak'}",
                "bg=gc-matched",
                "--genome",
                str(data / "genome.fa"),
                "--signal",
                f"chip={data / 'signal.bw'}",
                "--signal",
                f"control={data / 'control.bw'}",
                "--task",
                task,
                "--window",
                "200",
                "--target-width",
                "100",
                "--split",
                "chromosome",
                "--val-chroms",
                "chr3",
                "--test-chroms",
                "chr2",
                "-c",
                str(config),
                "--epochs",
                "2",
                "--out",
                str(out),
                "--quiet",
                "--threads",
                "1",
            ],
        )
        assert result.exit_code == 0, result.output
        said = "".join(result.output.split())  # the console wraps long paths
        assert f"report:{out / 'report.html'}" in said
        assert "report not written" not in result.output
        runs[task] = out
    return runs


@pytest.mark.parametrize(
    "task, figures, baselines",
    [
        (
            "profile",
            {"history.png", "log_counts.png", "profile_examples.png"},
            {
                "mse": "baseline_mse",
                "jsd": "baseline_jsd",
                "profile_pearson": "baseline_profile_pearson",
            },
        ),
        ("counts", {"history.png", "log_counts.png"}, {"mse": "baseline_mse"}),
    ],
)
def test_a_trained_signal_run_has_its_report(signal_runs, task, figures, baselines):
    run = signal_runs[task]
    page = run / "report.html"
    shown = linked_pngs(page)
    assert {path.name for path in shown} == figures
    assert shown == set((run / "report").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    rows = signal_table(page)
    assert set(rows) == {"pearson", "spearman", *baselines}
    for key, baseline in baselines.items():
        model, base, beats = rows[key][2:]
        assert (model, base) == (f"{metrics[key]:.4g}", f"{metrics[baseline]:.4g}")
        assert beats in ("yes", "no")
    assert rows["pearson"][2:] == [f"{metrics['pearson']:.4g}", "–", "–"]
    head, *rows = table(page, "track")
    tracks = {row[0]: row for row in rows}
    assert set(tracks) == set(TRACKS)
    assert head[head.index("mse") + 1] == "baseline_mse"
    column = head.index("baseline_mse")
    assert tracks["control"][column] == f"{metrics['per_track']['control']['baseline_mse']:.4g}"
    text = page.read_text(encoding="utf-8")
    assert "Coverage tracks" in text and "signal.bw" in text and "control.bw" in text
    assert ("their average profile (baseline_jsd" in text) == (task == "profile")
