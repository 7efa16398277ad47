"""Writers for `dnanet motifs`: motifs.meme, motifs.tsv, sites.tsv, classes.tsv (what each
class's search found and dropped), baseline.meme and baseline.tsv (model-free k-mer motifs),
logos (`logos`) and summary.html (`summary`), all into one (temporary) folder; no network.

Letters follow the inputs (`alphabet`): RNA inputs give ``ALPHABET= ACGU`` and U in consensus
strings. A model trained on the forward strand only gives ``strands: +`` and sites on ``+``."""

from __future__ import annotations

import csv
from pathlib import Path

from dnanet.inputs.bed import genome_span
from dnanet.interpret.motifs.alphabet import DNA, IUPAC, consensus  # noqa: F401 (consensus: the writers' API)
from dnanet.interpret.motifs.compare import best_families
from dnanet.interpret.motifs.logos import write_logos
from dnanet.interpret.motifs.select import REPORT_COLUMNS, ClassReport, FoundMotif
from dnanet.interpret.motifs.summary import motif_cells, write_summary

TSV_COLUMNS = [
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
    "class_with_site",
    "background_with_site",
    "faithfulness",
    "best_match",
    "best_match_id",
    "best_match_family",
    "match_p",
    "match_q",
    "top_matches",
]


def write_meme(
    path: Path, motifs: list[FoundMotif], letters: str = DNA, both_strands: bool = True
) -> None:
    """MEME minimal format, motifs in the given order (most significant first); E= holds the
    enrichment q-value, nsites= the number of class sites; ``ALPHABET=`` `letters` and
    ``strands:`` + - (or + for a model trained on the forward strand only)."""
    lines = [
        "MEME version 4",
        "",
        f"ALPHABET= {letters}",
        "",
        f"strands: {'+ -' if both_strands else '+'}",
        "",
        "Background letter frequencies",
        " ".join(f"{letter} 0.25" for letter in letters),
        "",
    ]
    for motif in motifs:
        lines.append(f"MOTIF {motif.id} {consensus(motif.pwm, letters)}")
        lines.append(
            f"letter-probability matrix: alength= 4 w= {motif.pwm.shape[1]} "
            f"nsites= {max(1, len(motif.sites))} E= {motif.q:.3g}"
        )
        lines += [" ".join(f"{value:.6f}" for value in column) for column in motif.pwm.T]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def top_matches_text(motif: FoundMotif) -> str:
    """The known motifs that match best, e.g.
    ``CTCF MA0139.2 q=1.2e-08; CTCFL MA1102.3 q=0.003``."""
    return "; ".join(f"{m.name} {m.id} q={m.q:.2g}" for m in motif.matches)


def motif_rows(motifs: list[FoundMotif], letters: str = DNA) -> list[list]:
    """One row per motif, columns ``TSV_COLUMNS``."""
    rows = []
    for m in motifs:
        match = m.match
        rows.append(
            [
                *motif_cells(m, letters),
                match.name if match else "",
                match.id if match else "",
                best_families(m.matches),
                f"{match.p:.3g}" if match else "",
                f"{match.q:.3g}" if match else "",
                top_matches_text(m),
            ]
        )
    return rows


def write_tsv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_tables(folder: Path, motifs: list[FoundMotif], letters: str = DNA) -> None:
    """motifs.tsv (columns ``TSV_COLUMNS``) and sites.tsv (motif, sequence id, start, end, strand
    within the sequence, score; and where sequences are genome windows, read from BED intervals,
    the site on the genome: chrom, genome_start, genome_end, genome_strand, 0-based half-open,
    `dnanet.inputs.bed.genome_span`)."""
    write_tsv(folder / "motifs.tsv", TSV_COLUMNS, motif_rows(motifs, letters))
    places = {
        site[:4]: genome_span(*site[:4]) for m in motifs for site in m.sites
    }  # (sequence, start, end, strand) -> its genome place, or None
    genome = any(place is not None for place in places.values())
    extra = ["chrom", "genome_start", "genome_end", "genome_strand"] if genome else []
    with open(folder / "sites.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["motif", "sequence", "start", "end", "strand", "score", *extra])
        for m in motifs:
            writer.writerows(
                [m.id, s, b, e, st, f"{sc:.3f}", *_place(places[s, b, e, st], genome)]
                for s, b, e, st, sc in m.sites
            )


def _place(place: tuple | None, genome: bool) -> list:
    if not genome:
        return []
    return list(place) if place is not None else ["", "", "", ""]


def write_all(
    folder: Path,
    motifs: list[FoundMotif],
    title: str,
    notes: list[str],
    reports: list[ClassReport],
    baseline: list[FoundMotif] | None = None,
    letters: str = DNA,
    both_strands: bool = True,
) -> None:
    """Every output file; baseline.meme and baseline.tsv only when `baseline` is not None."""
    write_meme(folder / "motifs.meme", motifs, letters, both_strands)
    write_tables(folder, motifs, letters)
    write_tsv(folder / "classes.tsv", REPORT_COLUMNS, [report.row() for report in reports])
    write_logos(folder, motifs + (baseline or []), letters)
    if baseline is not None:
        write_meme(folder / "baseline.meme", baseline, letters, both_strands)
        write_tsv(folder / "baseline.tsv", TSV_COLUMNS, motif_rows(baseline, letters))
    write_summary(folder / "summary.html", motifs, title, notes, reports, baseline, letters)
