"""summary.html of `dnanet motifs`: the notes (warnings first), then one row per motif with its
logo beside the logo of its best known motif (logos/, from `logos`) and its top matches with
their TomTom q-values (a section per engine that ran, own then modisco, so ``--engine both``
puts them one above the other to compare), the classes' reports, and the baseline's motifs."""

from __future__ import annotations

import html
from pathlib import Path

from dnanet.interpret.motifs.alphabet import DNA, consensus
from dnanet.interpret.motifs.logos import match_logo_name
from dnanet.interpret.motifs.select import REPORT_COLUMNS, ClassReport, FoundMotif

COLUMNS = [
    "motif",
    "class",
    "engine",
    "method",
    "consensus",
    "width",
    "seqlets",
    "sites",
    "p",
    "q",
    "class with site",
    "background with site",
    "faithfulness",
]


def motif_cells(m: FoundMotif, letters: str = DNA) -> list:
    """A motif's values for ``COLUMNS`` (summary.html; the first columns of motifs.tsv)."""
    return [
        m.id,
        m.class_name,
        m.engine,
        m.method,
        consensus(m.pwm, letters),
        m.pwm.shape[1],
        m.seqlets,
        len(m.sites),
        f"{m.p:.3g}",
        f"{m.q:.3g}",
        f"{m.with_site_class / m.n_class:.3f}",
        f"{m.with_site_background / m.n_background:.3f}",
        f"{m.faithfulness:.4f}",
    ]


ENGINE_SECTIONS = {  # engine: (the source of its class reports, its section's title)
    "own": ("model", "Motifs from the model's scores (own engine: seqlets, k-mer-seeded PWMs)"),
    "modisco": ("modisco", "Motifs from the model's attributions (TF-MoDISco engine)"),
}


def _cells(values) -> str:
    return "".join(f"<td>{html.escape(str(v))}</td>" for v in values)


def matches_cell(motif: FoundMotif) -> str:
    """The top known motifs, one per line: name, id, strand, TomTom p and q."""
    if not motif.matches:
        return "<td>(not compared)</td>"
    lines = [
        f"{html.escape(m.name)} <small>{html.escape(m.id)}</small>"
        f"{' (&minus;)' if m.strand == '-' else ''}"
        f" q={m.q:.2g} <small>p={m.p:.2g}</small>"
        for m in motif.matches
    ]
    return "<td>" + "<br>".join(lines) + "</td>"


def motif_table(motifs: list[FoundMotif], letters: str = DNA) -> str:
    """An HTML table, one row per motif: its logo, its best known motif's logo, its top matches."""
    if not motifs:
        return "<p>No motifs (see the classes table for why).</p>"
    header = "".join(
        f"<th>{html.escape(c)}</th>"
        for c in ["logo", "best known motif", "top matches (TomTom)", *COLUMNS]
    )
    body = []
    for m in motifs:
        known = (
            f'<img src="logos/{html.escape(match_logo_name(m))}" height="70">'
            if m.match is not None and m.match.pwm is not None
            else ""
        )
        values = motif_cells(m, letters)
        body.append(
            f'<tr><td><img src="logos/{html.escape(m.id)}.png" height="70"></td><td>{known}</td>'
            f"{matches_cell(m)}{_cells(values)}</tr>"
        )
    return f"<table><tr>{header}</tr>{''.join(body)}</table>"


def report_table(reports: list[ClassReport]) -> str:
    """An HTML table of the classes' reports (columns ``REPORT_COLUMNS``)."""
    header = "".join(f"<th>{html.escape(c)}</th>" for c in REPORT_COLUMNS)
    body = "".join(f"<tr>{_cells(r.row())}</tr>" for r in reports)
    return f"<table><tr>{header}</tr>{body}</table>"


def write_summary(
    path: Path,
    motifs: list[FoundMotif],
    title: str,
    notes: list[str],
    reports: list[ClassReport],
    baseline: list[FoundMotif] | None,
    letters: str = DNA,
) -> None:
    """One HTML page: the notes (warnings first), the model's motifs (a section per engine whose
    class reports are in `reports`), the classes' reports, and the baseline's motifs (None: the
    baseline was skipped)."""
    text = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    sources = {report.source for report in reports}
    engines = [e for e, (source, _) in ENGINE_SECTIONS.items() if source in sources] or ["own"]
    sections = [
        f"<h3>{html.escape(ENGINE_SECTIONS[engine][1])}</h3>"
        + motif_table([m for m in motifs if m.engine == engine], letters)
        for engine in engines
    ]
    sections.append(
        f"<h3>Classes: seqlets, candidate PWMs, dropped motifs</h3>{report_table(reports)}"
    )
    if baseline is not None:
        sections.append(
            "<h3>Baseline: discriminative k-mer motifs (no model)</h3>"
            "<p>Found in each class's whole sequences against the background sequences.</p>"
            + motif_table(baseline, letters)
        )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif} "
        "td,th{border:1px solid #ccc;padding:3px;font-size:12px}"
        "table{border-collapse:collapse}</style></head>"
        f"<body><h2>{html.escape(title)}</h2>{text}{''.join(sections)}</body></html>\n",
        encoding="utf-8",
    )
