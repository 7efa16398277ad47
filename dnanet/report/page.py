"""Reports a scientist opens: one HTML page with the metrics, the figures (`dnanet.report.plots`)
and what the run was (inputs, settings, split, strand decision, versions: model.json).

`write_run_report` (called by `dnanet train`) writes RUN/report.html and its PNGs in RUN/report/;
`write_evaluation_report` (`dnanet evaluate --report DIR`) writes DIR/report.html with the PNGs
beside it. The figures and their captions are in `dnanet.report.figures`, the page's HTML in
`dnanet.report.html`. The page links its PNGs by relative paths (nothing is fetched from the
network), so the page and its PNGs move together. Both are written atomically: a failure leaves
no half-written report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.data.tasks import Task
from dnanet.files.outputs import write_atomically
from dnanet.report import plots
from dnanet.report.figures import HISTORY_LABELS, Figure, prediction_figures
from dnanet.report.html import page_html

RUN_FIGURES = "report"  # RUN/report/: the PNGs of RUN/report.html


def write_run_report(
    run: Path,
    description: dict,
    metrics: dict,
    history: list[dict],
    targets: np.ndarray,
    outputs: np.ndarray,
) -> Path:
    """RUN/report.html and RUN/report/*.png for a finished run: the per-epoch `history`
    (`dnanet.training.loop.fit`'s records) and the test split's `targets` and activated `outputs`
    (``(N, C)``; a profile run's flat rows ``(N, T + T*W)``, `dnanet.data.signal_task`), scored in
    `metrics` (metrics.json). Returns the page's path."""
    task = Task.from_dict(description["task"])
    page = run / "report.html"
    with write_atomically(run / RUN_FIGURES, overwrite=True, folder=True) as folder:
        figures = [_history_figure(history, description, folder)]
        if len(targets):  # a run may have no test split (data.test_fraction 0)
            figures += prediction_figures(
                task, targets, outputs, folder, f"test split (n {len(targets):,})"
            )
        body = page_html(
            f"dnanet run {run.name}",
            description,
            metrics,
            f"Test split ({metrics['n']:,} records)",
            figures,
            RUN_FIGURES + "/",
            evaluated=None,
        )
        with write_atomically(page) as temporary:
            temporary.write_text(body, encoding="utf-8")
    return page


def write_evaluation_report(
    out: Path,
    run: Path,
    description: dict,
    metrics: dict,
    inputs: list[dict],
    targets: np.ndarray,
    outputs: np.ndarray,
    overwrite: bool = False,
) -> Path:
    """DIR/report.html with its PNGs beside it for `dnanet evaluate RUN INPUTS --report DIR`:
    the evaluated records' `targets` and `outputs` ``(N, C)``, their `metrics`, the `inputs`
    read (provenance: path, class, records, SHA-256) and the run's model.json `description`.
    Returns the page's path."""
    task = Task.from_dict(description["task"])
    with write_atomically(out, overwrite, folder=True) as folder:
        figures = prediction_figures(
            task, targets, outputs, folder, f"{run.name} on n {len(targets):,}"
        )
        body = page_html(
            f"dnanet evaluate {run.name}",
            description,
            metrics,
            f"Evaluated records ({metrics['n']:,})",
            figures,
            "",
            evaluated=inputs,
        )
        (folder / "report.html").write_text(body, encoding="utf-8")
    return out / "report.html"


def _history_figure(history: list[dict], description: dict, folder: Path) -> Figure:
    """history.png: the losses per epoch beside the baseline's (the validation loss of the
    training split's prior, when model.json's ``learning`` records it) and the validation metrics
    recorded, labelled in words for signal runs."""
    best = description["best_epoch"]
    baseline = (description.get("learning") or {}).get("prior_loss")
    plots.plot_history(
        history,
        best,
        folder / "history.png",
        metric_labels=HISTORY_LABELS.get(description["task"]["kind"]),
        baseline_loss=baseline,
    )
    dotted = (
        "; dotted: the baseline, the validation loss of predicting what the training split "
        "holds on average (class shares, mean, or mean counts and average profile)"
        if baseline is not None
        else ""
    )
    return Figure(
        "history.png",
        "Training history",
        "Training and validation loss per epoch, then the validation metrics recorded each "
        f"epoch; dashed: the kept epoch ({best}, lowest validation loss), the model saved and "
        f"scored{dotted}.",
    )
