"""Labelled records (`read_labelled`: labels from file names or a label table, places,
provenance) in memory and in the on-disk store."""

import json
from pathlib import Path

import numpy as np
import pytest

from dnanet.data.store import open_or_build_store, read_labelled, store_key
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs
from dnanet.inputs.encode import PAD
from dnanet.inputs.sources import LabelledInput


def example_inputs():
    return [LabelledInput(label, path) for label, path in training_inputs()]


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name} some description\n{seq}\n" for name, seq in records.items()))
    return path


def test_read_labelled_keeps_labels_places_and_provenance(tmp_path):
    a = write_fasta(tmp_path / "a.fa", {"r1": "ACGT", "r2": "ACGTAC"})
    b = write_fasta(tmp_path / "b.fa", {"r3": "GG"})
    records = read_labelled([LabelledInput("pos", a), LabelledInput("neg", b)])
    assert records.ids == ["r1", "r2", "r3"] and records.labels == [("pos",), ("pos",), ("neg",)]
    assert records.where(1) == f"{a} line 3" and records.where(2) == f"{b} line 1"
    sequences = records.with_targets(np.array([0, 0, 1]))
    codes, lengths = sequences.codes([2, 1])
    assert lengths.tolist() == [2, 6]
    assert codes.tolist() == [[2, 2, PAD, PAD, PAD, PAD], [0, 1, 2, 3, 0, 1]]
    assert records.provenance[0]["records"] == 2 and len(records.provenance[0]["sha256"]) == 64


def test_label_table_assigns_labels_by_id(tmp_path):
    fasta = write_fasta(tmp_path / "all.fa", {"x": "ACGT", "y": "TTTT", "z": "GGGG"})
    records = read_labelled(
        [LabelledInput(None, fasta)], {"x": ("up",), "y": ("down",), "z": ("up",)}
    )
    assert records.labels == [("up",), ("down",), ("up",)]
    with pytest.raises(
        DnanetError, match=r"all.fa line 5: record 'z' has no row in the label table"
    ):
        read_labelled([LabelledInput(None, fasta)], {"x": ("up",), "y": ("down",)})


def test_the_store_holds_what_reading_into_memory_gives_and_is_memory_mapped(tmp_path):
    inputs = example_inputs()
    memory = read_labelled(inputs)
    stored = open_or_build_store(tmp_path, store_key(inputs, None, {}), inputs)
    assert isinstance(stored.flat, np.memmap) and len(stored) == len(memory) == 850
    assert np.array_equal(stored.flat, memory.flat) and np.array_equal(
        stored.offsets, memory.offsets
    )
    assert list(stored.ids) == list(memory.ids) and stored.ids[-1] == memory.ids[-1]
    assert stored.labels == memory.labels and stored.label_values == [("bound",), ("background",)]
    assert stored.where(849) == memory.where(849) and stored.provenance == memory.provenance
    targets = stored.targets(lambda values, where: np.arange(len(values)))
    assert targets.tolist() == [0] * 425 + [1] * 425


def test_a_store_is_reused_for_the_same_inputs_and_rebuilt_when_one_changes(tmp_path):
    fasta = tmp_path / "a.fa"
    fasta.write_text(">x\nACGT\n>y\nGGCC\n")
    inputs = [LabelledInput("a", fasta), LabelledInput("b", fasta)]
    key = store_key(inputs, None, {})
    open_or_build_store(tmp_path / "cache", key, inputs)
    manifest = tmp_path / "cache" / key / "manifest.json"
    built = manifest.stat().st_mtime_ns
    again = open_or_build_store(tmp_path / "cache", key, inputs)
    assert manifest.stat().st_mtime_ns == built and len(again) == 4  # read back, not rebuilt
    fasta.write_text(">x\nACGT\n>y\nGGCA\n")
    assert store_key(inputs, None, {}) != key
    assert store_key(inputs[::-1], None, {}) != key  # the classes are part of the key


def test_a_failed_build_leaves_no_store_behind(tmp_path):
    good, bad = tmp_path / "good.fa", tmp_path / "bad.fa"
    good.write_text(">x\nACGT\n")
    bad.write_text(">y\nAC-GT\n")
    inputs = [LabelledInput("good", good), LabelledInput("bad", bad)]
    with pytest.raises(
        DnanetError, match="bad.fa line 2, column 3: record 'y' has an illegal character '-'"
    ):
        open_or_build_store(tmp_path / "cache", store_key(inputs, None, {}), inputs)
    assert list((tmp_path / "cache").iterdir()) == []


def test_labels_from_a_table_reach_the_store_and_name_the_record_in_errors(tmp_path):
    fasta = tmp_path / "all.fa"
    fasta.write_text(">x\nACGT\n>y\nTTTT\n>z\nGGGG\n")
    inputs = [LabelledInput(None, fasta)]
    stored = open_or_build_store(
        tmp_path, "k", inputs, lambda: {"x": ("up",), "y": ("down",), "z": ("sideways",)}
    )
    assert stored.labels == [("up",), ("down",), ("sideways",)]
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert manifest["records"] == 3 and manifest["label_values"] == [["up"], ["down"], ["sideways"]]

    def encode(values, where):
        raise DnanetError(f"{where(2)}: class '{values[2][0]}' is not one of the model's classes")

    with pytest.raises(DnanetError, match=r"all.fa line 5: class 'sideways'"):
        stored.targets(encode)
