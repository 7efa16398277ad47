"""Genome coordinates in, without a model: BED parsing, the indexed genome, interval records and their
ids, generated backgrounds, and sliding windows for tracks (checked against a model-free score)."""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dnanet.backgrounds import MAX_UNKNOWN, composition, gc_bin
from dnanet.encode import BYTE_TO_CODE
from dnanet.errors import DnanetError
from dnanet.genome import open_genome
from dnanet.intervals import (Interval, is_interval_file, parse_record_id, read_intervals, record_id,
                              reverse_complement, window_of)
from dnanet.records import LabelledInput, read_labelled, store_key
from dnanet.sources import GenomeSettings, check_settings_used, resolve_inputs
from dnanet.tracks import merged, output_files, parse_region, track_values, Region


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def small_genome(folder: Path) -> Path:
    """chrA: 1,000 seeded random bases; chrB: 600 bases with 200 N in the middle."""
    rng = np.random.default_rng(5)
    a = "".join(rng.choice(list("ACGT"), 1000))
    b = "".join(rng.choice(list("ACGT"), 200)) + "N" * 200 + "".join(rng.choice(list("acgt"), 200))
    lines = [">chrA some description"] + [a[i:i + 70] for i in range(0, 1000, 70)]
    lines += [">chrB"] + [b[i:i + 70] for i in range(0, 600, 70)]
    return write(folder / "small.fa", "\n".join(lines) + "\n")


def records_of(items) -> dict[str, bytes]:
    records = read_labelled(items)
    return {records.ids[i]: bytes(np.asarray(records.flat[records.offsets[i]:records.offsets[i + 1]]))
            for i in range(len(records))}


# --- BED parsing -----------------------------------------------------------------------------------

def test_bed3_bed6_and_narrowpeak_lines_are_read_with_strand_and_summit(tmp_path):
    bed = write(tmp_path / "x.bed", "# comment\ntrack name=x\nbrowser position chr1\n\nchrA\t10\t50\n"
                "chrA\t100\t200\tn\t0\t-\nchrB\t5\t25\tpeak\t900\t.\t3.2\t10\t4\t7\n")
    assert list(read_intervals(bed)) == [Interval("chrA", 10, 50, ".", -1, 5), Interval("chrA", 100, 200, "-", -1, 6),
                                         Interval("chrB", 5, 25, ".", 7, 7)]
    spaces = write(tmp_path / "spaces.bed", "chrA 1 5\n")
    assert list(read_intervals(spaces)) == [Interval("chrA", 1, 5, ".", -1, 1)]


@pytest.mark.parametrize("line, fragment", [
    ("chrA\t10", "line 2: expected at least 3 tab-separated columns"),
    ("chrA\tten\t20", "line 2: start is 'ten', expected a whole number"),
    ("chrA\t-5\t20", "line 2: start is '-5'"),
    ("chrA\t20\t20", "line 2: start 20 is not below end 20"),
    ("chrA\t1\t20\tn\t0\tx", "line 2: strand (column 6) is 'x'"),
    ("chrA\t1\t20\tn\t0\t.\t1\t1\t1\t19", "line 2: summit offset 19 lies outside the 19-base interval"),
    ("chrA\t1\t20\tn\t0\t.\t1\t1\t1\tmid", "line 2: summit (column 10 of narrowPeak) is 'mid'"),
])
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
    assert not is_interval_file(write(tmp_path / "a.fa", "chr1\t5\t10\n"))  # a FASTA name is a FASTA


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


# --- the genome ------------------------------------------------------------------------------------

def test_plain_and_bgzip_genomes_read_the_same_and_plain_gzip_is_refused(tmp_path):
    from Bio import bgzf

    plain = small_genome(tmp_path)
    genome = open_genome(plain)
    assert genome.sizes == {"chrA": 1000, "chrB": 600}
    assert Path(f"{plain}.fai").exists() and not list(tmp_path.glob("*.partial"))
    text = "".join(plain.read_text().split("\n>chrB")[0].splitlines()[1:])
    assert genome.fetch("chrA", 65, 145).decode() == text[65:145]  # across line ends
    bgzipped = tmp_path / "small.fa.gz"
    with open(plain, "rb") as source, bgzf.BgzfWriter(str(bgzipped), "wb") as target:
        target.write(source.read())
    other = open_genome(bgzipped)
    assert other.sizes == genome.sizes and other.fetch("chrB", 350, 450) == genome.fetch("chrB", 350, 450)
    assert Path(f"{bgzipped}.gzi").exists()
    gzipped = tmp_path / "plain.fa.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(DnanetError, match=r"plain.fa.gz: a plain-gzip FASTA cannot be read at random positions; "
                                          r"recompress it with bgzip .* or gunzip it"):
        open_genome(gzipped)


def test_an_index_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    import pyfaidx

    plain = small_genome(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("indexname"))

    monkeypatch.setattr(pyfaidx, "Faidx", refuse)
    with pytest.raises(DnanetError, match=r"small.fa: cannot write its index .*small.fa.fai beside it \(Permission "
                                          r"denied\); copy the genome to a folder you can write"):
        open_genome(plain)


def test_an_illegal_letter_in_the_genome_names_chromosome_and_position(tmp_path):
    genome = write(tmp_path / "g.fa", ">c1\nACGTAC\nGT-ACG\n")
    with pytest.raises(DnanetError, match=r"g.fa: c1 position 9 has an illegal character '-'"):
        open_genome(genome).fetch("c1", 0, 12)


# --- interval records ------------------------------------------------------------------------------

def test_interval_records_are_named_by_window_and_reverse_complemented_on_minus(tmp_path):
    genome_path = small_genome(tmp_path)
    genome = open_genome(genome_path)
    bed = write(tmp_path / "x.bed", "chrA\t100\t200\ta\t0\t+\nchrA\t100\t200\tb\t0\t-\nchrB\t420\t520\n"
                "chrA\t300\t500\tp\t0\t.\t1\t1\t1\t20\n")
    items = resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, 40))
    records = records_of(items)
    assert list(records) == ["chrA:130-170(+)", "chrA:130-170(-)", "chrB:450-490(.)", "chrA:300-340(.)"]
    assert records["chrA:130-170(+)"] == genome.fetch("chrA", 130, 170).translate(BYTE_TO_CODE)
    assert records["chrA:130-170(-)"] == reverse_complement(genome.fetch("chrA", 130, 170)).translate(BYTE_TO_CODE)
    as_is = records_of(resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, None)))
    assert list(as_is) == ["chrA:100-200(+)", "chrA:100-200(-)", "chrB:420-520(.)", "chrA:300-500(.)"]


def test_windows_off_a_chromosome_end_are_skipped_counted_and_reported(tmp_path):
    genome_path = small_genome(tmp_path)
    bed = write(tmp_path / "ends.bed", "chrA\t0\t30\nchrA\t400\t500\nchrB\t560\t600\nchrA\t990\t1000\n")
    items = resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, 100))
    records = read_labelled(items)
    assert list(records.ids) == ["chrA:400-500(.)"]
    entry = records.provenance[0]
    assert entry["skipped"] == {"off_chromosome_end": 3} and entry["intervals"] == 4 and entry["window"] == 100
    assert entry["notes"] == [f"{bed}: 3 of 4 intervals skipped: the window runs off the chromosome end (first: "
                              "line 1, chrA:-35-65 on a 1,000-base chromosome)"]
    assert entry["genome"]["path"] == str(genome_path.resolve()) and len(entry["genome"]["index_sha256"]) == 64
    only_off = write(tmp_path / "off.bed", "chrA\t0\t30\n")
    with pytest.raises(DnanetError, match=r"off.bed: all 1 intervals were skipped: the window runs off"):
        read_labelled(resolve_inputs([LabelledInput("x", only_off)], GenomeSettings(genome_path, 100)))


def test_a_chromosome_missing_from_the_genome_is_an_error_naming_the_line(tmp_path):
    genome_path = small_genome(tmp_path)
    bed = write(tmp_path / "x.bed", "chrA\t1\t50\nA\t1\t50\n")
    with pytest.raises(DnanetError, match=r"x.bed line 2: chromosome 'A' is not in the genome .*small.fa \(it has "
                                          r"'chrA': the BED and the genome name chromosomes differently\)"):
        read_labelled(resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, None)))
    other = write(tmp_path / "y.bed", "chrZ\t1\t50\n")
    with pytest.raises(DnanetError, match=r"y.bed line 1: chromosome 'chrZ' is not in the genome .* \(its 2 "
                                          r"chromosomes: chrA, chrB\)"):
        read_labelled(resolve_inputs([LabelledInput("x", other)], GenomeSettings(genome_path, None)))


def test_inputs_that_need_a_genome_or_positives_say_so(tmp_path):
    bed = write(tmp_path / "x.bed", "chrA\t1\t50\n")
    with pytest.raises(DnanetError, match=r"x.bed: intervals \(BED\) need --genome FILE"):
        resolve_inputs([LabelledInput("x", bed)], None)
    with pytest.raises(DnanetError, match=r"background=shuffle: a generated background needs positive inputs"):
        resolve_inputs([LabelledInput("background", Path("shuffle"))], None)
    fasta = write(tmp_path / "a.fa", ">r\nACGT\n")
    with pytest.raises(DnanetError, match=r"--genome is used with BED inputs or generated backgrounds"):
        settings = GenomeSettings(small_genome(tmp_path), None)
        check_settings_used(resolve_inputs([LabelledInput("a", fasta)], settings), settings)
    with pytest.raises(DnanetError, match=r"gc-matched: draws windows from the genome .*/a.fa is not a BED file"):
        read_labelled(resolve_inputs([LabelledInput("a", fasta), LabelledInput("b", Path("gc-matched"))], None))


# --- backgrounds -----------------------------------------------------------------------------------

def labelled(synthetic_genome, kind: str, ratio: int = 1, seed: int = 0, window: int | None = 200):
    settings = GenomeSettings(synthetic_genome.genome, window, ratio, seed)
    items = resolve_inputs([LabelledInput("bound", synthetic_genome.peaks), LabelledInput("background", Path(kind))],
                           settings)
    return items, read_labelled(items)


def split_by_class(records) -> tuple[list[int], list[int]]:
    labels = [label[0] for label in records.labels]
    return ([i for i, label in enumerate(labels) if label == "bound"],
            [i for i, label in enumerate(labels) if label == "background"])


def sequence(records, index: int) -> np.ndarray:
    return np.asarray(records.flat[records.offsets[index]:records.offsets[index + 1]])


def test_gc_matched_windows_follow_the_positives_gc_and_avoid_peaks_gaps_and_each_other(synthetic_genome):
    items, records = labelled(synthetic_genome, "gc-matched", ratio=2)
    bound, background = split_by_class(records)
    assert len(bound) == 400 and len(background) == 800
    genome = open_genome(synthetic_genome.genome)
    peaks = list(read_intervals(synthetic_genome.peaks))
    windows = [parse_record_id(records.ids[i]) for i in background]
    chosen = sorted(windows)
    for (chrom, start, end, strand), following in zip(chosen, chosen[1:] + [None]):
        assert end - start == 200 and strand == "." and 0 <= start and end <= genome.sizes[chrom]
        assert not any(p.chrom == chrom and p.start < end and start < p.end for p in peaks)
        assert following is None or following[0] != chrom or following[1] >= end  # no two overlap
        assert composition(genome.fetch(chrom, start, end))[1] <= MAX_UNKNOWN
    bins = lambda indices: Counter(gc_bin(gc_of(sequence(records, i))) for i in indices)  # noqa: E731
    assert bins(background) == Counter({b: 2 * n for b, n in bins(bound).items()})  # the same GC histogram, x2
    assert records.provenance[1]["generated"] == {"positives": 400, "generated": 800, "gc_unmatched": 0, "missing": 0}
    assert records.provenance[1]["background"] == {"kind": "gc-matched", "ratio": 2, "seed": 0,
                                                   "of": [str(synthetic_genome.peaks)]}
    again = labelled(synthetic_genome, "gc-matched", ratio=2)[1]
    assert list(again.ids) == list(records.ids)  # seeded: the same backgrounds again
    other = labelled(synthetic_genome, "gc-matched", ratio=2, seed=1)[1]
    assert list(other.ids) != list(records.ids)
    keys = {store_key(labelled(synthetic_genome, kind, ratio, seed, window)[0], None, {})
            for kind, ratio, seed, window in [("gc-matched", 1, 0, 200), ("gc-matched", 2, 0, 200),
                                              ("gc-matched", 1, 1, 200), ("gc-matched", 1, 0, 100),
                                              ("flank", 1, 0, 200)]}
    assert len(keys) == 5 and store_key(items, None, {}) == store_key(labelled(synthetic_genome, "gc-matched", 2)[0],
                                                                      None, {})


def test_gc_matched_windows_come_from_the_positives_chromosomes(synthetic_genome, tmp_path):
    chr4 = tmp_path / "chr4.narrowPeak"
    chr4.write_text("".join(line + "\n" for line in synthetic_genome.peaks.read_text().splitlines()
                            if line.startswith("chr4\t")))
    settings = GenomeSettings(synthetic_genome.genome, 200, 3, 0)
    records = read_labelled(resolve_inputs([LabelledInput("bound", chr4), LabelledInput("bg", Path("gc-matched"))],
                                           settings))
    chromosomes = Counter(parse_record_id(record_id)[0] for record_id in records.ids)
    assert chromosomes == {"chr4": 4 * len(chr4.read_text().splitlines())}


def gc_of(codes: np.ndarray) -> float:
    called = codes[codes < 4]
    return float(np.isin(called, [1, 2]).mean())


def test_shuffles_keep_each_positives_dinucleotides_and_name_it(synthetic_genome):
    _, records = labelled(synthetic_genome, "shuffle", ratio=2)
    bound, background = split_by_class(records)
    assert len(background) == 2 * len(bound)
    for position, index in enumerate(bound[:40]):
        positive = sequence(records, index)
        for k in (1, 2):
            shuffled_index = background[2 * position + k - 1]
            assert records.ids[shuffled_index] == f"{records.ids[index]}/shuffle{k}"
            shuffled = sequence(records, shuffled_index)
            pairs = lambda codes: Counter(zip(codes[:-1].tolist(), codes[1:].tolist()))  # noqa: E731
            assert pairs(shuffled) == pairs(positive) and not np.array_equal(shuffled, positive)


def test_flanks_lie_beside_their_peak_and_overlap_no_peak(synthetic_genome):
    _, records = labelled(synthetic_genome, "flank")
    bound, background = split_by_class(records)
    assert len(background) == len(bound) == 400
    peaks = list(read_intervals(synthetic_genome.peaks))
    by_line = {p.line: p for p in peaks}
    for index in background:
        chrom, start, end, _ = parse_record_id(records.ids[index])
        peak = by_line[int(records.places[index][1])]
        assert chrom == peak.chrom and end - start == 200
        assert not any(p.chrom == chrom and p.start < end and start < p.end for p in peaks)
        gap = max(peak.start - end, start - peak.end)  # peaks are wider than the 200-base windows here
        assert 0 <= gap < 3 * 200, (records.ids[index], peak)


# --- tracks without a model ------------------------------------------------------------------------

def test_regions_parse_one_based_and_merge_in_genome_order():
    sizes = {"chr1": 5000, "chr2": 3000}
    assert parse_region("chr1:1-2,000", sizes) == Region("chr1", 0, 2000)
    assert parse_region("chr2", sizes) == Region("chr2", 0, 3000)
    for text, fragment in [("chr3:1-10", "no chromosome 'chr3'"), ("chr1:1-6000", "runs past the end of chr1"),
                           ("chr1:0-10", "expected 1 <= START <= END"),
                           ("chr1:5", "expected CHROM or CHROM:START-END")]:
        with pytest.raises(DnanetError, match=fragment):
            parse_region(text, sizes)
    regions = [Region("chr2", 10, 20), Region("chr1", 50, 80), Region("chr1", 0, 60), Region("chr1", 90, 95)]
    assert merged(regions, sizes) == [Region("chr1", 0, 80), Region("chr1", 90, 95), Region("chr2", 10, 20)]
    assert output_files(Path("t.bw"), "binary", ["bound", "background"]) == [(Path("t.bw"), 0, "bound")]
    assert output_files(Path("o/t.bedGraph"), "multiclass", ["a b", "c"]) == [
        (Path("o/t.a_b.bedGraph"), 0, "a b"), (Path("o/t.c.bedGraph"), 1, "c")]


def test_track_values_slide_centred_windows_and_skip_gaps_and_ends(tmp_path):
    genome = open_genome(small_genome(tmp_path))

    def gc_score(codes: np.ndarray) -> np.ndarray:  # a model-free "model": GC fraction of each window
        return np.isin(codes, [1, 2]).mean(1, keepdims=True).astype(np.float32)

    counts, done = {}, []
    chunks = list(track_values(gc_score, genome, [Region("chrA", 0, 1000), Region("chrB", 0, 600)], 100, 30, counts,
                               done.append))
    starts = np.concatenate([c[1] for c in chunks if c[0] == "chrA"])
    assert starts[0] == 60 and np.all(np.diff(starts) == 30)  # bins whose window [start + 15 - 50, +100) fits
    for chrom, bin_starts, bin_ends, values in chunks:
        for start, end, value in zip(bin_starts, bin_ends, values[:, 0]):
            window = genome.fetch(chrom, start + 15 - 50, start + 15 + 50).upper()
            assert value == pytest.approx((window.count(b"G") + window.count(b"C")) / 100)
            assert end == min(start + 30, 1000 if chrom == "chrA" else 600)
    chr_b = np.concatenate([c[1] for c in chunks if c[0] == "chrB"])
    for start in chr_b:  # no window more than half N (chrB is N from 200 to 400)
        assert max(0, min(start + 65, 400) - max(start - 35, 200)) <= 50
    assert 300 not in chr_b
    assert counts["bins"] == 34 + 20 and counts["values"] == len(starts) + len(chr_b)
    assert counts["off_chromosome"] + counts["unknown"] + counts["values"] == counts["bins"] and counts["unknown"] > 0
    assert done[-1] == 1600


def test_reading_intervals_writes_nothing_but_the_genome_index(synthetic_genome, tmp_path):
    genome = tmp_path / "g.fa"
    shutil.copyfile(synthetic_genome.genome, genome)
    labelled(type(synthetic_genome)(genome, synthetic_genome.peaks, synthetic_genome.sites_path,
                                    synthetic_genome.sites), "flank")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "g.fa.fai"]
