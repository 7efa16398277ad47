"""`dnanet.inputs.coverage`: bigWig tracks named on the command line (NAME=PATH), read per window
as float32 (T, L) with missing data as 0 and counted, checked against the genome's chromosome
names and lengths; a blacklist BED read into `ExcludedRegions`."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pyBigWig
import pytest

from dnanet.errors import DnanetError
from dnanet.inputs.coverage import Coverage, Track, parse_tracks, read_excluded

SIZES = {"chr1": 1_000, "chr2": 500}


def write_bigwig(path, sizes: dict[str, int], entries: dict[str, list[tuple[int, int, float]]]):
    """A bigWig with `sizes` in its header and (start, end, value) runs per chromosome; bases in
    no run have no data."""
    handle = pyBigWig.open(str(path), "w")
    handle.addHeader(list(sizes.items()))
    for chrom, runs in entries.items():
        starts, ends, values = zip(*runs)
        handle.addEntries([chrom] * len(runs), list(starts), ends=list(ends), values=list(values))
    handle.close()
    return path


@pytest.fixture
def chip(tmp_path):
    """chr1: 1.0 on [0, 100), no data on [100, 110), 2.5 on [110, 200), 7 on [600, 601); chr2: 3.0
    on [0, 500)."""
    return write_bigwig(
        tmp_path / "chip.bw",
        SIZES,
        {
            "chr1": [(0, 100, 1.0), (110, 200, 2.5), (600, 601, 7.0)],
            "chr2": [(0, 500, 3.0)],
        },
    )


# --- parse_tracks ---------------------------------------------------------------------------


def test_tracks_are_named_by_name_or_by_the_file_stem(chip, tmp_path):
    other = write_bigwig(tmp_path / "input.bigWig", SIZES, {"chr2": [(0, 10, 1.0)]})
    assert parse_tracks([f"signal={chip}", str(other)], "--signal") == [
        Track("signal", chip),
        Track("input", other),
    ]
    assert parse_tracks([str(chip)], "--control") == [Track("chip", chip)]


def test_a_missing_file_names_the_option_and_the_file(tmp_path):
    missing = tmp_path / "nope.bw"
    with pytest.raises(DnanetError, match=r"^--signal: .*nope\.bw: no such file$"):
        parse_tracks([f"chip={missing}"], "--signal")


def test_a_name_given_twice_names_the_option_and_both_files(chip, tmp_path):
    (tmp_path / "other").mkdir()
    again = write_bigwig(tmp_path / "other" / "chip.bw", SIZES, {"chr1": [(0, 5, 1.0)]})
    with pytest.raises(DnanetError) as raised:
        parse_tracks([str(chip), str(again)], "--signal")  # both named 'chip' by their stem
    message = str(raised.value)
    assert message.startswith("--signal: the track name 'chip' is given twice")
    assert str(chip) in message and str(again) in message and "\n" not in message


def test_an_empty_name_is_refused(chip):
    with pytest.raises(DnanetError, match="--signal .*the track name is empty"):
        parse_tracks([f"={chip}"], "--signal")


def test_a_file_that_is_not_a_bigwig_is_refused_quietly(tmp_path, capfd):
    bedgraph = tmp_path / "chip.bedGraph"
    bedgraph.write_text("chr1\t0\t10\t1.5\n")
    with pytest.raises(DnanetError) as raised:
        parse_tracks([f"chip={bedgraph}"], "--signal")
    assert str(raised.value).startswith(f"--signal: {bedgraph} is not a bigWig file")
    assert "bedGraphToBigWig" in str(raised.value)
    bigbed = tmp_path / "peaks.bb"
    bigbed.write_bytes(b"\xeb\xf2\x89\x87" + bytes(60))
    with pytest.raises(DnanetError, match="peaks.bb is a bigBed file, not a bigWig"):
        parse_tracks([str(bigbed)], "--control")
    empty = tmp_path / "empty.bw"
    empty.write_bytes(b"")
    with pytest.raises(DnanetError, match="empty.bw is not a bigWig"):
        parse_tracks([str(empty)], "--signal")
    assert capfd.readouterr().err == ""  # nothing from the C library before the one-line error


# --- Coverage -------------------------------------------------------------------------------


def test_fetch_returns_per_base_values_and_counts_missing_data_as_zero(chip, tmp_path):
    flat = write_bigwig(tmp_path / "flat.bw", SIZES, {"chr1": [(0, 1_000, 0.5)]})
    coverage = Coverage(parse_tracks([str(chip), str(flat)], "--signal"), SIZES, tmp_path / "g.fa")
    values = coverage.fetch("chr1", 95, 115)
    assert values.dtype == np.float32 and values.shape == (2, 20)
    np.testing.assert_array_equal(values[0], [1.0] * 5 + [0.0] * 10 + [2.5] * 5)
    np.testing.assert_array_equal(values[1], [0.5] * 20)
    assert coverage.nan_bases == 10
    np.testing.assert_array_equal(coverage.fetch("chr1", 599, 602)[0], [0, 7, 0])
    assert coverage.nan_bases == 12
    coverage.close()


def test_has_asks_whether_every_track_knows_the_chromosome(chip, tmp_path):
    short = write_bigwig(tmp_path / "short.bw", {"chr1": 1_000}, {"chr1": [(0, 10, 1.0)]})
    with Coverage([Track("a", chip), Track("b", short)], SIZES, tmp_path / "g.fa") as coverage:
        assert coverage.has("chr1") and not coverage.has("chr2") and not coverage.has("chrX")
        with pytest.raises(DnanetError, match="short.bw: the track 'b' has no 'chr2'"):
            coverage.fetch("chr2", 0, 10)


def test_chromosomes_named_without_chr_are_an_error_with_the_hint(tmp_path):
    ensembl = write_bigwig(tmp_path / "ensembl.bw", {"1": 1_000, "2": 500}, {"1": [(0, 10, 1.0)]})
    with pytest.raises(DnanetError) as raised:
        Coverage([Track("chip", ensembl)], SIZES, tmp_path / "genome.fa")
    message = str(raised.value)
    assert message.startswith(f"{ensembl}: the track 'chip' shares no chromosome name")
    assert "has '1' where the genome has 'chr1'" in message and "genome.fa" in message
    other = write_bigwig(tmp_path / "other.bw", {"scaffold9": 100}, {"scaffold9": [(0, 5, 1.0)]})
    with pytest.raises(DnanetError, match=r"track's chromosomes: scaffold9; the genome's: chr1"):
        Coverage([Track("chip", other)], SIZES, tmp_path / "genome.fa")


def test_a_chromosome_of_another_length_is_an_error(tmp_path):
    other = write_bigwig(tmp_path / "hg19.bw", {"chr1": 1_200}, {"chr1": [(0, 10, 1.0)]})
    with pytest.raises(DnanetError, match=r"hg19.bw: chromosome 'chr1' has 1,200 bases in the"):
        Coverage([Track("chip", other)], SIZES, tmp_path / "genome.fa")


def test_fingerprints_and_a_pickled_copy(chip, tmp_path):
    coverage = Coverage([Track("chip", chip)], SIZES, tmp_path / "g.fa")
    assert coverage.fingerprints() == [
        {
            "name": "chip",
            "path": str(chip.resolve()),
            "sha256": hashlib.sha256(chip.read_bytes()).hexdigest(),
        }
    ]
    copy = pickle.loads(pickle.dumps(coverage))  # as a data-loader worker receives it
    np.testing.assert_array_equal(copy.fetch("chr2", 0, 4), coverage.fetch("chr2", 0, 4))
    copy.close()
    coverage.close()


# --- read_excluded --------------------------------------------------------------------------


def test_excluded_regions_from_a_bed(tmp_path):
    bed = tmp_path / "blacklist.bed"
    bed.write_text("# ENCODE-like\nchr1\t100\t200\tHigh_Signal\nchr1\t150\t300\nchr2\t0\t50\n")
    excluded = read_excluded(bed)
    assert excluded.overlaps("chr1", 250, 260) and excluded.overlaps("chr1", 0, 101)
    assert not excluded.overlaps("chr1", 0, 100) and not excluded.overlaps("chr1", 300, 400)
    assert excluded.overlaps("chr2", 49, 60) and not excluded.overlaps("chr3", 0, 10**6)
    bed.write_text("chr1\t100\t200\nchr1\t300\tx\n")
    with pytest.raises(DnanetError, match=r"blacklist.bed line 2: end is 'x'"):
        read_excluded(bed)
