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
from dnanet.report.figures import Figure, prediction_figures
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
    (`dnanet.training.loop.fit`'s records) and the test split's `targets` and `outputs` (``(N,
    C)``), scored in `metrics` (metrics.json). Returns the page's path."""
    task = Task.from_dict(description["task"])
    page = run / "report.html"
    with write_atomically(run / RUN_FIGURES, overwrite=True, folder=True) as folder:
        plots.plot_history(history, description["best_epoch"], folder / "history.png")
        figures = [
            Figure(
                "history.png",
                "Training history",
                "Training and validation loss per epoch, then the validation metrics recorded "
                "each epoch; "
                f"dashed: the kept epoch ({description['best_epoch']}, lowest validation loss), "
                "the model "
                "saved and scored.",
            )
        ]
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
