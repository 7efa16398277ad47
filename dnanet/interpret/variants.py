"""Variant effects: score VCF variants with a trained model (`dnanet variants`).

A small plain VCF reader (text or gzip; the 8 fixed columns, ``#`` header lines skipped) yields one
`Variant` per alternative allele (multi-allelic records are split), with its line number. Each
variant gets a window of the model's input length W from the genome: the reference window holds
REF with ``(W - len(REF)) // 2`` genome bases on its left; the alternative window holds ALT with
``(W - len(ALT)) // 2`` genome bases on its left and the genome after REF on its right, so both are
W long and the allele stays centred (indels shift the right flank). REF is checked against the
genome (case-insensitive). A variant that cannot be scored keeps its row with a `status` and
a `note`:

  ok                  scored
  malformed           the line is not a VCF data line (fewer than 8 columns, POS not a positive
                      integer, an empty or non-DNA allele)
  unknown_chromosome  CHROM is not in the genome
  symbolic_allele     ALT is symbolic or a breakend (<DEL>, <*>, *, N[chr1:5[ ...) or missing (.)
  ref_mismatch        REF differs from the genome at POS
  allele_too_long     REF or ALT is longer than the window
  off_chromosome_end  the window runs off a chromosome end
  unpaired            (--pairs, `dnanet.interpret.variant_pairs`) a record without its ref/alt
                      partner
  too_short           (--pairs) the pair's sequences do not reach the window around their
                      difference

Scoring is streamed in chunks (memory does not grow with the VCF) through
`dnanet.interpret.variant_scoring.pair_scorer` (repeated windows once, SNVs of a one-hot CNN as
mutants of their reference), strand-averaged when the run averages strands. Per output
NAME (`effect_header`):

- classification and multilabel: ``ref_NAME``, ``alt_NAME`` (probabilities), ``diff_NAME``
  (alt - ref) and ``log_odds_diff_NAME`` (logit(alt) - logit(ref), from the probabilities clipped
  to [1e-6, 1 - 1e-6]);
- regression: ``ref_NAME``, ``alt_NAME``, ``diff_NAME``;
- a signal run (counts, profile), per track NAME: ``ref_NAME``, ``alt_NAME`` (predicted total
  reads over the target width, as `dnanet predict` reports them), ``lfc_NAME``: the log2 fold
  change of the predicted counts, log2((1 + alt reads) / (1 + ref reads)) = (alt - ref log(1 +
  reads)) / ln 2; and for a profile run ``jsd_NAME``: the Jensen-Shannon distance (base 2, 0 to
  1; `scipy.spatial.distance.jensenshannon`) between the predicted profiles of the reference and
  the alternative window: how much the variant moves where the reads fall, whatever their number.
  Both profiles cover the central target width of their window; an indel shifts the alternative
  window's right flank (see above), so its profile is compared base for base as it stands.

The *tested effect* of each output (`tested_effects`: log_odds_diff for classification and
multilabel, diff for regression, lfc for a signal run) is the one an ensemble's spread
(`MemberSpread`: ``sd_NAME``, the members' standard deviation of it) and the null's p-values
(`dnanet.interpret.variant_null`: ``p_NAME``, ``q_NAME``, ``null_sd_NAME``) are about. Those
columns (`ExtraColumns`) come after every output's effects, in that order.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np
from scipy.spatial.distance import jensenshannon

from dnanet.data.tasks import SIGNAL
from dnanet.errors import DnanetError

STATUSES = (
    "ok",
    "malformed",
    "unknown_chromosome",
    "symbolic_allele",
    "ref_mismatch",
    "allele_too_long",
    "off_chromosome_end",
    "unpaired",
    "too_short",
)
BASE_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "status", "note"]
_DNA = re.compile(r"^[ACGTNacgtn]+$")
_EPSILON = 1e-6


@dataclass
class Variant:
    """One alternative allele of one VCF line (`pos` 1-based as in the VCF); `status` and `note` as
    in the module docstring, `ref_window` / `alt_window` set when the variant can be scored, with
    `ref_offset` / `alt_offset` the 0-based position of the allele's first base in each."""

    line: int
    chrom: str
    pos: str
    id: str
    ref: str
    alt: str
    status: str = "ok"
    note: str = ""
    ref_window: bytes = b""
    alt_window: bytes = b""
    ref_offset: int = 0
    alt_offset: int = 0


def open_text(path: Path) -> TextIO:
    """A VCF as text, gzip (and bgzip) or plain."""
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path, "r")


def read_vcf(path: Path) -> Iterator[Variant]:
    """The variants of a VCF in file order, one per ALT allele; malformed lines as `malformed`
    variants. A file that cannot be read to its end (truncated gzip, not text) is an error naming
    it."""
    try:
        yield from _read_lines(path)
    except (EOFError, OSError, UnicodeDecodeError) as error:
        raise DnanetError(
            f"{path}: cannot be read as a VCF "
            f"({' '.join(str(error).split()) or type(error).__name__})"
        ) from None


def _read_lines(path: Path) -> Iterator[Variant]:
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) < 8:
                yield Variant(
                    number,
                    fields[0],
                    "",
                    "",
                    "",
                    "",
                    "malformed",
                    f"line {number}: {len(fields)} tab-separated columns, a VCF line has "
                    "at least 8",
                )
                continue
            chrom, pos, ident, ref, alts = fields[:5]
            if not pos.isdigit() or int(pos) < 1:
                yield Variant(
                    number,
                    chrom,
                    pos,
                    ident,
                    ref,
                    alts,
                    "malformed",
                    f"line {number}: POS '{pos}' is not a positive integer",
                )
                continue
            for alt in alts.split(","):
                yield Variant(number, chrom, pos, ident, ref, alt)


def prepare(variant: Variant, genome, width: int) -> Variant:
    """Check `variant` against the genome and build its windows (or set its status and note)."""
    if variant.status != "ok":
        return variant
    where = f"line {variant.line}"
    if not _DNA.match(variant.ref):
        return _fail(variant, "malformed", f"{where}: REF '{variant.ref}' is not DNA (A C G T N)")
    alt = variant.alt
    if alt in (".", "*") or alt.startswith("<") or "[" in alt or "]" in alt:
        return _fail(
            variant,
            "symbolic_allele",
            f"{where}: ALT '{alt}' is symbolic, a breakend or missing; only "
            "sequence alleles are scored",
        )
    if not _DNA.match(alt):
        return _fail(variant, "malformed", f"{where}: ALT '{alt}' is not DNA (A C G T N)")
    if variant.chrom not in genome.sizes:
        other = variant.chrom[3:] if variant.chrom.startswith("chr") else f"chr{variant.chrom}"
        hint = (
            f" (it has '{other}': the VCF and the genome name chromosomes differently)"
            if other in genome.sizes
            else ""
        )
        return _fail(
            variant,
            "unknown_chromosome",
            f"{where}: chromosome '{variant.chrom}' is not in the genome{hint}",
        )
    if max(len(variant.ref), len(alt)) > width:
        return _fail(
            variant, "allele_too_long", f"{where}: an allele is longer than the window ({width})"
        )
    start, size = int(variant.pos) - 1, genome.sizes[variant.chrom]
    end = start + len(variant.ref)
    ref_start, ref_end, alt_start, alt_end = allele_windows(
        start, len(variant.ref), len(alt), width
    )
    if end > size:
        return _fail(
            variant,
            "ref_mismatch",
            f"{where}: REF runs past the end of {variant.chrom} ({size:,} bases)",
        )
    found = genome.fetch(variant.chrom, start, end).decode()
    if found.upper() != variant.ref.upper():
        return _fail(
            variant,
            "ref_mismatch",
            f"{where}: REF '{variant.ref}' but the genome has '{found}' at "
            f"{variant.chrom}:{variant.pos}",
        )
    if min(ref_start, alt_start) < 0 or max(ref_end, alt_end) > size:
        return _fail(
            variant,
            "off_chromosome_end",
            f"{where}: the {width}-base window runs off {variant.chrom} ({size:,} bases)",
        )
    variant.ref_window = genome.fetch(variant.chrom, ref_start, ref_end)
    variant.alt_window = (
        genome.fetch(variant.chrom, alt_start, start)
        + alt.encode()
        + genome.fetch(variant.chrom, end, alt_end)
    )
    variant.ref_offset, variant.alt_offset = start - ref_start, start - alt_start
    return variant


def allele_windows(
    start: int, ref_length: int, alt_length: int, width: int
) -> tuple[int, int, int, int]:
    """Where the `width`-base windows of an allele at `start` (0-based) lie on the reference:
    (ref_start, ref_end, alt_start, alt_end). The reference window holds REF with
    ``(width - ref_length) // 2`` bases on its left; the alternative window takes
    ``(width - alt_length) // 2`` reference bases on the left of the allele, ALT, and the bases
    after REF up to `alt_end` (module docstring). The one window rule of the VCF and the pairs
    input."""
    ref_start = start - (width - ref_length) // 2
    alt_left = (width - alt_length) // 2
    return (
        ref_start,
        ref_start + width,
        start - alt_left,
        start + ref_length + (width - alt_left - alt_length),
    )


def _fail(variant: Variant, status: str, note: str) -> Variant:
    variant.status, variant.note = status, note
    return variant


def effect_header(task) -> list[str]:
    """The TSV's columns: `BASE_COLUMNS`, then per output ref_, alt_ and the effects (module
    docstring): diff_ (and log_odds_diff_), or for a signal run's track lfc_ (and jsd_)."""
    columns = list(BASE_COLUMNS)
    for name in task.names:
        columns += [f"ref_{name}", f"alt_{name}"]
        if task.kind in SIGNAL:
            columns += [f"lfc_{name}"] + ([f"jsd_{name}"] if task.kind == "profile" else [])
        else:
            columns.append(f"diff_{name}")
            if task.kind != "regression":
                columns.append(f"log_odds_diff_{name}")
    return columns


def ranking_effects(task) -> tuple[str, ...]:
    """The effects that may rank the variants drawn by --plot (`dnanet variants --plot-rank`):
    those the task's table has per output."""
    if task.kind in SIGNAL:
        return ("lfc",)
    return ("diff",) if task.kind == "regression" else ("log_odds_diff", "diff")


def ranking_effect(task, key: str | None = None) -> str:
    """The effect whose size ranks the variants drawn by --plot: `key` when given (one of
    `ranking_effects`), else the tested effect (`tested_effect_name`): the log-odds change for
    classification, so a variant that breaks a saturated site (probability 0.999 to 0.98: a
    diff of -0.02, yet -3 log-odds) outranks one that nudges a record near 0.5."""
    if key is None:
        return tested_effect_name(task)
    if key not in ranking_effects(task):
        raise DnanetError(
            f"--plot-rank {key}: a {task.kind} run's table has {', '.join(ranking_effects(task))}"
        )
    return key


def headline_effect(
    task, ref: np.ndarray, alt: np.ndarray, target: int, key: str | None = None
) -> float:
    """The `ranking_effect` (`key`) of output `target` from a variant's outputs ``(C,)``: alt -
    ref, the change in log-odds, or a signal run's log2 fold change of the predicted counts."""
    key = ranking_effect(task, key)
    if key == "diff":
        return float(alt[target]) - float(ref[target])
    return float(tested_effects(task, ref, alt)[target])


def log2_fold_changes(task, ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """A signal run's ``lfc`` per track ``(T,)``: log2((1 + alt reads) / (1 + ref reads)), from
    the outputs ``(C,)`` whose first T values are the predicted log(1 + reads)."""
    tracks = len(task.names)
    return (alt[:tracks].astype(np.float64) - ref[:tracks].astype(np.float64)) / np.log(2)


def profile_distances(task, ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """A profile run's ``jsd`` per track ``(T,)``: the Jensen-Shannon distance (base 2) between
    the predicted profiles ``(T, W)`` held in the activated outputs ``(C,)`` of the two windows."""
    tracks, width = len(task.names), task.width
    profiles = np.stack([ref, alt])[:, tracks:].astype(np.float64).reshape(2, tracks, width)
    distances = jensenshannon(profiles[0], profiles[1], base=2, axis=1)
    return np.nan_to_num(distances, nan=0.0)  # rounding can leave identical profiles a tiny < 0


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), _EPSILON, 1 - _EPSILON)
    return np.log(p / (1 - p))


def tested_effect_name(task) -> str:
    """The column prefix of the effect that the null's p-values and an ensemble's spread are
    about: ``log_odds_diff`` (classification, multilabel), ``diff`` (regression) or ``lfc`` (a
    signal run's counts)."""
    if task.kind in SIGNAL:
        return "lfc"
    return "diff" if task.kind == "regression" else "log_odds_diff"


def tested_effects(task, ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """The tested effect of each output float64 ``(..., T)`` from outputs ``(..., C)`` of the
    reference and the alternative windows (T = ``len(task.names)``): the numbers of the
    `tested_effect_name` columns, unrounded."""
    outputs = len(task.names)
    ref, alt = ref[..., :outputs].astype(np.float64), alt[..., :outputs].astype(np.float64)
    if task.kind in SIGNAL:
        return (alt - ref) / np.log(2)
    return alt - ref if task.kind == "regression" else _logit(alt) - _logit(ref)


def format_cell(value: float) -> str:
    """A table cell: 6 significant digits, empty for NaN (not computed)."""
    return "" if np.isnan(value) else f"{value:.6g}"


class ExtraColumns(Protocol):
    """Columns after every output's effects: their names, and the cells of a chunk's scored
    variants from the members' outputs ``(K, n, C)`` of their reference and alternative windows
    (K = 1 but for an ensemble; their mean over K is what the effect cells show)."""

    def header(self) -> list[str]: ...

    def cells(
        self, variants: list[Variant], ref: np.ndarray, alt: np.ndarray
    ) -> list[list[str]]: ...


class MemberSpread:
    """An ensemble's ``sd_NAME`` per output: the standard deviation over its K members (ddof 0,
    as `predict`'s) of the tested effect (`tested_effects`) each member alone gives the variant:
    how much the folds disagree about it."""

    def __init__(self, task):
        self.task = task

    def header(self) -> list[str]:
        return [f"sd_{name}" for name in self.task.names]

    def cells(self, variants: list[Variant], ref: np.ndarray, alt: np.ndarray) -> list[list[str]]:
        spread = tested_effects(self.task, ref, alt).std(0)  # (n, T)
        return [[format_cell(value) for value in row] for row in spread]


def effect_cells(task, ref: np.ndarray, alt: np.ndarray) -> list[str]:
    """One variant's cells after `BASE_COLUMNS`, from its ref and alt outputs ``(C,)``."""
    if task.kind in SIGNAL:
        return _signal_cells(task, ref, alt)
    cells = []
    log_odds = _logit(alt) - _logit(ref) if task.kind != "regression" else None
    for i in range(len(task.names)):
        cells += [f"{ref[i]:.6g}", f"{alt[i]:.6g}", f"{alt[i] - ref[i]:.6g}"]
        if log_odds is not None:
            cells.append(f"{log_odds[i]:.6g}")
    return cells


def _signal_cells(task, ref: np.ndarray, alt: np.ndarray) -> list[str]:
    """A signal run's cells per track: predicted reads of ref and alt, lfc (and jsd)."""
    tracks = len(task.names)
    reads = np.expm1(np.stack([ref[:tracks], alt[:tracks]]).astype(np.float64))  # (2, T)
    lfc = log2_fold_changes(task, ref, alt)
    jsd = profile_distances(task, ref, alt) if task.kind == "profile" else None
    cells = []
    for i in range(tracks):
        cells += [f"{reads[0, i]:.6g}", f"{reads[1, i]:.6g}", f"{lfc[i]:.6g}"]
        if jsd is not None:
            cells.append(f"{jsd[i]:.6g}")
    return cells


def write_effects(
    handle: TextIO,
    variants: Iterable[Variant],
    score: Callable,
    task,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
    header: bool = True,
    on_scored: Callable[[Variant, np.ndarray, np.ndarray], None] | None = None,
    extras: tuple[ExtraColumns, ...] = (),
) -> dict[str, int]:
    """Write one TSV row per variant (already `prepare`d: windows set, or a status), in input order,
    scoring `chunk` variants at a time; ``score(refs, alts) -> (K, n, C), (K, n, C)`` the
    members' outputs (`dnanet.interpret.variant_scoring.pair_scorer`; the effects are of their
    mean). The header row only with `header`
    (a shard after the first has none); `on_scored(variant, ref, alt)` sees each scored variant's
    outputs ``(C,)``; `extras` add their columns after the effects. Returns the count of each
    status."""
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    header_row = effect_header(task) + [name for extra in extras for name in extra.header()]
    if header:
        writer.writerow(header_row)
    counts = {status: 0 for status in STATUSES}
    empty = [""] * (len(header_row) - len(BASE_COLUMNS))
    done = 0
    pending: list[Variant] = []

    def flush() -> None:
        nonlocal done
        scored = [v for v in pending if v.status == "ok"]
        rows = iter(_scored_cells(scored, score, task, on_scored, extras) if scored else ())
        for v in pending:
            cells = next(rows) if v.status == "ok" else empty
            writer.writerow([v.chrom, v.pos, v.id, v.ref, v.alt, v.status, v.note, *cells])
            counts[v.status] += 1
        done += len(pending)
        pending.clear()
        if progress is not None:
            progress(done)

    for variant in variants:
        pending.append(variant)
        if len(pending) >= chunk:
            flush()
    flush()
    return counts


def _scored_cells(
    scored: list[Variant], score: Callable, task, on_scored, extras: tuple[ExtraColumns, ...]
) -> list[list[str]]:
    """The cells after `BASE_COLUMNS` of each of `scored` (status ok), scored in one call."""
    ref_members, alt_members = score([v.ref_window for v in scored], [v.alt_window for v in scored])
    ref, alt = ref_members.mean(0), alt_members.mean(0)  # (n, C): predict_batch's mean
    rows = [effect_cells(task, r, a) for r, a in zip(ref, alt)]
    if on_scored is not None:
        for v, r, a in zip(scored, ref, alt):
            on_scored(v, r, a)
    for extra in extras:
        for row, cells in zip(rows, extra.cells(scored, ref_members, alt_members)):
            row += cells
    return rows
