"""Tracks without a model (`dnanet.inference.tracks`): regions parsed and merged, output files per
class, and sliding windows checked against a model-free score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dnanet.errors import DnanetError
from dnanet.inference.tracks import Region, merged, output_files, parse_region, track_values
from dnanet.inputs.genome import open_genome
from tests.inputs.test_genome import small_genome


def test_regions_parse_one_based_and_merge_in_genome_order():
    sizes = {"chr1": 5000, "chr2": 3000}
    assert parse_region("chr1:1-2,000", sizes) == Region("chr1", 0, 2000)
    assert parse_region("chr2", sizes) == Region("chr2", 0, 3000)
    for text, fragment in [
        ("chr3:1-10", "no chromosome 'chr3'"),
        ("chr1:1-6000", "runs past the end of chr1"),
        ("chr1:0-10", "expected 1 <= START <= END"),
        ("chr1:5", "expected CHROM or CHROM:START-END"),
    ]:
        with pytest.raises(DnanetError, match=fragment):
            parse_region(text, sizes)
    regions = [
        Region("chr2", 10, 20),
        Region("chr1", 50, 80),
        Region("chr1", 0, 60),
        Region("chr1", 90, 95),
    ]
    assert merged(regions, sizes) == [
        Region("chr1", 0, 80),
        Region("chr1", 90, 95),
        Region("chr2", 10, 20),
    ]
    assert output_files(Path("t.bw"), "binary", ["bound", "background"]) == [
        (Path("t.bw"), 0, "bound")
    ]
    assert output_files(Path("o/t.bedGraph"), "multiclass", ["a b", "c"]) == [
        (Path("o/t.a_b.bedGraph"), 0, "a b"),
        (Path("o/t.c.bedGraph"), 1, "c"),
    ]


def test_track_values_slide_centred_windows_and_skip_gaps_and_ends(tmp_path):
    genome = open_genome(small_genome(tmp_path))

    def gc_score(codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """A model-free "model": the GC fraction of each 100-base window."""
        windows = np.lib.stride_tricks.sliding_window_view(codes, 100)[starts]
        return np.isin(windows, [1, 2]).mean(1, keepdims=True).astype(np.float32)

    counts, done = {}, []
    chunks = list(
        track_values(
            gc_score,
            genome,
            [Region("chrA", 0, 1000), Region("chrB", 0, 600)],
            100,
            30,
            counts,
            done.append,
        )
    )
    starts = np.concatenate([c[1] for c in chunks if c[0] == "chrA"])
    assert starts[0] == 60 and np.all(
        np.diff(starts) == 30
    )  # bins whose window [start + 15 - 50, +100) fits
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
    assert (
        counts["off_chromosome"] + counts["unknown"] + counts["values"] == counts["bins"]
        and counts["unknown"] > 0
    )
    assert done[-1] == 1600
