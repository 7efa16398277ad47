"""Variant effects without a genome (`dnanet variants RUN --pairs FASTA`): a FASTA of ref/alt pairs.

The format: records come in consecutive pairs named ``NAME|ref`` and ``NAME|alt`` (the id, the
header up to its first space, ends in ``|ref`` or ``|alt``, lower case; either record may come
first). ``NAME`` becomes the `id` column. Each pair becomes one `dnanet.interpret.variants.Variant`,
scored by the same code as VCF variants (`dnanet.interpret.variants.write_effects`), with:

- ``pos``: the 1-based position in the ref sequence where the two sequences first differ; ``ref``
  and ``alt``: the stretches that differ once the common prefix and suffix are trimmed (``-`` for
  an empty one: an insertion or a deletion; both ``-`` when the sequences are identical); ``chrom``
  empty.
- the windows: a pair whose two sequences are both exactly the window W long is scored as it is;
  otherwise (longer sequences, or an indel pair of different lengths) each sequence is cut to W
  bases centred on the difference by the VCF path's rule
  (`dnanet.interpret.variants.allele_windows`), so a pair cut from the genome around a VCF variant
  scores as the VCF variant does. Without a known window (a run trained on FASTA, no --window) both
  sequences are scored as they are.

A record that cannot be paired keeps a row of its own, never dropped: status ``malformed`` (an id
without ``|ref`` / ``|alt``) or ``unpaired`` (no partner next to it: the next record has another
NAME, the same tag, or the file ends); a pair whose sequences do not reach W bases around their
difference is ``too_short``. Notes name the FASTA line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dnanet.inputs.read import FastaRecord, read_fasta
from dnanet.interpret.variants import Variant, allele_windows

TAGS = ("ref", "alt")


def _split(record: FastaRecord) -> tuple[str, str | None]:
    """(NAME, "ref" | "alt") of a record's id; the tag is None when the id has neither."""
    name, _, tag = record.id.rpartition("|")
    return (name, tag) if name and tag in TAGS else (record.id, None)


def read_pairs(path: Path) -> Iterator[Variant]:
    """One `Variant` per pair of `path` in file order (windows not yet cut: `prepare_pair`), and one
    per record that cannot be paired (status and note set); streamed, a record at a time."""
    pending: FastaRecord | None = None
    for record in read_fasta(path):
        name, tag = _split(record)
        if tag is None:
            if pending is not None:
                yield _unpaired(pending, f"the next record, line {record.line}, is not its partner")
                pending = None
            yield Variant(
                record.line,
                "",
                "",
                record.id,
                "",
                "",
                "malformed",
                f"line {record.line}: record id '{record.id}' does not end in |ref or |alt",
            )
            continue
        if pending is None:
            pending = record
            continue
        pending_name, pending_tag = _split(pending)
        if pending_name == name and pending_tag != tag:
            ref, alt = (pending, record) if pending_tag == "ref" else (record, pending)
            yield _pair(name, ref, alt, min(pending.line, record.line))
            pending = None
        else:
            yield _unpaired(pending, f"the next record, line {record.line}, is '{record.id}'")
            pending = record
    if pending is not None:
        yield _unpaired(pending, "the file ends")


def _unpaired(record: FastaRecord, why: str) -> Variant:
    name, tag = _split(record)
    partner = f"{name}|{'alt' if tag == 'ref' else 'ref'}"
    return Variant(
        record.line,
        "",
        "",
        name,
        "",
        "",
        "unpaired",
        f"line {record.line}: record '{record.id}' has no partner '{partner}' next to it ({why})",
    )


def _pair(name: str, ref: FastaRecord, alt: FastaRecord, line: int) -> Variant:
    """A pair as a Variant: the differing stretches (common prefix and suffix trimmed) as alleles,
    the whole sequences kept as windows until `prepare_pair` cuts them."""
    reference, alternative = ref.sequence.upper(), alt.sequence.upper()
    shorter = min(len(reference), len(alternative))
    prefix = next((i for i in range(shorter) if reference[i] != alternative[i]), shorter)
    suffix = 0
    while suffix < shorter - prefix and reference[-1 - suffix] == alternative[-1 - suffix]:
        suffix += 1
    ref_allele = reference[prefix : len(reference) - suffix].decode()
    alt_allele = alternative[prefix : len(alternative) - suffix].decode()
    if not ref_allele and not alt_allele:  # identical: the "difference" is the middle base
        prefix = len(reference) // 2
    variant = Variant(
        line,
        "",
        str(prefix + 1),
        name,
        ref_allele or "-",
        alt_allele or "-",
        ref_window=ref.sequence,
        alt_window=alt.sequence,
    )
    variant.ref_offset = variant.alt_offset = prefix
    return variant


def prepare_pair(variant: Variant, width: int | None) -> Variant:
    """Cut a pair's sequences to `width`-base windows centred on their difference (module
    docstring); as they are when both are `width` long, or when `width` is None."""
    if (
        variant.status != "ok"
        or width is None
        or len(variant.ref_window) == len(variant.alt_window) == width
    ):
        return variant
    start = variant.ref_offset
    ref_length = len(variant.ref.strip("-"))
    alt_length = len(variant.alt.strip("-"))
    ref_start, ref_end, alt_start, alt_end = allele_windows(start, ref_length, alt_length, width)
    shift = len(variant.alt_window) - len(variant.ref_window)  # alt coordinates past the allele
    if max(ref_length, alt_length) > width:
        variant.status = "allele_too_long"
        variant.note = (
            f"line {variant.line}: the differing stretch is longer than the window ({width})"
        )
    elif (
        min(ref_start, alt_start) < 0
        or ref_end > len(variant.ref_window)
        or alt_end > len(variant.ref_window)
    ):
        variant.status = "too_short"
        variant.note = (
            f"line {variant.line}: a {width}-base window centred on the difference at position "
            f"{variant.pos} needs bases {ref_start + 1}-{max(ref_end, alt_end)} "
            "of the ref sequence "
            f"({len(variant.ref_window)} bases); give pairs of exactly {width} bases "
            "or longer context"
        )
    if variant.status != "ok":
        variant.ref_window = variant.alt_window = b""
        return variant
    variant.ref_window = variant.ref_window[ref_start:ref_end]
    variant.alt_window = variant.alt_window[alt_start : alt_end + shift]
    variant.ref_offset, variant.alt_offset = start - ref_start, start - alt_start
    return variant
