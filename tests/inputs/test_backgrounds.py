"""Generated backgrounds (`dnanet.inputs.backgrounds`) on the synthetic genome: GC-matched windows,
shuffles that keep dinucleotides, flanks beside their peak; reading them writes nothing but the
genome index."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from dnanet.data.store import read_labelled, store_key
from dnanet.inputs.background_windows import MAX_UNKNOWN, composition, gc_bin
from dnanet.inputs.bed import parse_record_id, read_intervals
from dnanet.inputs.genome import open_genome
from dnanet.inputs.sources import GenomeSettings, LabelledInput, resolve_inputs


def labelled(synthetic_genome, kind: str, ratio: int = 1, seed: int = 0, window: int | None = 200):
    settings = GenomeSettings(synthetic_genome.genome, window, ratio, seed)
    items = resolve_inputs(
        [LabelledInput("bound", synthetic_genome.peaks), LabelledInput("background", Path(kind))],
        settings,
    )
    return items, read_labelled(items)


def split_by_class(records) -> tuple[list[int], list[int]]:
    labels = [label[0] for label in records.labels]
    return (
        [i for i, label in enumerate(labels) if label == "bound"],
        [i for i, label in enumerate(labels) if label == "background"],
    )


def sequence(records, index: int) -> np.ndarray:
    return np.asarray(records.flat[records.offsets[index] : records.offsets[index + 1]])


def test_gc_matched_windows_follow_the_positives_gc_and_avoid_peaks_gaps_and_each_other(
    synthetic_genome,
):
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
    assert bins(background) == Counter(
        {b: 2 * n for b, n in bins(bound).items()}
    )  # the same GC histogram, x2
    assert records.provenance[1]["generated"] == {
        "positives": 400,
        "generated": 800,
        "gc_unmatched": 0,
        "missing": 0,
    }
    assert records.provenance[1]["background"] == {
        "kind": "gc-matched",
        "ratio": 2,
        "seed": 0,
        "of": [str(synthetic_genome.peaks)],
    }
    again = labelled(synthetic_genome, "gc-matched", ratio=2)[1]
    assert list(again.ids) == list(records.ids)  # seeded: the same backgrounds again
    other = labelled(synthetic_genome, "gc-matched", ratio=2, seed=1)[1]
    assert list(other.ids) != list(records.ids)
    keys = {
        store_key(labelled(synthetic_genome, kind, ratio, seed, window)[0], None, {})
        for kind, ratio, seed, window in [
            ("gc-matched", 1, 0, 200),
            ("gc-matched", 2, 0, 200),
            ("gc-matched", 1, 1, 200),
            ("gc-matched", 1, 0, 100),
            ("flank", 1, 0, 200),
        ]
    }
    assert len(keys) == 5 and store_key(items, None, {}) == store_key(
        labelled(synthetic_genome, "gc-matched", 2)[0], None, {}
    )


def test_gc_matched_windows_come_from_the_positives_chromosomes(synthetic_genome, tmp_path):
    chr4 = tmp_path / "chr4.narrowPeak"
    chr4.write_text(
        "".join(
            line + "\n"
            for line in synthetic_genome.peaks.read_text().splitlines()
            if line.startswith("chr4\t")
        )
    )
    settings = GenomeSettings(synthetic_genome.genome, 200, 3, 0)
    records = read_labelled(
        resolve_inputs(
            [LabelledInput("bound", chr4), LabelledInput("bg", Path("gc-matched"))], settings
        )
    )
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
        gap = max(
            peak.start - end, start - peak.end
        )  # peaks are wider than the 200-base windows here
        assert 0 <= gap < 3 * 200, (records.ids[index], peak)


def test_reading_intervals_writes_nothing_but_the_genome_index(synthetic_genome, tmp_path):
    genome = tmp_path / "g.fa"
    shutil.copyfile(synthetic_genome.genome, genome)
    labelled(
        type(synthetic_genome)(
            genome, synthetic_genome.peaks, synthetic_genome.sites_path, synthetic_genome.sites
        ),
        "flank",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "g.fa.fai"]
