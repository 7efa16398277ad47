"""Splits: whole chromosomes held out (no held-out window overlaps a training window), fixed
validation and test sets, and the refusals when a split cannot be made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dnanet.cli import app
from dnanet.config.run_config import DataConfig, load_config
from dnanet.data.splits import chromosome_index, interval_of, make_split
from dnanet.data.store import RecordIds, read_labelled
from dnanet.errors import DnanetError
from dnanet.inputs.sources import LabelledInput

EBOX = "CACGTG"
CHROMOSOMES = [f"chr{number}" for number in range(1, 13)]


def genome(seed: int = 7, length: int = 4000, sites: int = 8) -> dict[str, str]:
    """Chromosomes of random DNA (A/T 0.29, C/G 0.21) with E-boxes planted at random places."""
    rng = np.random.default_rng(seed)
    chromosomes = {}
    for name in CHROMOSOMES:
        bases = bytearray(
            rng.choice(list(b"ACGT"), size=length, p=[0.29, 0.21, 0.21, 0.29])
            .astype(np.uint8)
            .tobytes()
        )
        for start in rng.choice(length - len(EBOX), size=sites, replace=False):
            bases[start : start + len(EBOX)] = EBOX.encode()
        chromosomes[name] = bases.decode()
    return chromosomes


def windows(
    chromosomes: dict[str, str], size: int = 200, step: int = 100
) -> dict[str, dict[str, str]]:
    """Overlapping windows (each shares half its bases with the next), ids ``chrom:start-end(+)``,
    by class: ``peak`` (holds a whole E-box) or ``background``."""
    classes: dict[str, dict[str, str]] = {"peak": {}, "background": {}}
    for name, sequence in chromosomes.items():
        for start in range(0, len(sequence) - size + 1, step):
            window = sequence[start : start + size]
            classes["peak" if EBOX in window else "background"][
                f"{name}:{start}-{start + size}(+)"
            ] = window
    return classes


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
    return path


def write_windows(folder: Path, classes: dict[str, dict[str, str]], suffix: str = "") -> list[str]:
    """One FASTA per class; returns the CLASS=PATH arguments."""
    return [
        f"{label}={write_fasta(folder / f'{label}{suffix}.fa', records)}"
        for label, records in classes.items()
    ]


def small_config(folder: Path, data: str = "") -> Path:
    path = folder / "small.yaml"
    path.write_text(
        "model:\n  name: cnn\n  channels: 8\n  hidden: 8\ntrain:\n  epochs: 1\n"
        + (f"data:\n{data}" if data else "")
    )
    return path


def overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def test_interval_ids_of_bedtools_and_the_genome_inputs_are_parsed():
    ids = [
        "chr2:1000-1200(+)",
        "chr2:1000-1200",
        "chr2:1000-1200(-)/shuffle",
        "peak7::chrX:5-105",
        "chrUn_KI270742v1:0-300(.)",
        "ctcf_00006",
        "chr2:1000",
        "chr1:5-10(x)",
    ]
    assert interval_of(ids[0]) == ("chr2", 1000, 1200, "+") and interval_of(ids[1]) == (
        "chr2",
        1000,
        1200,
        None,
    )
    assert interval_of(ids[2]) == ("chr2", 1000, 1200, "-") and interval_of(ids[3]) == (
        "chrX",
        5,
        105,
        None,
    )
    assert [interval_of(i) for i in ids[5:]] == [None, None, None]
    index, names = chromosome_index(ids)
    assert names == ["chr2", "chrX", "chrUn_KI270742v1"] and index.tolist() == [
        0,
        0,
        0,
        1,
        2,
        -1,
        -1,
        -1,
    ]
    blob = np.frombuffer("".join(ids).encode(), dtype=np.uint8)  # the store's memory-mapped layout
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])]).astype(np.int64)
    assert chromosome_index(RecordIds(blob, offsets))[0].tolist() == index.tolist()


def test_chromosome_split_keeps_whole_chromosomes_apart_and_no_test_window_overlaps_training(
    tmp_path,
):
    classes = windows(genome())
    inputs = [
        LabelledInput(label, write_fasta(tmp_path / f"{label}.fa", records))
        for label, records in classes.items()
    ]
    records = read_labelled(inputs)
    split = make_split(DataConfig(split="chromosome"), records.ids, seed=0, where=records.where)
    intervals = [interval_of(record_id) for record_id in records.ids]
    part = {
        name: {intervals[i][0] for i in getattr(split, name)}
        for name in ("train", "validation", "test")
    }
    assert part["validation"] == {"chr10"} and part["test"] == {"chr8", "chr9"}
    assert part["train"] == set(CHROMOSOMES) - {"chr8", "chr9", "chr10"}
    assert split.chromosomes == {
        "train": ["chr1", "chr2", "chr3", "chr4", "chr5", "chr6", "chr7", "chr11", "chr12"],
        "validation": ["chr10"],
        "test": ["chr8", "chr9"],
    }
    assert sorted(np.concatenate([split.train, split.validation, split.test]).tolist()) == list(
        range(len(records))
    )
    train = [intervals[i] for i in split.train]
    assert (
        sum(overlaps(train[0], other) for other in train[1:]) >= 1
    )  # the data do hold overlapping windows
    for held_out in (split.test, split.validation):
        assert not any(overlaps(intervals[i], window) for i in held_out for window in train)
    # names with or without 'chr'; several chromosomes per part
    other = make_split(
        DataConfig(split="chromosome", val_chroms=("3",), test_chroms=("chr4", "12")),
        records.ids,
        0,
    )
    assert {intervals[i][0] for i in other.test} == {"chr4", "chr12"} and other.chromosomes[
        "validation"
    ] == ["chr3"]


def test_chromosome_split_refusals_name_the_problem(tmp_path):
    classes = windows(genome())
    records = read_labelled(
        [
            LabelledInput(label, write_fasta(tmp_path / f"{label}.fa", records))
            for label, records in classes.items()
        ]
    )
    with pytest.raises(
        DnanetError,
        match=r"data.test_chroms \(--test-chroms\): no training record lies on chr99; "
        r"the training records' chromosomes are chr1, chr2, chr3",
    ):
        make_split(DataConfig(split="chromosome", test_chroms=("chr99",)), records.ids, 0)
    with pytest.raises(DnanetError, match=r"data.val_chroms \(--val-chroms\) is empty"):
        make_split(DataConfig(split="chromosome", val_chroms=()), records.ids, 0)
    with pytest.raises(DnanetError, match="data.val_chroms and data.test_chroms share chr9"):
        load_config(data={"split": "chromosome", "val_chroms": "chr9", "test_chroms": "9"})
    named = {**classes["background"], "plain_name": "ACGT" * 50}
    path = write_fasta(tmp_path / "background.fa", named)
    records = read_labelled(
        [LabelledInput("peak", tmp_path / "peak.fa"), LabelledInput("background", path)]
    )
    line = 2 * len(named) - 1
    with pytest.raises(
        DnanetError, match=rf"background.fa line {line}: record 'plain_name' has no chromosome"
    ):
        make_split(DataConfig(split="chromosome"), records.ids, 0, where=records.where)


def test_train_with_a_chromosome_split_records_each_part_s_chromosomes(runner, tmp_path):
    classes = windows(genome())
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            *write_windows(tmp_path, classes),
            "--split",
            "chromosome",
            "--val-chroms",
            "10",
            "--test-chroms",
            "chr3,chr4",
            "-c",
            str(small_config(tmp_path)),
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    split = json.loads((out / "model.json").read_text())["split"]
    assert split["kind"] == "chromosome" and split["chromosomes"]["validation"] == ["chr10"]
    assert split["chromosomes"]["test"] == ["chr3", "chr4"]
    assert set(split["chromosomes"]["train"]) == set(CHROMOSOMES) - {"chr3", "chr4", "chr10"}
    ids = [record_id for records in classes.values() for record_id in records]
    on = {
        name: [interval_of(i) for i in ids if interval_of(i)[0] in chromosomes]
        for name, chromosomes in split["chromosomes"].items()
    }
    assert split["test"] == len(on["test"]) and split["train"] == len(on["train"])
    assert not any(overlaps(window, other) for window in on["test"] for other in on["train"])
    assert "(chr10) / " in result.output and "test (chr3, chr4)" in result.output
    assert json.loads((out / "metrics.json").read_text())["n"] == split["test"]


def test_train_refuses_a_chromosome_split_of_ids_without_coordinates(runner, tmp_path):
    from dnanet.examples import example_path

    out = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--split", "chromosome", "--out", str(out), "--threads", "1"]
    )
    assert result.exit_code == 1 and not out.exists()
    message = result.output.splitlines()[-1]
    assert message.startswith(
        f"error: {example_path('bound.fa')} line 1: record 'ctcf_00006' has no chromosome"
    )
    assert "use --split random" in message


def test_fixed_validation_and_test_files_are_used_as_given_with_zero_fractions(runner, tmp_path):
    classes = windows(genome())
    parts = {"train": [f"chr{n}" for n in range(1, 8)], "val": ["chr8"], "test": ["chr9", "chr10"]}
    files = {
        part: write_windows(
            tmp_path,
            {
                label: {i: s for i, s in records.items() if i.split(":")[0] in names}
                for label, records in classes.items()
            },
            f".{part}",
        )
        for part, names in parts.items()
    }
    config = small_config(tmp_path, "  val_fraction: 0\n  test_fraction: 0\n")
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            *files["train"],
            *(a for f in files["val"] for a in ("--val", f)),
            *(a for f in files["test"] for a in ("--test", f)),
            "-c",
            str(config),
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    description = json.loads((out / "model.json").read_text())
    count = {
        part: sum(1 for records in classes.values() for i in records if i.split(":")[0] in names)
        for part, names in parts.items()
    }
    assert description["split"] == {
        "kind": "fixed",
        "train": count["train"],
        "validation": count["val"],
        "test": count["test"],
        "fixed": ["validation", "test"],
    }
    assert [i["part"] for i in description["inputs"]] == ["train"] * 2 + ["validation"] * 2 + [
        "test"
    ] * 2
    assert json.loads((out / "metrics.json").read_text())["n"] == count["test"]
    # without a fixed test set, a test fraction of 0 leaves nothing to test on
    refused = runner.invoke(
        app,
        [
            "train",
            *files["train"],
            *(a for f in files["val"] for a in ("--val", f)),
            "-c",
            str(config),
            "--out",
            str(tmp_path / "other"),
        ],
    )
    assert refused.exit_code == 1
    assert (
        "data.test_fraction is 0 and no fixed test set was given" in refused.output.splitlines()[-1]
    )


def test_a_split_column_in_the_label_table_fixes_the_parts(runner, tmp_path):
    classes = windows(genome())
    part_of = {"chr8": "validation", "chr9": "test", "chr10": "TEST"}
    everything = {i: s for records in classes.values() for i, s in records.items()}
    fasta = write_fasta(tmp_path / "windows.fa", everything)
    table = tmp_path / "labels.tsv"
    table.write_text(
        "id\tlabel\tsplit\n"
        + "".join(
            f"{i}\t{label}\t{part_of.get(i.split(':')[0], 'train')}\n"
            for label, records in classes.items()
            for i in records
        )
    )
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            str(fasta),
            "--labels",
            str(table),
            "-c",
            str(small_config(tmp_path)),
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    description = json.loads((out / "model.json").read_text())
    on = {
        name: sum(1 for i in everything if i.split(":")[0] in names)
        for name, names in (("validation", ["chr8"]), ("test", ["chr9", "chr10"]))
    }
    assert description["split"]["kind"] == "fixed" and description["split"]["test"] == on["test"]
    assert description["split"]["validation"] == on["validation"] and description["classes"] == [
        "peak",
        "background",
    ]
    bad = tmp_path / "bad.tsv"
    bad.write_text(table.read_text().replace("\tvalidation\n", "\tholdout\n", 1))
    refused = runner.invoke(
        app, ["train", str(fasta), "--labels", str(bad), "--out", str(tmp_path / "other")]
    )
    line = (
        bad.read_text()
        .splitlines()
        .index(next(row for row in bad.read_text().splitlines() if "holdout" in row))
        + 1
    )
    assert refused.exit_code == 1
    assert f"{bad} line {line}: split 'holdout'" in " ".join(refused.output.split())
