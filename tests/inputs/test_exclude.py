"""``--exclude BLACKLIST.bed``: no window read from the genome overlaps a listed region; the
intervals left out are counted in provenance and said, and generated backgrounds avoid them."""

from __future__ import annotations

import numpy as np

from dnanet.data.labelled import TrainingInputs
from dnanet.inputs.bed import parse_record_id
from dnanet.progress import Reporter


def inputs_for(tmp_path, exclude, kinds=("peaks",)):
    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("ACGT"), 20_000))
    (tmp_path / "genome.fa").write_text(f">chr1\n{sequence}\n")
    summits = range(1_000, 19_000, 1_000)
    (tmp_path / "peaks.bed").write_text(
        "".join(f"chr1\t{s - 10}\t{s + 10}\tp{s}\n" for s in summits)
    )
    (tmp_path / "blacklist.bed").write_text("chr1\t2950\t3100\nchr1\t9000\t11000\n")
    given = [f"peaks={tmp_path / 'peaks.bed'}"] + (["bg=gc-matched"] if "bg" in kinds else [])
    return TrainingInputs.from_options(
        tmp_path / "run", inputs=given, val=[], test=[], labels=None, id_column="id",
        label_column=["label"], task="auto", cache=tmp_path / "cache",
        genome=tmp_path / "genome.fa", window=100, background_ratio=1, seed=0,
        exclude=tmp_path / "blacklist.bed" if exclude else None,
    )  # fmt: skip


def test_windows_overlapping_the_blacklist_are_left_out_and_counted(tmp_path):
    reporter = Reporter()
    records, _ = inputs_for(tmp_path, exclude=True).read(reporter)
    starts = [parse_record_id(i)[1] for i in records.ids]
    assert len(records) == 18 - 4  # summits 3000, 9000, 10000, 11000: windows overlap
    assert all(not (2900 < s + 50 < 3150 or 8950 < s + 50 < 11050) for s in starts)
    peaks = records.provenance[0]
    assert peaks["skipped"]["excluded"] == 4 and peaks["exclude"]["sha256"]
    assert any("4 of 18 intervals left out" in text for text in reporter.texts())
    everything, _ = inputs_for(tmp_path, exclude=False).read(Reporter())
    assert len(everything) == 18


def test_backgrounds_avoid_the_blacklist(tmp_path):
    records, _ = inputs_for(tmp_path, exclude=True, kinds=("peaks", "bg")).read(Reporter())
    for record_id in records.ids:
        _, start, end, _ = parse_record_id(record_id)
        assert end <= 2950 or start >= 3100
        assert end <= 9000 or start >= 11000
