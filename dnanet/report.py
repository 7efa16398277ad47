"""Reports a scientist opens: one HTML page with the metrics, the figures (`dnanet.report_plots`)
and what the run was (inputs, settings, split, strand decision, versions: model.json).

`write_run_report` (called by `dnanet train`) writes RUN/report.html and its PNGs in RUN/report/;
`write_evaluation_report` (`dnanet evaluate --report DIR`) writes DIR/report.html with the PNGs
beside it. The page links its PNGs by relative paths (nothing is fetched from the network), so
the page and its PNGs move together. Both are written atomically: a failure leaves no
half-written report.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet import report_plots as plots
from dnanet.outputs import write_atomically
from dnanet.tasks import Task

RUN_FIGURES = "report"  # RUN/report/: the PNGs of RUN/report.html


@dataclass(frozen=True)
class Figure:
    """A PNG of the report (`file`, relative to the page's figure folder) and its words."""

    file: str
    title: str
    caption: str


def one_vs_rest(
    task: Task, targets: np.ndarray, outputs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The curve columns of a classification or multilabel task: truth bool ``(N, K)``, scores
    ``(N, K)`` and K names. Binary: the positive (first) class alone, as metrics.json scores it;
    multiclass: every class against the rest; multilabel: every label on its own."""
    if task.kind == "multilabel":
        return targets > 0.5, outputs, list(task.names)
    truth = targets[:, None] == np.arange(task.n_outputs)[None, :]
    if task.kind == "binary":
        return truth[:, :1], outputs[:, :1], [task.names[0]]
    return truth, outputs, list(task.names)


def prediction_figures(
    task: Task, targets: np.ndarray, outputs: np.ndarray, folder: Path, subject: str
) -> list[Figure]:
    """Draw the figures of predictions `outputs` (``activate``d, ``(N, C)``) against `targets`
    into `folder`: regression, predicted vs true; otherwise ROC, precision-recall, confusion
    matrix and calibration. `subject` names the records in titles (e.g. 'test split')."""
    if task.kind == "regression":
        plots.plot_predicted_vs_true(
            targets,
            outputs,
            task.names,
            folder / "predicted_vs_true.png",
            f"Predicted vs true, {subject}",
        )
        return [
            Figure(
                "predicted_vs_true.png",
                "Predicted vs true",
                "Each record's prediction against its true value, one panel per target, "
                "in the data's "
                "units; the dotted line is a perfect prediction.",
            )
        ]
    truth, scores, names = one_vs_rest(task, targets, outputs)
    which = (
        f"the positive class, {names[0]}"
        if task.kind == "binary"
        else "each class against the rest"
        if task.is_classification
        else "each label on its own"
    )
    plots.plot_roc(truth, scores, names, folder / "roc.png", f"ROC, {subject}")
    plots.plot_precision_recall(
        truth, scores, names, folder / "precision_recall.png", f"Precision-recall, {subject}"
    )
    if task.is_classification:
        plots.plot_confusion(
            targets,
            outputs.argmax(1),
            task.names,
            folder / "confusion.png",
            f"Confusion matrix, {subject}",
        )
        confusion = (
            "True class (rows) against predicted class, the most probable (columns); "
            "counts of records."
        )
    else:
        plots.plot_label_confusions(
            targets > 0.5,
            outputs >= 0.5,
            task.names,
            folder / "confusion.png",
            f"Confusion matrix per label, {subject}",
        )
        confusion = (
            "Per label: true (rows) against predicted at probability 0.5 (columns); "
            "counts of records."
        )
    plots.plot_calibration(
        truth, scores, names, folder / "calibration.png", f"Calibration, {subject}"
    )
    return [
        Figure(
            "roc.png",
            "ROC curve",
            f"True against false positive rate for {which}; AUROC in the legend.",
        ),
        Figure(
            "precision_recall.png",
            "Precision-recall curve",
            f"Precision against recall for {which}; AUPRC (average precision) in the legend; "
            "dotted: the "
            "share of positives, what a random model reaches.",
        ),
        Figure("confusion.png", "Confusion matrix", confusion),
        Figure(
            "calibration.png",
            "Calibration",
            "Observed share of positives against mean predicted probability, "
            f"{plots.CALIBRATION_BINS} "
            f"equal-width bins, for {which}; a calibrated model follows the dotted diagonal. "
            "Below: records "
            "per bin.",
        ),
    ]


def write_run_report(
    run: Path,
    description: dict,
    metrics: dict,
    history: list[dict],
    targets: np.ndarray,
    outputs: np.ndarray,
) -> Path:
    """RUN/report.html and RUN/report/*.png for a finished run: the per-epoch `history`
    (`dnanet.train.fit`'s records) and the test split's `targets` and `outputs` (``(N, C)``),
    scored in `metrics` (metrics.json). Returns the page's path."""
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
        body = _page(
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
        body = _page(
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


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}\n"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}\n"
    "figure{display:inline-block;vertical-align:top;margin:0 1em 1.5em 0;max-width:100%}\n"
    "figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption{max-width:520px;font-size:.9em;color:#444}\n"
    ".warning{background:#fff4e0;border-left:4px solid #e69500;padding:.5em 1em}"
    "code{font-size:.95em}"
)


def _page(
    title: str,
    description: dict,
    metrics: dict,
    scored: str,
    figures: list[Figure],
    prefix: str,
    evaluated: list[dict] | None,
) -> str:
    """The HTML text: title, learning warning, metrics, figures (linked as `prefix` + file), then
    the run's description; with `evaluated` inputs, those first."""
    task = description["task"]
    parts = [
        f"<h1>{_text(title)}</h1>",
        f"<p>Task <b>{_text(task['kind'])}</b>: {_text(', '.join(task['names']))}. Model "
        f"<b>{_text(description['model']['name'])}</b>, "
        f"trained {_text(description.get('created', '?'))}; "
        f"kept epoch {_text(description.get('best_epoch', '?'))}. "
        "Figures are PNG files linked beside "
        "this page.</p>",
    ]
    learning = description.get("learning") or {}
    if description.get("learned") is False:
        parts.append(
            f"<p class='warning'>The model did not learn: {_text(learning.get('message', ''))}</p>"
        )
    parts += [f"<h2>Metrics: {_text(scored)}</h2>", _metrics_tables(metrics), "<h2>Figures</h2>"]
    for figure in figures:
        link = _text(prefix + figure.file)
        parts.append(
            f"<figure><a href='{link}'><img src='{link}' alt='{_text(figure.title)}'></a>"
            f"<figcaption><b>{_text(figure.title)}.</b> {_text(figure.caption)}"
            "</figcaption></figure>"
        )
    if evaluated is not None:
        parts += ["<h2>Evaluated inputs</h2>", _records_table(evaluated)]
    parts += [
        "<h2>Run</h2>",
        "<h3>Training inputs</h3>",
        _records_table(description.get("inputs", [])),
        "<h3>Split</h3>",
        _flat_table(description.get("split", {})),
        "<h3>Strand</h3>",
        _strand_text(description),
        _flat_table(description.get("strand", {})),
        "<h3>Duplicates</h3>",
        _flat_table(description.get("duplicates", {})),
        "<h3>Settings</h3>",
        _flat_table(description.get("config", {})),
        "<h3>Versions</h3>",
        _flat_table(description.get("versions", {})),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_text(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _metrics_tables(metrics: dict) -> str:
    """The overall numbers, then one row per class, label or target."""
    overall = {key: value for key, value in metrics.items() if not isinstance(value, (dict, list))}
    rows = "".join(
        f"<tr><th>{_text(key)}</th>{_cell(value)}</tr>" for key, value in overall.items()
    )
    table = f"<table>{rows}</table>"
    each = metrics.get("per_class") or metrics.get("per_target") or {}
    if each:
        columns = list(dict.fromkeys(key for values in each.values() for key in values))
        head = "".join(
            f"<th>{_text(key)}</th>"
            for key in ["class" if "per_class" in metrics else "target", *columns]
        )
        body = "".join(
            f"<tr><th>{_text(name)}</th>"
            + "".join(_cell(values.get(key)) for key in columns)
            + "</tr>"
            for name, values in each.items()
        )
        table += f"<table><tr>{head}</tr>{body}</table>"
    return table


def _records_table(inputs: list[dict]) -> str:
    """Input files (provenance records): one row each, a column per key."""
    if not inputs:
        return "<p>none recorded</p>"
    columns = list(dict.fromkeys(key for entry in inputs for key in entry))
    head = "".join(f"<th>{_text(key)}</th>" for key in columns)
    body = "".join(
        "<tr>" + "".join(_cell(entry.get(key)) for key in columns) + "</tr>" for entry in inputs
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _flat_table(data: dict) -> str:
    """A nested dict as rows 'a.b | value' (lists and leaf values as text)."""
    rows = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append(f"<tr><th>{_text(prefix)}</th>{_cell(value)}</tr>")

    walk("", data)
    return f"<table>{''.join(rows)}</table>" if rows else "<p>none recorded</p>"


def _strand_text(description: dict) -> str:
    strand = description.get("strand") or {}
    averaged = description.get("reverse_complement_average")
    decision = "both strands, averaged" if averaged else "the forward strand only"
    how = (
        f"decided by the data (reverse_complement: auto): {strand.get('verdict', '')}"
        if strand.get("setting") == "auto"
        else f"set by the config (reverse_complement: {strand.get('setting')})"
    )
    return f"<p>The model reads {decision}; {_text(how)}.</p>"


def _cell(value) -> str:
    if value is None:
        return "<td>–</td>"
    if isinstance(value, bool):
        return f"<td>{str(value).lower()}</td>"
    if isinstance(value, float):
        return f"<td class='num'>{value:.4g}</td>"
    if isinstance(value, int):
        return f"<td class='num'>{value:,}</td>"
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value)) if value else "none"
    elif isinstance(value, dict):
        value = json.dumps(value)
    return f"<td>{_text(value)}</td>"


def _text(value) -> str:
    return html.escape(str(value), quote=True)
