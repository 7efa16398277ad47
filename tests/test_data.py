"""Sequence sets, the stratified split, and streamed batches."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from dnanet.data import LabelledInput, SequenceSet, iter_batches, load_labelled, make_loader, stratified_split
from dnanet.encode import PAD
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name} some description\n{seq}\n" for name, seq in records.items()))
    return path


def test_load_labelled_numbers_classes_in_order_and_records_provenance(tmp_path):
    a = write_fasta(tmp_path / "a.fa", {"r1": "ACGT", "r2": "ACGTAC"})
    b = write_fasta(tmp_path / "b.fa", {"r3": "GG"})
    sequences, provenance = load_labelled([LabelledInput("pos", a), LabelledInput("neg", b)])
    assert sequences.class_names == ["pos", "neg"]
    assert sequences.ids == ["r1", "r2", "r3"] and sequences.labels.tolist() == [0, 0, 1]
    codes, lengths = sequences.codes([2, 1])
    assert lengths.tolist() == [2, 6]
    assert codes.tolist() == [[2, 2, PAD, PAD, PAD, PAD], [0, 1, 2, 3, 0, 1]]
    assert provenance[0]["records"] == 2 and len(provenance[0]["sha256"]) == 64


def test_label_table_assigns_labels_by_id(tmp_path):
    fasta = write_fasta(tmp_path / "all.fa", {"x": "ACGT", "y": "TTTT", "z": "GGGG"})
    sequences, _ = load_labelled([LabelledInput(None, fasta)], {"x": "up", "y": "down", "z": "up"})
    assert sequences.class_names == ["up", "down"] and sequences.labels.tolist() == [0, 1, 0]
    with pytest.raises(DnanetError, match=r"all.fa line 5: record 'z' has no row in the label table"):
        load_labelled([LabelledInput(None, fasta)], {"x": "up", "y": "down"})


def test_class_names_fixed_by_a_model_reject_unknown_classes(tmp_path):
    fasta = write_fasta(tmp_path / "other.fa", {"x": "ACGT"})
    with pytest.raises(DnanetError, match="class 'other' is not one of the model's classes: bound, background"):
        load_labelled([LabelledInput("other", fasta)], class_names=["bound", "background"])


def test_stratified_split_is_seeded_disjoint_and_keeps_class_shares():
    labels = np.array([0] * 300 + [1] * 100)
    train, val, test = stratified_split(labels, 0.1, 0.2, seed=3)
    assert len(set(train) | set(val) | set(test)) == 400 and len(train) + len(val) + len(test) == 400
    assert (labels[test] == 1).sum() == 20 and (labels[val] == 1).sum() == 10
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again))
    assert not np.array_equal(test, stratified_split(labels, 0.1, 0.2, seed=4)[2])


def test_split_refuses_tiny_classes():
    with pytest.raises(DnanetError, match="a class has only 2 sequences"):
        stratified_split(np.array([0] * 50 + [1] * 2), 0.1, 0.15, seed=0)


def test_loader_batches_are_padded_codes_with_labels():
    sequences = SequenceSet(["a", "b", "c"], np.array([0, 1, 2, 3, 3], dtype=np.uint8),
                            np.array([0, 3, 4, 5]), np.array([1, 0, 1]), ["x", "y"])
    batches = list(make_loader(sequences, batch_size=2))
    assert batches[0]["codes"].tolist() == [[0, 1, 2], [3, PAD, PAD]]
    assert batches[0]["labels"].tolist() == [1, 0] and batches[1]["lengths"].tolist() == [1]


def test_iter_batches_streams_records_in_input_order_across_files(tmp_path):
    first = write_fasta(tmp_path / "one.fa", {f"s{i}": "ACGT" * (i + 1) for i in range(5)})
    second = tmp_path / "two.fa.gz"
    with gzip.open(second, "wt") as handle:
        handle.write(">t0\nAC\n>t1\nGT\n")
    batches = list(iter_batches([first, second], batch_size=3))
    assert [len(b.ids) for b in batches] == [3, 3, 1]
    assert sum((b.ids for b in batches), []) == [f"s{i}" for i in range(5)] + ["t0", "t1"]
    assert batches[1].lengths.tolist() == [16, 20, 2]


def test_bundled_example_is_balanced_ctcf_data():
    sequences, _ = load_labelled([LabelledInput(c, p) for c, p in training_inputs()])
    assert sequences.class_names == ["bound", "background"]
    assert np.bincount(sequences.labels).tolist() == [425, 425] and set(sequences.lengths) == {101}
