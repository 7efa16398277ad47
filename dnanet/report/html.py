"""The HTML text of a report page (`dnanet.report.page`): the style, the metrics tables (a signal
run's beside their baselines), the figures linked by relative paths, and the run's description
(inputs, coverage tracks, split, strand, duplicates, settings, versions) as tables. Pure text
from dicts: no files are written here."""

from __future__ import annotations

import html
import json

from dnanet.data.tasks import SIGNAL
from dnanet.report.figures import SIGNAL_METRICS, Figure

BASELINES = (
    "Baselines: what a model that knows only the training windows predicts: their mean "
    "log(1 + reads) for every window (baseline_mse)"
)
PROFILE_BASELINES = ", their average profile (baseline_jsd, baseline_profile_pearson)"
NO_BASELINE = (
    ". A constant prediction has no correlation, so the Pearson and Spearman r of "
    "log(1 + reads) have none: above 0 is already better than it."
)

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}\n"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;overflow-wrap:anywhere}\n"
    "td ul{margin:0;padding-left:1.1em}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}\n"
    "figure{display:inline-block;vertical-align:top;margin:0 1em 1.5em 0;max-width:100%}\n"
    "figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption{max-width:520px;font-size:.9em;color:#444}\n"
    ".warning{background:#fff4e0;border-left:4px solid #e69500;padding:.5em 1em}"
    "code{font-size:.95em}"
)

_PER_ROW = {"class": "per_class", "target": "per_target", "track": "per_track"}  # row: metrics key


def page_html(
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
    parts += [
        f"<h2>Metrics: {_text(scored)}</h2>",
        _metrics_tables(metrics, signal=task["kind"] in SIGNAL),
        "<h2>Figures</h2>",
    ]
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
        *_coverage_parts(description.get("signal")),
        "<h3>Split</h3>",
        _flat_table(description.get("split", {})),
        "<h3>Strand</h3>",
        _strand_text(description),
        _flat_table(description.get("strand", {})),
        "<h3>Duplicates</h3>",
        _flat_table(description.get("duplicates", {})),
        "<h3>Settings</h3>",
        _flat_table(applicable_settings(description.get("config", {}))),
        "<h3>Versions</h3>",
        _flat_table(description.get("versions", {})),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_text(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _metrics_tables(metrics: dict, signal: bool = False) -> str:
    """The overall numbers (a signal run's metrics first, each beside its baseline), then one row
    per class, label, target or track."""
    shown = {key for metric in SIGNAL_METRICS for key in (metric.key, metric.baseline) if key}
    table = _signal_table(metrics) if signal else ""
    overall = {
        key: value
        for key, value in metrics.items()
        if not isinstance(value, (dict, list)) and not (signal and key in shown)
    }
    rows = "".join(
        f"<tr><th>{_text(key)}</th>{_cell(value)}</tr>" for key, value in overall.items()
    )
    table += f"<table>{rows}</table>"
    row_name, each = next(
        ((name, metrics[key]) for name, key in _PER_ROW.items() if metrics.get(key)), ("", {})
    )
    if each:
        columns = _paired(list(dict.fromkeys(key for values in each.values() for key in values)))
        head = "".join(f"<th>{_text(key)}</th>" for key in [row_name, *columns])
        body = "".join(
            f"<tr><th>{_text(name)}</th>"
            + "".join(_cell(values.get(key)) for key in columns)
            + "</tr>"
            for name, values in each.items()
        )
        table += f"<table><tr>{head}</tr>{body}</table>"
    return table


def _signal_table(metrics: dict) -> str:
    """A counts or profile run's metrics (`dnanet.training.signal_metrics`), averaged over
    tracks: one row each with its metrics.json key, the model's value, its baseline's and whether
    the model beats it; then what the baselines are."""
    rows = []
    for metric in SIGNAL_METRICS:
        if metric.key not in metrics:
            continue
        value = metrics[metric.key]
        baseline = metrics.get(metric.baseline) if metric.baseline else None
        rows.append(
            f"<tr><th>{_text(metric.label)}</th><td><code>{_text(metric.key)}</code></td>"
            f"{_cell(value)}{_cell(baseline)}"
            f"<td>{_beats(value, baseline, metric.higher)}</td></tr>"
        )
    head = (
        "<tr><th>metric (mean over tracks)</th><th>key</th><th>model</th><th>baseline</th>"
        "<th>beats the baseline</th></tr>"
    )
    baselines = BASELINES + (PROFILE_BASELINES if "baseline_jsd" in metrics else "") + NO_BASELINE
    return f"<table>{head}{''.join(rows)}</table><p>{_text(baselines)}</p>"


def _beats(value, baseline, higher: bool) -> str:
    """'yes' or 'no' when the model's value and its baseline's are both known, else '–'."""
    if value is None or baseline is None:
        return "–"
    return "yes" if (value > baseline if higher else value < baseline) else "no"


def _paired(columns: list[str]) -> list[str]:
    """Per-row columns with each signal metric's baseline right after it (the rest kept in
    order)."""
    ordered = []
    for column in columns:
        if column in ordered:
            continue
        ordered.append(column)
        baseline = next(
            (metric.baseline for metric in SIGNAL_METRICS if metric.key == column), None
        )
        if baseline in columns:
            ordered.append(baseline)
    return ordered


def _coverage_parts(signal: dict | None) -> list[str]:
    """A signal run's coverage tracks (name, path, SHA-256) and its windows (input and target
    width, jitter, bases without coverage): a heading and two tables; none for other runs."""
    if not signal:
        return []
    settings = {key: value for key, value in signal.items() if key != "tracks"}
    return [
        "<h3>Coverage tracks</h3>",
        _records_table(signal.get("tracks", [])),
        _flat_table(settings),
    ]


_INPUT_COLUMNS = ("path", "class", "part", "records", "sha256")
"""The columns of an input's row; whatever else its provenance holds goes into its details."""


def _records_table(inputs: list[dict]) -> str:
    """Input files (provenance records): one row each with `_INPUT_COLUMNS` (the SHA-256 cut to
    12 characters, whole on hover), then its other keys (genome, window, counts, notes) as a
    list in one wrapping cell, not raw JSON running off the page."""
    if not inputs:
        return "<p>none recorded</p>"
    columns = [key for key in _INPUT_COLUMNS if any(key in entry for entry in inputs)]
    details = any(set(entry) - set(_INPUT_COLUMNS) for entry in inputs)
    head = "".join(f"<th>{_text(key)}</th>" for key in [*columns, *(["details"] * details)])
    rows = []
    for entry in inputs:
        cells = [
            _digest_cell(entry.get(key)) if key == "sha256" else _cell(entry.get(key))
            for key in columns
        ]
        if details:
            extra = {key: value for key, value in entry.items() if key not in _INPUT_COLUMNS}
            cells.append(f"<td>{_details(extra)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _digest_cell(digest) -> str:
    if not isinstance(digest, str):
        return _cell(digest)
    return f"<td><code title='{_text(digest)}'>{_text(digest[:12])}…</code></td>"


def _details(values: dict) -> str:
    """Nested provenance as a list: 'key: value' items, sections as inner lists, notes one per
    item."""
    items = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            items.append(f"<li>{_text(key)}:{_details(value)}</li>")
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            items.append(
                f"<li>{_text(key)}:<ul>"
                + "".join(f"<li>{_text(v)}</li>" for v in value)
                + "</ul></li>"
            )
        elif value not in (None, [], {}):
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            items.append(f"<li>{_text(key)}: {_text(shown)}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else "–"


def applicable_settings(config: dict) -> dict:
    """The run's config less the settings that did not apply to it, for the report: k-mer
    settings of a one-hot run, the held-out chromosomes of a random split (and the fractions of a
    chromosome split), the fold of a run that is not an ensemble's member."""
    shown = {
        key: dict(value) if isinstance(value, dict) else value for key, value in config.items()
    }
    encoder, data, model = shown.get("encoder", {}), shown.get("data", {}), shown.get("model", {})
    if encoder.get("name") == "onehot":
        for key in ("k", "stride"):
            encoder.pop(key, None)
        model.pop("kmer_dim", None)
    if data.get("split") == "random":
        data.pop("val_chroms", None)
        data.pop("test_chroms", None)
    elif data.get("split") == "chromosome":
        data.pop("val_fraction", None)
        data.pop("test_fraction", None)
    if data.get("folds", 1) <= 1:
        data.pop("folds", None)
        data.pop("fold", None)
    return shown


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
