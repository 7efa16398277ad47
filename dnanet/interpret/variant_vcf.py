"""`dnanet variants --out effects.vcf.gz`: the input VCF written back with the effects in INFO.

Every line of the input comes back in its order, its INFO gaining one key per effect column of
the TSV (`dnanet.interpret.variants`: ``ref_NAME``, ``diff_NAME``, ... and with a null or an
ensemble ``p_NAME``, ``q_NAME``, ``null_sd_NAME``, ``sd_NAME``), named ``DNANET_`` + the column
(characters a VCF key cannot hold become ``_``), each declared by a ``##INFO`` header line with
``Number=A``: one value per ALT allele in the record's ALT order, ``.`` where an allele was not
scored. ``DNANET_status`` (``Type=String``) holds each allele's status (``ok``, ``ref_mismatch``,
... as in the TSV's status column). So every reader (htslib/pysam, cyvcf2, bcftools query) parses
the values as typed floats per allele.

- Header: the input's meta lines, its ``##INFO`` lines for ``DNANET_`` keys dropped (a file
  scored before is scored afresh, its old keys removed from INFO too), then the new ``##INFO``
  lines, ``##contig`` lines from the genome when the input declares none, and the ``#CHROM`` line
  (written when the input has none).
- Records: the input's 8+ columns unchanged but INFO. A line that is not a VCF record (status
  ``malformed``: fewer than 8 columns, POS not a number) is left out, since no reader could parse
  it; the summary counts it.
- ``.vcf.gz`` / ``.vcf.bgz``: BGZF (`Bio.bgzf`), so ``tabix -p vcf`` indexes it when the input is
  sorted (records keep the input's order); ``.vcf``: plain text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import TextIO

from dnanet.errors import DnanetError
from dnanet.interpret.variants import BASE_COLUMNS, open_text, read_vcf

VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz")
PREFIX = "DNANET_"
_KEY_CHARACTER = re.compile(r"[^0-9A-Za-z_.]")
_MEANINGS = {
    "ref": "output {name} of the reference window",
    "alt": "output {name} of the alternative window",
    "diff": "alt - ref of output {name}",
    "log_odds_diff": "logit(alt) - logit(ref) of output {name}",
    "lfc": "log2 fold change of the predicted counts of track {name}, log2((1 + alt) / (1 + ref))",
    "jsd": "Jensen-Shannon distance (base 2) of the ref and alt predicted profiles of track {name}",
    "sd": "standard deviation over the ensemble's members of the tested effect of {name}",
    "p": "empirical two-sided p-value of the tested effect of {name} against the null draws",
    "q": "Benjamini-Hochberg q-value of p over the file, output {name}",
    "null_sd": "standard deviation of the null draws' tested effects of {name}",
}


def is_vcf_output(out: Path) -> bool:
    """Whether --out names a VCF (by its suffix) rather than the TSV."""
    return out.name.lower().endswith(VCF_SUFFIXES)


def info_key(column: str) -> str:
    """The INFO key of an effect column: ``DNANET_`` + the column, other characters as ``_``."""
    return PREFIX + _KEY_CHARACTER.sub("_", column)


def info_lines(columns: list[str], names: list[str]) -> list[str]:
    """The ``##INFO`` header lines of the effect `columns` (outputs `names`), status first."""
    lines = [
        f'##INFO=<ID={PREFIX}status,Number=A,Type=String,Description="dnanet variants: '
        'status of each ALT allele (ok: scored; else why not, as in the TSV)">'
    ]
    for column in columns:
        meaning = _meaning(column, names).replace('"', "'")
        lines.append(
            f"##INFO=<ID={info_key(column)},Number=A,Type=Float,"
            f'Description="dnanet variants: {meaning}">'
        )
    keys = [info_key(column) for column in columns]
    if len(set(keys)) != len(keys):
        raise DnanetError(
            "the outputs' names make the same VCF INFO key twice; write a .tsv instead"
        )
    return lines


def _meaning(column: str, names: list[str]) -> str:
    for name in sorted(names, key=len, reverse=True):  # the longest name that ends the column
        prefix = column[: -len(name) - 1]
        if column.endswith(f"_{name}") and prefix in _MEANINGS:
            return _MEANINGS[prefix].format(name=name)
    return column


def write_vcf(
    vcf: Path,
    table: Path,
    out: Path,
    names: list[str],
    sizes: dict[str, int],
    compressed: bool,
) -> int:
    """Write `vcf` back into `out` (BGZF when `compressed`, else text) with the rows of the TSV
    `table` (the effects of `vcf`'s variants, in its order) in INFO (module docstring); `names`:
    the run's outputs, `sizes`: the genome's chromosome lengths for ``##contig`` lines. Returns
    the lines left out (malformed)."""
    with open(table, newline="") as handle, _open_output(out, compressed) as target:
        rows = csv.reader(handle, delimiter="\t")
        columns = next(rows)[len(BASE_COLUMNS) :]
        extra = info_lines(columns, names)
        per_line = groupby(zip(read_vcf(vcf), rows), key=lambda pair: pair[0].line)
        return _write_lines(vcf, per_line, columns, extra, sizes, target)


def _write_lines(vcf, per_line, columns, extra, sizes, target: TextIO) -> int:
    """The header and the records of `vcf`, each with its rows' cells in INFO."""
    status = BASE_COLUMNS.index("status")
    left_out, header_done, contigs, first = 0, False, False, True
    current = next(per_line, None)
    with open_text(vcf) as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if first and line and not line.startswith("##fileformat="):
                target.write("##fileformat=VCFv4.2\n")
            first = first and not line
            if line.startswith("##"):
                contigs = contigs or line.startswith("##contig=")
                if not line.startswith(f"##INFO=<ID={PREFIX}"):
                    target.write(line + "\n")
                continue
            if line.startswith("#") or (line and not header_done):
                if not header_done:
                    _write_header(target, extra, {} if contigs else sizes, line)
                    header_done = True
                if line.startswith("#"):
                    continue
            if not line:
                continue
            while current is not None and current[0] < number:
                current = next(per_line, None)
            pairs = list(current[1]) if current is not None and current[0] == number else []
            if not pairs or pairs[0][0].status == "malformed":
                left_out += 1
                continue
            cells = [row[len(BASE_COLUMNS) :] for _, row in pairs]
            statuses = [row[status] for _, row in pairs]
            target.write(_with_info(line, columns, cells, statuses) + "\n")
    if not header_done:
        if first:
            target.write("##fileformat=VCFv4.2\n")
        _write_header(target, extra, {} if contigs else sizes, "")
    return left_out


def _write_header(target: TextIO, extra: list[str], sizes: dict[str, int], line: str) -> None:
    """The new ``##INFO`` (and ``##contig``) lines, then the ``#CHROM`` line (the input's, or the
    8 fixed columns when `line` is not one)."""
    for header_line in extra:
        target.write(header_line + "\n")
    for chrom, size in sizes.items():
        target.write(f"##contig=<ID={chrom},length={size}>\n")
    if line.startswith("#"):
        target.write(line + "\n")
    else:
        target.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


def _with_info(line: str, columns: list[str], cells: list[list[str]], statuses: list[str]) -> str:
    """`line` with INFO's old ``DNANET_`` keys replaced by the alleles' status and cells."""
    fields = line.split("\t")
    old = fields[7].split(";")
    kept = [item for item in old if item not in ("", ".") and not item.startswith(PREFIX)]
    added = [f"{PREFIX}status={','.join(statuses)}"]
    for i, column in enumerate(columns):
        values = [allele[i] or "." for allele in cells]
        added.append(f"{info_key(column)}={','.join(values)}")
    fields[7] = ";".join(kept + added)
    return "\t".join(fields)


@contextmanager
def _open_output(out: Path, compressed: bool) -> Iterator[TextIO]:
    """`out` for text, BGZF-compressed when `compressed`."""
    if compressed:
        from Bio import bgzf

        with bgzf.BgzfWriter(str(out), "wb") as raw:
            yield _BgzfText(raw)
    else:
        with open(out, "w", newline="") as handle:
            yield handle


class _BgzfText:
    """Text writes into a `Bio.bgzf.BgzfWriter` (bytes, UTF-8)."""

    def __init__(self, raw):
        self.raw = raw

    def write(self, text: str) -> None:
        self.raw.write(text.encode())
