"""Writers for `dnanet motifs`: motifs.meme, motifs.tsv, sites.tsv, classes.tsv (what each
class's search found and dropped), baseline.meme and baseline.tsv (model-free k-mer motifs),
logos/<motif>.png and summary.html, all into one (temporary) folder; no network (logos drawn
with logomaker)."""

from __future__ import annotations

import csv
import html
from pathlib import Path

import numpy as np

from dnanet.motifs.select import REPORT_COLUMNS, ClassReport, FoundMotif

TSV_COLUMNS = ["motif", "class", "method", "consensus", "width", "seqlets", "sites", "p", "q",
               "class_with_site", "background_with_site", "faithfulness", "best_match", "best_match_id",
               "match_p", "match_q"]
IUPAC = {frozenset("A"): "A", frozenset("C"): "C", frozenset("G"): "G", frozenset("T"): "T",
         frozenset("AG"): "R", frozenset("CT"): "Y", frozenset("CG"): "S", frozenset("AT"): "W",
         frozenset("GT"): "K", frozenset("AC"): "M"}


def consensus(pwm: np.ndarray) -> str:
    """Probabilities ``(4, W)`` -> an IUPAC consensus: a base above 0.5, a pair above 0.75
    together, else N."""
    letters = []
    for column in pwm.T:
        order = np.argsort(column)[::-1]
        if column[order[0]] >= 0.5:
            letters.append("ACGT"[order[0]])
        elif column[order[0]] + column[order[1]] >= 0.75:
            letters.append(IUPAC[frozenset("ACGT"[order[0]] + "ACGT"[order[1]])])
        else:
            letters.append("N")
    return "".join(letters)


def write_meme(path: Path, motifs: list[FoundMotif]) -> None:
    """MEME minimal format, motifs in the given order (most significant first); E= holds the
    enrichment q-value, nsites= the number of class sites."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for motif in motifs:
        lines.append(f"MOTIF {motif.id} {consensus(motif.pwm)}")
        lines.append(f"letter-probability matrix: alength= 4 w= {motif.pwm.shape[1]} "
                     f"nsites= {max(1, len(motif.sites))} E= {motif.q:.3g}")
        lines += [" ".join(f"{value:.6f}" for value in column) for column in motif.pwm.T]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def motif_rows(motifs: list[FoundMotif]) -> list[list]:
    rows = []
    for m in motifs:
        match = m.match
        rows.append([m.id, m.class_name, m.method, consensus(m.pwm), m.pwm.shape[1], m.seqlets, len(m.sites),
                     f"{m.p:.3g}", f"{m.q:.3g}", f"{m.with_site_class / m.n_class:.3f}",
                     f"{m.with_site_background / m.n_background:.3f}", f"{m.faithfulness:.4f}",
                     match.name if match else "", match.id if match else "",
                     f"{match.p:.3g}" if match else "", f"{match.q:.3g}" if match else ""])
    return rows


def write_tsv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_tables(folder: Path, motifs: list[FoundMotif]) -> None:
    """motifs.tsv (columns ``TSV_COLUMNS``) and sites.tsv (motif, sequence id, start, end, strand, score)."""
    write_tsv(folder / "motifs.tsv", TSV_COLUMNS, motif_rows(motifs))
    with open(folder / "sites.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["motif", "sequence", "start", "end", "strand", "score"])
        for m in motifs:
            writer.writerows([m.id, s, b, e, st, f"{sc:.3f}"] for s, b, e, st, sc in m.sites)


def draw_logo(path: Path, pwm: np.ndarray, title: str) -> None:
    """An information-content logo of `pwm` ``(4, W)`` as PNG (logomaker, offline)."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(pwm.T, columns=list("ACGT"))
    information = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    figure, axis = plt.subplots(figsize=(max(3.0, 0.4 * pwm.shape[1]), 1.8))
    logomaker.Logo(information, ax=axis, color_scheme="classic")
    axis.set_ylim(0, 2)
    axis.set_ylabel("bits")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_logos(folder: Path, motifs: list[FoundMotif]) -> None:
    (folder / "logos").mkdir()
    for m in motifs:
        draw_logo(folder / "logos" / f"{m.id}.png", m.pwm, f"{m.id}  {consensus(m.pwm)}")


def motif_table(motifs: list[FoundMotif]) -> str:
    """An HTML table, one row per motif with its logo (logos/<id>.png)."""
    if not motifs:
        return "<p>No motifs (see the classes table for why).</p>"
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ["logo", *TSV_COLUMNS])
    body = []
    for m, row in zip(motifs, motif_rows(motifs)):
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        body.append(f'<tr><td><img src="logos/{html.escape(m.id)}.png" height="70"></td>{cells}</tr>')
    return f"<table><tr>{header}</tr>{''.join(body)}</table>"


def report_table(reports: list[ClassReport]) -> str:
    """An HTML table of the classes' reports (columns ``REPORT_COLUMNS``)."""
    header = "".join(f"<th>{html.escape(c)}</th>" for c in REPORT_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.row()) + "</tr>" for r in reports)
    return f"<table><tr>{header}</tr>{body}</table>"


def write_summary(path: Path, motifs: list[FoundMotif], title: str, notes: list[str],
                  reports: list[ClassReport], baseline: list[FoundMotif] | None) -> None:
    """One HTML page: the notes (warnings first), the model's motifs, the classes' reports, and
    the baseline's motifs (None: the baseline was skipped)."""
    text = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    sections = [f"<h3>Motifs from the model's scores</h3>{motif_table(motifs)}",
                f"<h3>Classes: seqlets, candidate PWMs, dropped motifs</h3>{report_table(reports)}"]
    if baseline is not None:
        sections.append("<h3>Baseline: discriminative k-mer motifs (no model)</h3>"
                        "<p>Found in each class's whole sequences against the background sequences.</p>"
                        + motif_table(baseline))
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif} td,th{border:1px solid #ccc;padding:3px;font-size:12px}"
        "table{border-collapse:collapse}</style></head>"
        f"<body><h2>{html.escape(title)}</h2>{text}{''.join(sections)}</body></html>\n",
        encoding="utf-8")


def write_all(folder: Path, motifs: list[FoundMotif], title: str, notes: list[str],
              reports: list[ClassReport], baseline: list[FoundMotif] | None = None) -> None:
    """Every output file; baseline.meme and baseline.tsv only when `baseline` is not None."""
    write_meme(folder / "motifs.meme", motifs)
    write_tables(folder, motifs)
    write_tsv(folder / "classes.tsv", REPORT_COLUMNS, [report.row() for report in reports])
    write_logos(folder, motifs + (baseline or []))
    if baseline is not None:
        write_meme(folder / "baseline.meme", baseline)
        write_tsv(folder / "baseline.tsv", TSV_COLUMNS, motif_rows(baseline))
    write_summary(folder / "summary.html", motifs, title, notes, reports, baseline)
