"""Leakage: duplicate sequences are counted within and across classes and parts, held-out copies of
training records are left out of the metrics (unless --keep-duplicates), one file cannot be two
classes, and a resumed run keeps its split options."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dnanet.cli import app
from dnanet.data.leakage import leakage, sequence_digests
from dnanet.data.sets import SequenceSet
from dnanet.data.splits import Split
from dnanet.errors import DnanetError
from dnanet.inputs.encode import BYTE_TO_CODE
from tests.data.test_splits import genome, small_config, windows, write_fasta

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def planted_leaks(tmp_path):
    """Genome windows by part (train chr1-7, validation chr8, test chr9-10), with planted copies:
    2 within a training class, 1 training sequence in both classes, 2 validation copies of training
    records, and in the test set 3 copies of training records, 2 copies with the other label, 2
    reverse complements and 1 copy of a validation record. Returns the file arguments by part and
    the test set without the planted copies."""
    classes = windows(genome())
    chosen = {"train": range(1, 8), "val": [8], "test": [9, 10]}
    parts = {
        part: {
            label: {i: s for i, s in records.items() if int(i.split(":")[0][3:]) in numbers}
            for label, records in classes.items()
        }
        for part, numbers in chosen.items()
    }
    clean_test = {label: dict(records) for label, records in parts["test"].items()}
    train_peaks = list(parts["train"]["peak"].values())
    train_background = list(parts["train"]["background"].values())
    peak_ids = list(
        parts["train"]["peak"]
    )  # training copies keep their source's place: a chromosome split works
    parts["train"]["peak"].update(
        {f"{peak_ids[0]}/copy": train_peaks[0], f"{peak_ids[1]}/copy": train_peaks[1]}
    )
    parts["train"]["background"][f"{peak_ids[2]}/other_class"] = train_peaks[2]
    parts["val"]["peak"].update({"val_copy_a": train_peaks[3], "val_copy_b": train_peaks[4]})
    parts["test"]["peak"].update(
        {
            "test_copy_a": train_peaks[5],
            "test_copy_b": train_peaks[6],
            "flipped_a": train_background[0],
            "flipped_b": train_background[1],
            "rc_a": reverse_complement(train_peaks[7]),
            "from_val": list(parts["val"]["peak"].values())[0],
        }
    )
    parts["test"]["background"]["test_copy_c"] = train_background[2]
    parts["test"]["background"]["rc_b"] = reverse_complement(train_background[3])
    arguments = {
        part: [
            f"{label}={write_fasta(tmp_path / f'{label}.{part}.fa', records)}"
            for label, records in by_class.items()
        ]
        for part, by_class in parts.items()
    }
    return arguments, clean_test


def train(runner, tmp_path, arguments, out, *extra):
    config = small_config(tmp_path, "  val_fraction: 0\n  test_fraction: 0\n")
    config.write_text(
        config.read_text().replace("train:\n", "train:\n  reverse_complement: true\n")
    )
    return runner.invoke(
        app,
        [
            "train",
            *arguments["train"],
            *(a for f in arguments["val"] for a in ("--val", f)),
            *(a for f in arguments["test"] for a in ("--test", f)),
            "-c",
            str(config),
            "--out",
            str(out),
            "--threads",
            "1",
            *extra,
        ],
    )


def test_planted_duplicates_are_counted_and_removed_from_the_held_out_metrics(runner, tmp_path):
    arguments, clean_test = planted_leaks(tmp_path)
    out = tmp_path / "run"
    result = train(runner, tmp_path, arguments, out, "--quiet")
    assert result.exit_code == 0, result.output
    description = json.loads((out / "model.json").read_text())
    counts = description["duplicates"]
    test_size = sum(len(records) for records in clean_test.values()) + 8
    assert counts == {
        "both_strands": True,
        "records": counts["records"],
        "distinct": counts["records"] - 13,
        "within_class": 10,
        "across_classes": 3,
        "across_classes_records": 6,
        "validation_in_train": 2,
        "test_in_train": 7,
        "test_in_validation": 1,
        "removed": {"validation": 2, "test": 8},
    }
    assert description["split"]["test"] == test_size - 8
    line = next(line for line in result.output.splitlines() if line.startswith("duplicates"))
    assert (
        "10 extra copies within a class; 3 sequences in two or more classes (6 records); "
        "2 validation and 8 test records also in an earlier part: removed" in line
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == test_size - 8 and metrics["duplicates_removed"] == 8
    clean = [
        f"{label}={write_fasta(tmp_path / f'{label}.clean.fa', records)}"
        for label, records in clean_test.items()
    ]
    scored = tmp_path / "clean.json"
    evaluated = runner.invoke(
        app, ["evaluate", str(out), *clean, "--out", str(scored), "--threads", "1"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads(scored.read_text())
    assert again["n"] == metrics["n"] and again["accuracy"] == metrics["accuracy"]
    assert again["auroc"] == pytest.approx(metrics["auroc"], abs=1e-6)

    kept = tmp_path / "kept"
    result = train(runner, tmp_path, arguments, kept, "--quiet", "--keep-duplicates")
    assert result.exit_code == 0, result.output
    kept_description = json.loads((kept / "model.json").read_text())
    assert kept_description["duplicates"] == {**counts, "removed": {"validation": 0, "test": 0}}
    assert kept_description["config"]["data"]["keep_duplicates"] is True
    assert json.loads((kept / "metrics.json").read_text())["n"] == test_size


def test_reverse_complements_are_duplicates_only_when_strands_are_averaged():
    # s1 is s0's reverse complement, s2 a copy of s0, s4 a lower-case copy of it (the same codes)
    sequences = [
        b"ACGTTGCAAG",
        b"CTTGCAACGT",
        b"ACGTTGCAAG",
        b"GGGCCCAAAT",
        b"acgttgcaag",
        b"TTTTACGGCA",
    ]
    flat = np.frombuffer(b"".join(sequences).translate(BYTE_TO_CODE), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])]).astype(np.int64)
    data = SequenceSet([f"s{i}" for i in range(6)], flat, offsets, np.array([0, 1, 0, 1, 1, 0]))
    digests = sequence_digests(data, both_strands=True)
    assert (
        digests[0] == digests[1] == digests[2] == digests[4]
        and len(set(digests[[0, 3, 5]].tolist())) == 3
    )
    forward_digests = sequence_digests(data, both_strands=False)
    assert forward_digests[0] == forward_digests[2] == forward_digests[4] != forward_digests[1]
    split = Split(np.array([0, 3]), np.array([1]), np.array([2, 4, 5]), "random")
    same, counts = leakage(data, split, both_strands=True, keep=True)
    assert same is split and counts["removed"] == {"validation": 0, "test": 0}
    assert (counts["within_class"], counts["across_classes"], counts["across_classes_records"]) == (
        2,
        1,
        4,
    )
    assert (counts["validation_in_train"], counts["test_in_train"], counts["distinct"]) == (1, 2, 3)
    with pytest.raises(
        DnanetError,
        match="the validation part of the random split has no records left once the "
        "records whose sequence is also in an earlier part are removed",
    ):
        leakage(data, split, both_strands=True, keep=False)
    forward, counts = leakage(data, split, both_strands=False, keep=False)
    assert (counts["within_class"], counts["across_classes"], counts["validation_in_train"]) == (
        1,
        1,
        0,
    )
    assert (
        forward.validation.tolist() == [1]
        and forward.test.tolist() == [5]
        and forward.train is split.train
    )


def test_one_file_for_two_classes_is_refused(runner, tmp_path):
    classes = windows(genome())
    peaks = write_fasta(tmp_path / "peaks.fa", classes["peak"])
    background = write_fasta(tmp_path / "background.fa", classes["background"])
    out = tmp_path / "run"
    cases = [
        (
            [f"bound={peaks}", f"unbound={peaks}"],
            f"bound={peaks} and unbound={peaks} are the same file",
        ),
        (
            [f"bound={peaks}", f"unbound={shutil.copy(peaks, tmp_path / 'copy.fa')}"],
            f"bound={peaks} and unbound={tmp_path / 'copy.fa'} have the same contents (SHA-256)",
        ),
        (
            [f"bound={peaks}", f"unbound={background}", "--test", f"bound={peaks}"],
            f"bound={peaks} and --test bound={peaks} are the same file",
        ),
    ]
    for arguments, message in cases:
        result = runner.invoke(app, ["train", *arguments, "--out", str(out), "--threads", "1"])
        assert result.exit_code == 1 and not out.exists()
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert (
            message in result.output
            and "each class and each part needs records of its own" in result.output
        )


def test_a_resumed_run_keeps_its_split_options(runner, tmp_path, monkeypatch):
    """Interrupted after epoch 1 (like Ctrl-C), `--resume` alone continues with the chromosome
    split, the fixed test file and --keep-duplicates, and ends as the run that was never
    stopped."""
    import dnanet.cli.display as display
    from dnanet.training.loop import TrainingMonitor

    arguments, _ = planted_leaks(tmp_path)
    config = small_config(tmp_path)
    config.write_text(config.read_text().replace("epochs: 1", "epochs: 3"))
    command = [
        "train",
        *arguments["train"],
        "--split",
        "chromosome",
        "--val-chroms",
        "chr3",
        "--keep-duplicates",
        *(a for f in arguments["test"] for a in ("--test", f)),
        "-c",
        str(config),
        "--threads",
        "1",
        "--quiet",
    ]

    class StopAfterFirstEpoch(TrainingMonitor):
        def epoch_done(self, record, best_epoch):
            raise KeyboardInterrupt

    straight = tmp_path / "straight"
    assert runner.invoke(app, [*command, "--out", str(straight)]).exit_code == 0
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        patch.setattr(display, "training_monitor", lambda console, quiet: StopAfterFirstEpoch())
        assert runner.invoke(app, [*command, "--out", str(stopped)]).exit_code == 130
    refused = runner.invoke(app, ["train", "--resume", str(stopped), "--split", "random"])
    assert refused.exit_code == 1 and "drop --split" in refused.output
    resumed = runner.invoke(app, ["train", "--resume", str(stopped), "--threads", "1", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    first, second = (json.loads((run / "model.json").read_text()) for run in (straight, stopped))
    assert second["split"] == first["split"] and second["split"]["kind"] == "chromosome"
    assert second["split"]["fixed"] == ["test"] and second["split"]["chromosomes"][
        "validation"
    ] == ["chr3"]
    assert (
        second["duplicates"] == first["duplicates"] and second["duplicates"]["removed"]["test"] == 0
    )
    assert [i["part"] for i in second["inputs"]] == ["train", "train", "test", "test"]
    assert json.loads((stopped / "metrics.json").read_text()) == json.loads(
        (straight / "metrics.json").read_text()
    )
