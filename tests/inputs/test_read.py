"""dnanet.inputs.read on realistic FASTA files and label tables: streaming, the letter policy,
errors.

Every error is a DnanetError whose message names the file and the place (line, record, column,
the offending character), so the expected messages below are spelled out in full.
"""

from __future__ import annotations

import bz2
import gzip
import random
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from Bio import bgzf

from dnanet.cli import app
from dnanet.data.store import open_or_build_store, read_labelled, store_key
from dnanet.errors import DnanetError
from dnanet.examples import example_path
from dnanet.inputs.read import class_name_from_path, read_fasta, read_label_table
from dnanet.inputs.sources import LabelledInput

# Real 101 bp records from the bundled CTCF example (DNABERT sample data, Apache-2.0).
CTCF_00006 = (
    "GTGCGAGATGACGCACTTCCTGCCTGAGGCGGCCGCTGTTCTCGCGGCTTCCGGCAGGTGGCGCTGAGACCACGGG"
    "AAGCCAGCCTGGCTGTCGGTTAGCC"
)
CTCF_00010 = (
    "CCGCCAGGCTCCTCTGCAGCGCGGCGCGCAGCGCCCCCTCGCGGTAGGCGCGGAGGAAGCGGCCACAGGGCTGCCG"
    "CCCGCAGAATCGCAGCTGCACGATC"
)
CTCF_00000 = (
    "GTGGGGAGGGAGGCCGCCCCACTGCAGGTGGGCCTGTAGCAGCTGCACCTGAGGCAGGGCTGGCAGCCCCTGTGGG"
    "GAGGGAGGCCGCCCCACTGCAGGTG"
)


def random_dna(rng: random.Random, n: int = 100) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def wrap(sequence: str, width: int = 60) -> str:
    return "\n".join(sequence[i : i + width] for i in range(0, len(sequence), width))


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def where(path: Path, line: int | None = None) -> str:
    """The start of an error message: the file, and the line when given (as a regex)."""
    return re.escape(f"{path} line {line}" if line is not None else f"{path}")


# --- streaming records -------------------------------------------------------------------


def test_records_stream_in_file_order_with_ids_and_header_line_numbers(tmp_path):
    text = (
        f">ctcf_00006 chr7:27,139,870-27,139,970 CTCF peak\n{CTCF_00006}\n"
        f">ctcf_00010\n{CTCF_00010}\n"
        f">ctcf_00000 background GC-matched\n{CTCF_00000}\n"
    )
    path = write(tmp_path / "ctcf.fa", text)
    records = read_fasta(path)
    assert not isinstance(records, list)  # a generator: files are streamed, not loaded
    first = next(records)
    assert first == ("ctcf_00006", CTCF_00006.encode(), 1, "")
    assert [tuple(r) for r in records] == [
        ("ctcf_00010", CTCF_00010.encode(), 3, ""),
        ("ctcf_00000", CTCF_00000.encode(), 5, ""),
    ]


def test_id_is_the_first_header_token_even_with_tabs(tmp_path):
    path = write(
        tmp_path / "ids.fa",
        f">NR_046018.2\tHomo sapiens DDX11L1\n{CTCF_00006}\n"
        f">chr1:100-200(+)  strand plus\n{CTCF_00010}\n",
    )
    assert [r.id for r in read_fasta(path)] == ["NR_046018.2", "chr1:100-200(+)"]


def test_wrapped_lines_are_joined_and_line_numbers_count_every_line(tmp_path):
    rng = random.Random(7)
    long = random_dna(rng, 250)
    text = f">long\n{wrap(long)}\n>short\n{wrap(CTCF_00006, 50)}\n>last\n{CTCF_00010}\n"
    records = list(read_fasta(write(tmp_path / "wrapped.fa", text)))
    assert [r.sequence.decode() for r in records] == [long, CTCF_00006, CTCF_00010]
    # long: header line 1 + 5 sequence lines; short: line 7 + 3 lines; last: line 11
    assert [r.line for r in records] == [1, 7, 11]


def test_lower_case_is_accepted_and_kept_as_in_the_file(tmp_path):
    soft_masked = CTCF_00006[:40] + CTCF_00006[40:80].lower() + CTCF_00006[80:]
    path = write(tmp_path / "masked.fa", f">masked\n{soft_masked}\n>lower\n{CTCF_00010.lower()}\n")
    assert [r.sequence.decode() for r in read_fasta(path)] == [soft_masked, CTCF_00010.lower()]


def test_windows_line_ends_are_ignored(tmp_path):
    unix = f">ctcf_00006 peak\n{wrap(CTCF_00006)}\n>ctcf_00010\n{wrap(CTCF_00010)}\n"
    plain = list(read_fasta(write(tmp_path / "unix.fa", unix)))
    windows = list(read_fasta(write(tmp_path / "windows.fa", unix.replace("\n", "\r\n"))))
    assert windows == plain
    assert windows[0].id == "ctcf_00006" and not windows[0].sequence.endswith(b"\r")


def test_header_only_line_with_crlf_has_a_clean_id(tmp_path):
    path = write(tmp_path / "crlf.fa", f">ctcf_00006\r\n{CTCF_00006}\r\n")
    assert [r.id for r in read_fasta(path)] == ["ctcf_00006"]


def test_blank_lines_and_spaces_are_ignored_but_counted(tmp_path):
    text = (
        f"\n\n>first\n{CTCF_00006[:50]}\n\n{CTCF_00006[50:]}\n\n"
        f">second\n  {CTCF_00010[:60]} \t\n{CTCF_00010[60:]}\n\n\n"
    )
    records = list(read_fasta(write(tmp_path / "blank.fa", text)))
    assert [(r.id, r.sequence.decode(), r.line) for r in records] == [
        ("first", CTCF_00006, 3),
        ("second", CTCF_00010, 8),
    ]


def test_last_record_without_final_newline(tmp_path):
    path = write(tmp_path / "nofinal.fa", f">a\n{CTCF_00006}\n>b\n{CTCF_00010}")
    assert [r.sequence.decode() for r in read_fasta(path)] == [CTCF_00006, CTCF_00010]


def test_rna_iupac_codes_and_n_are_accepted(tmp_path):
    rna = CTCF_00006.replace("T", "U")
    ambiguous = "ACGTNNNNNRYSWKMBDHVacgtnrysw kmbdhv"
    text = (
        f">rna_transcript\n{rna}\n>ambiguous\n{ambiguous}\n"
        f">gap_of_Ns\n{CTCF_00010[:50]}{'N' * 20}{CTCF_00010[50:]}\n"
    )
    records = list(read_fasta(write(tmp_path / "letters.fa", text)))
    assert [r.sequence.decode() for r in records] == [
        rna,
        ambiguous.replace(" ", ""),
        CTCF_00010[:50] + "N" * 20 + CTCF_00010[50:],
    ]


# --- file names and compression ---------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("bound.fa.gz", "bound"),
        ("x.fasta", "x"),
        ("y.fna", "y"),
        ("promoters.fas", "promoters"),
        ("enhancers.FA", "enhancers"),
        ("/data/chip-seq/ctcf_peaks.fasta.gz", "ctcf_peaks"),
        ("hg38.chr1.fa", "hg38.chr1"),
        (
            "prob_sigma24promoter.txt",
            "prob_sigma24promoter",
        ),  # sequences as text: the class is still the stem
        ("reads.txt.gz", "reads"),
        ("sites.fa.txt", "sites"),
        ("peaks.GZ", "peaks"),
        ("ctcf.bed", "ctcf.bed"),  # only sequence-file endings are dropped
        (".fa", ".fa"),  # nothing left: the name stays whole
    ],
)
def test_class_name_from_path(name, expected):
    assert class_name_from_path(name) == expected
    assert class_name_from_path(Path(name)) == expected


def _example_text(n: int = 60) -> str:
    rng = random.Random(3)
    return "".join(
        f">peak_{i} chr2:{1000 * i}-{1000 * i + 100}\n{wrap(random_dna(rng), 60)}\n"
        for i in range(n)
    )


def test_gzip_and_plain_give_identical_records(tmp_path):
    text = _example_text()
    plain = list(read_fasta(write(tmp_path / "peaks.fa", text)))
    packed = list(read_fasta(write(tmp_path / "peaks.fa.gz", gzip.compress(text.encode()))))
    assert len(plain) == 60 and packed == plain


def test_gzip_is_detected_from_the_content_not_the_name(tmp_path):
    text = _example_text(5)
    renamed = write(tmp_path / "peaks.fa", gzip.compress(text.encode()))  # gzip without .gz
    assert list(read_fasta(renamed)) == list(read_fasta(write(tmp_path / "plain.fa", text)))


def test_bgzf_and_multi_member_gzip_are_read_whole(tmp_path):
    text = _example_text(40)
    expected = list(read_fasta(write(tmp_path / "plain.fa", text)))
    with bgzf.BgzfWriter(str(tmp_path / "peaks.fa.bgz"), "wb") as handle:
        handle.write(text.encode())
    assert list(read_fasta(tmp_path / "peaks.fa.bgz")) == expected
    half = len(text) // 2
    half = text.index(">", half)
    members = gzip.compress(text[:half].encode()) + gzip.compress(text[half:].encode())
    assert list(read_fasta(write(tmp_path / "members.fa.gz", members))) == expected


# --- FASTA errors -----------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.fa"
    with pytest.raises(DnanetError, match=f"^{where(path)}: no such file$"):
        list(read_fasta(path))


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DnanetError, match=f"^{where(tmp_path)}: is a directory, expected a file$"):
        list(read_fasta(tmp_path))


def test_empty_file(tmp_path):
    path = write(tmp_path / "empty.fa", b"")
    with pytest.raises(DnanetError, match=f"^{where(path)}: the file is empty$"):
        list(read_fasta(path))


def test_only_blank_lines(tmp_path):
    path = write(tmp_path / "blank.fa", "\n\n  \n")
    with pytest.raises(
        DnanetError, match=f"^{where(path)}: no FASTA records \\(no line starts with '>'\\)$"
    ):
        list(read_fasta(path))


@pytest.mark.parametrize(
    "text, line, found",
    [
        (f"{CTCF_00006}\n{CTCF_00010}\n", 1, CTCF_00006[:40] + "…"),  # bare sequences, no headers
        ("@read1 1:N:0:1\nACGTACGTAC\n+\nIIIIIIIIII\n", 1, "@read1 1:N:0:1"),  # a FASTQ file
        ("\n\nsequence\tlabel\nACGT\t1\n", 3, "sequence\tlabel"),  # a TSV, after blank lines
    ],
)
def test_text_without_a_header(tmp_path, text, line, found):
    path = write(tmp_path / "reads.fa", text)
    with pytest.raises(
        DnanetError,
        match=f"^{where(path, line)}: expected a FASTA header starting with '>', "
        f"found {re.escape(repr(found))}$",
    ):
        list(read_fasta(path))


def test_binary_garbage(tmp_path):
    path = write(tmp_path / "image.fa", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    with pytest.raises(
        DnanetError, match=f"^{where(path, 1)}: expected a FASTA header starting with '>'"
    ):
        list(read_fasta(path))


def test_truncated_gzip(tmp_path):
    data = gzip.compress(_example_text(200).encode())
    path = write(tmp_path / "peaks.fa.gz", data[: len(data) // 2])
    with pytest.raises(DnanetError, match=f"^{where(path)}: truncated or corrupt gzip file \\("):
        list(read_fasta(path))


def test_corrupt_gzip_crc(tmp_path):
    data = bytearray(gzip.compress(_example_text(20).encode()))
    data[-8] ^= 0xFF  # the CRC-32 in the trailer
    path = write(tmp_path / "peaks.fa.gz", bytes(data))
    with pytest.raises(DnanetError, match=f"^{where(path)}: truncated or corrupt gzip file \\("):
        list(read_fasta(path))


def test_bzip2_is_rejected_by_content(tmp_path):
    path = write(tmp_path / "peaks.fa", bz2.compress(_example_text(5).encode()))
    with pytest.raises(
        DnanetError,
        match=f"^{where(path)}: bzip2-compressed files are not supported; use plain or gzip$",
    ):
        list(read_fasta(path))


def test_empty_sequence_names_the_record_and_its_header_line(tmp_path):
    path = write(
        tmp_path / "peaks.fa", f">ok\n{CTCF_00006}\n>chr3:500-600 empty\n\n>next\n{CTCF_00010}\n"
    )
    records = read_fasta(path)
    assert next(records).id == "ok"  # records before the bad one are still streamed
    with pytest.raises(
        DnanetError, match=f"^{where(path, 3)}: record 'chr3:500-600' has an empty sequence$"
    ):
        next(records)


def test_empty_sequence_at_the_end_of_the_file(tmp_path):
    path = write(tmp_path / "peaks.fa", f">ok\n{CTCF_00006}\n>truncated\n")
    with pytest.raises(
        DnanetError, match=f"^{where(path, 3)}: record 'truncated' has an empty sequence$"
    ):
        list(read_fasta(path))


def test_header_without_id(tmp_path):
    path = write(tmp_path / "peaks.fa", f">ok\n{CTCF_00006}\n> \n{CTCF_00010}\n")
    with pytest.raises(DnanetError, match=f"^{where(path, 3)}: the header '>' has no record id$"):
        list(read_fasta(path))


@pytest.mark.parametrize("bad", ["Z", "-", "*", "5", "X", "."])
def test_illegal_character_names_file_line_column_record_and_character(tmp_path, bad):
    # the bad letter sits on the third line of a wrapped record whose header is on line 3
    sequence = CTCF_00010[:60] + CTCF_00010[60:75] + bad + CTCF_00010[76:]
    text = f">ctcf_00006\n{CTCF_00006}\n>ctcf_00010 chr1\n{wrap(sequence, 30)}\n"
    path = write(tmp_path / "bound.fa", text)
    # sequence lines 4 (0-29), 5 (30-59), 6 (60-89): index 75 is line 6, column 16
    expected = (
        f"{path} line 6, column 16: record 'ctcf_00010' has an illegal character {bad!r}; "
        "allowed: A C G T U, the IUPAC codes B D H K M N R S V W Y (any case)"
    )
    with pytest.raises(DnanetError, match=f"^{re.escape(expected)}$"):
        list(read_fasta(path))


def test_illegal_character_in_crlf_gzip_file(tmp_path):
    text = f">a\r\n{CTCF_00006}\r\n>b\r\nACGT-ACGT\r\n"
    path = write(tmp_path / "aln.fa.gz", gzip.compress(text.encode()))
    with pytest.raises(
        DnanetError, match=f"^{where(path, 4)}, column 5: record 'b' has an illegal character '-'"
    ):
        list(read_fasta(path))


def test_binary_bytes_inside_a_record(tmp_path):
    path = write(tmp_path / "peaks.fa", b">a\n" + CTCF_00006.encode() + b"\n>b\nACGT\x00\xffACGT\n")
    with pytest.raises(
        DnanetError,
        match=f"^{where(path, 4)}, column 5: record 'b' has an illegal character '\\\\x00'",
    ):
        list(read_fasta(path))


# --- label tables -----------------------------------------------------------------------


def test_tsv_label_table(tmp_path):
    path = write(
        tmp_path / "labels.tsv",
        "id\tlabel\tsource\nctcf_00006\tbound\tENCODE\n"
        "ctcf_00010\tbound\tENCODE\nctcf_00000\tbackground\tshuffled\n",
    )
    assert read_label_table(path) == {
        "ctcf_00006": ("bound",),
        "ctcf_00010": ("bound",),
        "ctcf_00000": ("background",),
    }


def test_label_table_with_several_label_columns(tmp_path):
    path = write(tmp_path / "labels.tsv", "id\tgata\tebox\tnote\nr1\t1\t0\tx\nr2\t0\t1\ty\n")
    assert read_label_table(path, label_columns=["gata", "ebox"]) == {
        "r1": ("1", "0"),
        "r2": ("0", "1"),
    }


def test_csv_label_table_with_crlf_and_other_column_names(tmp_path):
    path = write(
        tmp_path / "labels.csv",
        "name,cell_type,class\r\nctcf_00006,K562,bound\r\nctcf_00000,K562,background\r\n",
    )
    assert read_label_table(path, id_column="name", label_columns="class") == {
        "ctcf_00006": ("bound",),
        "ctcf_00000": ("background",),
    }


def test_gzipped_tsv_label_table(tmp_path):
    path = write(tmp_path / "labels.tsv.gz", gzip.compress(b"id\tlabel\nr1\tNA\nr2\tnull\n"))
    # "NA" and "null" are real labels here, not missing values
    assert read_label_table(path) == {"r1": ("NA",), "r2": ("null",)}


@pytest.mark.parametrize(
    "name, text, missing, found",
    [
        ("labels.tsv", "id\tclass\nr1\tbound\n", "label", "id, class"),
        ("labels.csv", "seq_id,label\nr1,bound\n", "id", "seq_id, label"),
        ("labels.tsv", "id,label\nr1,bound\n", "id", "id,label"),  # a CSV named .tsv: one column
    ],
)
def test_label_table_missing_column(tmp_path, name, text, missing, found):
    path = write(tmp_path / name, text)
    with pytest.raises(
        DnanetError,
        match=f"^{where(path)} line 1: no column '{missing}' \\(columns found: {found}\\)$",
    ):
        read_label_table(path)


@pytest.mark.parametrize("name, sep", [("labels.tsv", "\t"), ("labels.csv", ",")])
def test_label_table_duplicate_id(tmp_path, name, sep):
    rows = ["id", "r1", "r2", "r3", "r2"]
    labels = ["label", "bound", "bound", "background", "background"]
    path = write(tmp_path / name, "".join(f"{i}{sep}{label}\n" for i, label in zip(rows, labels)))
    with pytest.raises(
        DnanetError,
        match=f"^{where(path)} lines 3 and 5: id 'r2' appears more than once; each id "
        "names one record$",
    ):
        read_label_table(path)


@pytest.mark.parametrize("name, sep", [("labels.tsv", "\t"), ("labels.csv", ",")])
def test_label_table_empty_label(tmp_path, name, sep):
    path = write(
        tmp_path / name, f"id{sep}label\nr1{sep}bound\nr2{sep}background\nr3{sep}  \nr4{sep}bound\n"
    )
    with pytest.raises(DnanetError, match=f"^{where(path, 4)}: id 'r3' has an empty label$"):
        read_label_table(path)


def test_label_table_row_without_label_field(tmp_path):
    path = write(tmp_path / "labels.tsv", "id\tlabel\nr1\tbound\nr2\n")
    with pytest.raises(DnanetError, match=f"^{where(path, 3)}: id 'r2' has an empty label$"):
        read_label_table(path)


def test_label_table_line_numbers_count_blank_lines(tmp_path):
    """Line numbers are lines of the file, even when blank lines precede the bad row."""
    path = write(
        tmp_path / "labels.tsv", "id\tlabel\nr1\tbound\n\nr2\tbackground\nr1\tbackground\n"
    )
    with pytest.raises(
        DnanetError, match=f"^{where(path)} lines 2 and 5: id 'r1' appears more than once"
    ):
        read_label_table(path)


def test_label_table_trailing_tabs_are_ignored(tmp_path):
    """Rows ending in a tab (common in spreadsheet exports) are read as if it were not there."""
    path = write(tmp_path / "labels.tsv", "id\tlabel\nr1\tbound\t\nr2\tbackground\t\n")
    assert read_label_table(path) == {"r1": ("bound",), "r2": ("background",)}


def test_label_table_ragged_row_is_a_one_line_error_naming_the_line(tmp_path):
    path = write(tmp_path / "labels.tsv", "id\tlabel\nr1\tbound\nr2\tbackground\tK562\n")
    with pytest.raises(DnanetError, match=f"^{where(path)}: cannot read as a TSV table") as caught:
        read_label_table(path)
    message = str(caught.value)
    assert "line 3" in message
    assert "\n" not in message


def test_label_table_missing_and_empty_files(tmp_path):
    with pytest.raises(DnanetError, match=f"^{where(tmp_path / 'labels.tsv')}: no such file$"):
        read_label_table(tmp_path / "labels.tsv")
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(DnanetError, match=f"^{where(path)}: the file is empty$"):
        read_label_table(path)


# --- resources --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "compress, ending",
    [
        (False, "complete"),
        (False, "illegal character"),
        (True, "complete"),
        (True, "illegal character"),
        (True, "truncated"),
    ],
)
def test_input_files_are_closed_after_reading(tmp_path, monkeypatch, compress, ending):
    """Every file read_fasta opens is closed when reading ends, normally or with an error."""
    opened = []

    def tracking_open(*args, **kwargs):
        handle = open(*args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr("dnanet.inputs.read.open", tracking_open, raising=False)
    text = _example_text(200) + (">bad\nACGTZ\n" if ending == "illegal character" else "")
    data = gzip.compress(text.encode()) if compress else text.encode()
    if ending == "truncated":
        data = data[: len(data) // 2]
    path = write(tmp_path / ("peaks.fa.gz" if compress else "peaks.fa"), data)
    if ending == "complete":
        assert len(list(read_fasta(path))) == 200
    else:
        with pytest.raises(DnanetError, match=f"^{where(path)}"):
            list(read_fasta(path))
    assert opened and all(handle.closed for handle in opened)


# --- ids: UTF-8 only, each used once -------------------------------------------------------


def test_headers_that_differ_only_in_non_utf8_bytes_are_an_error_not_one_id(tmp_path):
    """Latin-1 'é' (0xE9) and 'è' (0xE8) used to be replaced by U+FFFD: two records, one id,
    exit 0."""
    path = write(
        tmp_path / "peaks.fa", b">peak_1\nACGT\n>caf\xe9_2 ChIP\nACGT\n>caf\xe8_2 ChIP\nACGT\n"
    )
    with pytest.raises(
        DnanetError,
        match=f"^{where(path, 3)}, column 5: the header has a byte that is not UTF-8 "
        r"\(0xe9 in '>caf\\xe9_2 ChIP'\); ids must be UTF-8 text$",
    ):
        list(read_fasta(path))
    utf8 = write(tmp_path / "utf8.fa", ">café_2\nACGT\n>cafè_2\nACGT\n".encode())
    assert [record.id for record in read_fasta(utf8)] == ["café_2", "cafè_2"]


def test_a_non_utf8_byte_in_a_gzip_fasta_names_the_header_line(tmp_path):
    text = _example_text(5).encode().replace(b">peak_3", b">peak\xff3")
    path = write(tmp_path / "peaks.fa.gz", gzip.compress(text))
    with pytest.raises(
        DnanetError, match=f"^{where(path, 10)}, column 6: the header has a byte that is not UTF-8"
    ):
        list(read_fasta(path))


@pytest.mark.parametrize("name", ["labels.tsv", "labels.tsv.gz"])
def test_a_non_utf8_label_table_names_the_line_and_column(tmp_path, name):
    data = (
        "id\tlabel\nctcf_00023\tbound\nctcf_00026\tbound\n".encode()
        + b"ctcf_0\xe90036\tbackground\n"
    )
    path = write(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(
        DnanetError,
        match=f"^{where(path, 4)}, column 7: a byte that is not UTF-8; label tables "
        "must be UTF-8 text$",
    ):
        read_label_table(path)


def _with_repeated_ids(tmp_path: Path) -> Path:
    """Held-out CTCF records with two ids used again (two exports concatenated, renumbered
    alike)."""
    text = example_path("heldout_bound.fa").read_text()
    records = text.split(">")[1:9]
    names = ["peak_1", "peak_2", "peak_3", "peak_1", "peak_4", "peak_2", "peak_5", "peak_6"]
    return write(
        tmp_path / "bound.fa",
        "".join(f">{name}\n{record.split(chr(10), 1)[1]}" for name, record in zip(names, records)),
    )


def test_training_refuses_an_id_used_twice_in_one_file_naming_both_lines(tmp_path):
    path = _with_repeated_ids(tmp_path)
    background = LabelledInput("background", example_path("heldout_background.fa"))
    message = (
        f"^{where(path)} lines 1 and 7: record id 'peak_1' is used twice for different records; "
        r"ids name records in every output and in --labels tables, "
        r"so each must be unique within a file \(rename or drop one\)$"
    )
    with pytest.raises(DnanetError, match=message):
        read_labelled([LabelledInput("bound", path), background])
    inputs = [LabelledInput("bound", path), background]
    with pytest.raises(DnanetError, match=message):
        open_or_build_store(tmp_path / "stores", store_key(inputs, None, {}), inputs)
    assert list((tmp_path / "stores").iterdir()) == []  # no store, no partial left behind
    # the same id in two different files is allowed (each file's ids name its own records)
    first = write(tmp_path / "first.fa", ">peak_1\nACGTACGT\n")
    second = write(tmp_path / "second.fa", ">peak_1\nGGCCGGCC\n")
    assert list(
        read_labelled([LabelledInput("bound", first), LabelledInput("background", second)]).ids
    ) == ["peak_1", "peak_1"]


def test_ids_repeated_because_headers_share_a_first_word_get_a_fix_that_works(tmp_path):
    """The E. coli non-promoter file names every record '>Escherichia coli K-12 ...': ids (the
    first word) repeat though the headers differ. The error says so and gives the sed line, and
    the file that line makes reads."""
    source = "".join(
        f">Escherichia coli K-12 {start}_{start + 81}\n{'ACGT' * 20}{last}\n"
        for start, last in ((2486131, "A"), (3292866, "C"), (2846911, "G"))
    )
    path = write(tmp_path / "negative.fa", source)
    with pytest.raises(DnanetError) as error:
        read_labelled([LabelledInput("negative", path)])
    message = str(error.value)
    assert "lines 1 and 3: record id 'Escherichia' is used twice" in message
    assert "these headers differ after it" in message and "sed '/^>/s/ /_/g'" in message
    fixed = subprocess.run(
        ["sed", "/^>/s/ /_/g", str(path)], capture_output=True, text=True, check=True
    ).stdout
    records = read_labelled([LabelledInput("negative", write(tmp_path / "fixed.fa", fixed))])
    assert list(records.ids)[0] == "Escherichia_coli_K-12_2486131_2486212"


def test_a_record_listed_twice_is_kept_once_and_counted_in_memory_and_in_a_store(tmp_path):
    """Published CLIP negatives list some sites twice, word for word (PUM2: lines 446 and 2036):
    the copy is dropped, counted in the input's provenance and noted, in memory and in an on-disk
    store alike (wrapped differently or in lower case, it is still the same record). A repeated
    id whose sequence differs is still refused, naming both lines."""
    source = (
        ">site_1\nACGTACGTAC\nGGTT\n>site_2\nTTTTGGGGCC\n>site_1\nacgtacgtacggtt\n"
        ">site_3\nGGGAAA\n>site_2\nTTTTGGGGCC\n"
    )
    path = write(tmp_path / "negative.fa", source)
    inputs = [
        LabelledInput("negative", path),
        LabelledInput("other", write(tmp_path / "o.fa", ">x\nAC\n")),
    ]
    for records in (
        read_labelled(inputs),
        open_or_build_store(tmp_path / "stores", store_key(inputs, None, {}), inputs),
    ):
        assert list(records.ids) == ["site_1", "site_2", "site_3", "x"]
        assert list(np.diff(records.offsets)) == [14, 10, 6, 2]
        assert [records.where(i) for i in range(4)] == [
            f"{path} line 1",
            f"{path} line 4",
            f"{path} line 8",
            f"{tmp_path / 'o.fa'} line 1",
        ]
        assert [label for (label,) in records.labels] == ["negative"] * 3 + ["other"]
        entry = records.provenance[0]
        assert entry["records"] == 3 and entry["identical_repeats"] == 2
        assert entry["notes"] == [
            f"{path}: 2 records repeat an earlier record exactly (same id and sequence; first "
            "copy: line 6, id 'site_1'): each kept once"
        ]
        assert "identical_repeats" not in records.provenance[1]
    different = write(tmp_path / "different.fa", source.replace("GGTT\n>site_2", "GGTA\n>site_2"))
    with pytest.raises(DnanetError) as error:
        read_labelled([LabelledInput("negative", different)])
    assert "lines 1 and 6: record id 'site_1' is used twice for different records" in str(
        error.value
    )
    assert str(error.value).endswith("(rename or drop one)")


def test_train_cli_stops_at_a_repeated_id_with_one_line(runner, tmp_path):
    path = _with_repeated_ids(tmp_path)
    result = runner.invoke(
        app,
        [
            "train",
            f"bound={path}",
            f"background={example_path('heldout_background.fa')}",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    assert result.exit_code == 1
    assert f"{path} lines 1 and 7: record id 'peak_1' is used twice" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_predict_and_embed_note_repeated_ids_and_keep_every_row_in_order(
    trained_run, runner, tmp_path
):
    path = _with_repeated_ids(tmp_path)
    note = (
        f"note: {path}: 2 records reuse an earlier record's id (first: 'peak_1', lines 1 and 7); "
        "every record keeps its own row, in input order"
    )
    out = tmp_path / "p.tsv"
    result = runner.invoke(
        app, ["predict", str(trained_run), str(path), "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert note in " ".join(result.stderr.split())
    rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    assert [row[0] for row in rows] == [
        "peak_1",
        "peak_2",
        "peak_3",
        "peak_1",
        "peak_4",
        "peak_2",
        "peak_5",
        "peak_6",
    ]
    assert rows[0][2:] != rows[3][2:]  # two different records: each its own prediction
    result = runner.invoke(
        app, ["embed", str(trained_run), str(path), "--out", str(tmp_path / "e.tsv"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert note in " ".join(result.stderr.split())
    assert [line.split("\t")[0] for line in (tmp_path / "e.tsv").read_text().splitlines()[1:]][
        :4
    ] == ["peak_1", "peak_2", "peak_3", "peak_1"]
    unique = write(tmp_path / "unique.fa", example_path("heldout_bound.fa").read_bytes())
    result = runner.invoke(
        app, ["predict", str(trained_run), str(unique), "--out", str(out), "--quiet", "--overwrite"]
    )
    assert result.exit_code == 0 and "reuse" not in result.stderr
