"""BED parsing, interval files recognised, windows and the ids of interval records
(`dnanet.inputs.bed`)."""

from __future__ import annotations

import pytest

from dnanet.errors import DnanetError
from dnanet.inputs.bed import (
    Interval,
    genome_span,
    is_interval_file,
    parse_record_id,
    read_intervals,
    record_id,
    reverse_complement,
    window_of,
)
from tests.inputs.test_genome import write


def test_bed3_bed6_and_narrowpeak_lines_are_read_with_strand_and_summit(tmp_path):
    bed = write(
        tmp_path / "x.bed",
        "# comment\ntrack name=x\nbrowser position chr1\n\nchrA\t10\t50\n"
        "chrA\t100\t200\tn\t0\t-\nchrB\t5\t25\tpeak\t900\t.\t3.2\t10\t4\t7\n",
    )
    assert list(read_intervals(bed)) == [
        Interval("chrA", 10, 50, ".", -1, 5),
        Interval("chrA", 100, 200, "-", -1, 6, "n"),
        Interval("chrB", 5, 25, ".", 7, 7, "peak"),
    ]
    spaces = write(tmp_path / "spaces.bed", "chrA 1 5\n")
    assert list(read_intervals(spaces)) == [Interval("chrA", 1, 5, ".", -1, 1)]


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("chrA\t10", "line 2: expected at least 3 tab-separated columns"),
        ("chrA\tten\t20", "line 2: start is 'ten', expected a whole number"),
        ("chrA\t-5\t20", "line 2: start is '-5'"),
        ("chrA\t20\t20", "line 2: start 20 is not below end 20"),
        ("chrA\t1\t20\tn\t0\tx", "line 2: strand (column 6) is 'x'"),
        (
            "chrA\t1\t20\tn\t0\t.\t1\t1\t1\t19",
            "line 2: summit offset 19 lies outside the 19-base interval",
        ),
        ("chrA\t1\t20\tn\t0\t.\t1\t1\t1\tmid", "line 2: summit (column 10 of narrowPeak) is 'mid'"),
    ],
)
def test_a_malformed_bed_line_is_an_error_naming_file_and_line(tmp_path, line, fragment):
    bed = write(tmp_path / "bad.bed", f"chrA\t1\t5\n{line}\n")
    with pytest.raises(DnanetError, match=None) as error:
        list(read_intervals(bed))
    assert str(error.value).startswith(f"{bed} {fragment}"), str(error.value)


def test_interval_files_are_recognised_by_name_or_content(tmp_path):
    for name in ("a.bed", "a.narrowPeak", "a.bed.gz", "a.broadPeak"):
        assert is_interval_file(tmp_path / name)
    assert is_interval_file(write(tmp_path / "peaks.txt", "#x\nchr1\t5\t10\n"))
    assert not is_interval_file(write(tmp_path / "seqs.txt", ">r1\nACGT\n"))
    assert not is_interval_file(
        write(tmp_path / "a.fa", "chr1\t5\t10\n")
    )  # a FASTA name is a FASTA


def test_windows_centre_on_the_summit_or_the_interval_and_ids_round_trip():
    assert window_of(Interval("c", 100, 300, ".", 30, 1), 50) == (105, 155)  # summit 130
    assert window_of(Interval("c", 100, 300, ".", -1, 1), 50) == (175, 225)  # centre 200
    assert window_of(Interval("c", 100, 300, "+", -1, 1), None) == (100, 300)
    assert window_of(Interval("c", 100, 301, ".", -1, 1), 51) == (175, 226)
    assert record_id("chr2", 1000, 1200, "+") == "chr2:1000-1200(+)"
    assert parse_record_id("chr2:1000-1200(+)") == ("chr2", 1000, 1200, "+")
    assert parse_record_id("chrUn_KI270742v1:5-9(.)/shuffle2") == ("chrUn_KI270742v1", 5, 9, ".")
    assert parse_record_id("HLA-A*01:01:01:01") is None and parse_record_id("seq1") is None
    assert reverse_complement(b"AACGTn") == b"nACGTT"


def test_a_site_in_a_window_maps_to_the_genome_on_either_strand(tmp_path):
    """Motif sites are offsets within a record; for a record read from a genome window they are
    also given on the genome. A '-' window was reverse-complemented: offsets count from its end
    and the strand flips; the genome's bases there are the site's."""
    from dnanet.inputs.genome import open_genome
    from dnanet.inputs.interval_source import Window, read_window

    bases = "ACGTTGCAAGGCTTACCGATGGATCCATAGGCTAGCTTACGATCGGATCCGAT" * 4
    fasta = write(tmp_path / "g.fa", f">chr1\n{bases}\n")
    genome = open_genome(fasta)
    for strand in "+-.":
        window = Window("chr1", 20, 120, strand, Interval("chr1", 20, 120, strand, -1, 1))
        sequence = read_window(genome, window)
        chrom, start, end, site_strand = genome_span(record_id(*window[:4]), 10, 22, "+")
        assert chrom == "chr1" and end - start == 12
        on_genome = genome.fetch("chr1", start, end)
        expected = reverse_complement(on_genome) if strand == "-" else on_genome
        assert sequence[10:22] == expected
        assert site_strand == ("-" if strand == "-" else "+")
    assert genome_span("chr1:20-120(-)", 10, 22, "+") == ("chr1", 98, 110, "-")
    assert genome_span("not_a_window", 10, 22, "+") is None
