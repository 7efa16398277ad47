"""Sequence sets, the stratified split, and streamed batches."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from dnanet.data import SequenceSet, code_batches, iter_batches, make_loader, split_indices
from dnanet.records import LabelledInput, read_labelled
from dnanet.encode import PAD
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs


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
    records = read_labelled([LabelledInput(None, fasta)], {"x": ("up",), "y": ("down",), "z": ("up",)})
    assert records.labels == [("up",), ("down",), ("up",)]
    with pytest.raises(DnanetError, match=r"all.fa line 5: record 'z' has no row in the label table"):
        read_labelled([LabelledInput(None, fasta)], {"x": ("up",), "y": ("down",)})


def test_stratified_split_is_seeded_disjoint_and_keeps_class_shares():
    labels = np.array([0] * 300 + [1] * 100)
    train, val, test = split_indices(400, 0.1, 0.2, seed=3, strata=labels)
    assert len(set(train) | set(val) | set(test)) == 400 and len(train) + len(val) + len(test) == 400
    assert (labels[test] == 1).sum() == 20 and (labels[val] == 1).sum() == 10
    again = split_indices(400, 0.1, 0.2, seed=3, strata=labels)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again))
    assert not np.array_equal(test, split_indices(400, 0.1, 0.2, seed=4, strata=labels)[2])


def test_unstratified_split_for_regression_and_multilabel():
    train, val, test = split_indices(100, 0.1, 0.2, seed=0)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert len(set(train) | set(val) | set(test)) == 100


def test_split_refuses_tiny_classes():
    with pytest.raises(DnanetError, match="a class has only 2 sequences"):
        split_indices(52, 0.1, 0.15, seed=0, strata=np.array([0] * 50 + [1] * 2))


def test_loader_batches_are_padded_codes_with_targets():
    sequences = SequenceSet(["a", "b", "c"], np.array([0, 1, 2, 3, 3], dtype=np.uint8),
                            np.array([0, 3, 4, 5]), np.array([1, 0, 1]))
    batches = list(make_loader(sequences, batch_size=2))
    assert batches[0]["codes"].tolist() == [[0, 1, 2], [3, PAD, PAD]]
    assert batches[0]["targets"].tolist() == [1, 0] and batches[1]["lengths"].tolist() == [1]


def test_code_batches_are_the_loader_codes_and_lengths_of_the_chosen_sequences_in_order():
    sequences = SequenceSet(["a", "b", "c"], np.array([0, 1, 2, 3, 3], dtype=np.uint8),
                            np.array([0, 3, 4, 5]), np.array([1, 0, 1]))
    batches = list(code_batches(sequences, batch_size=2, indices=np.array([2, 0])))
    assert [(codes.tolist(), lengths.tolist()) for codes, lengths in batches] == [([[3, PAD, PAD], [0, 1, 2]], [1, 3])]


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
    records = read_labelled([LabelledInput(c, p) for c, p in training_inputs()])
    assert [records.labels.count((c,)) for c in ("bound", "background")] == [425, 425]
    assert set(np.diff(records.offsets)) == {101}


def test_streamed_batches_shrink_for_long_records_and_refuse_a_chromosome(tmp_path):
    from dnanet.data import iter_batches
    from dnanet.errors import DnanetError

    path = tmp_path / "mixed.fa"
    records = [("short1", 100), ("short2", 100), ("long", 5_000), ("short3", 100), ("short4", 100)]
    path.write_text("".join(f">{name}\n{'ACGT' * (length // 4)}\n" for name, length in records))
    batches = list(iter_batches([path], batch_size=256, max_record=10_000, max_bases=9_999))
    assert [b.ids for b in batches] == [["short1", "short2"], ["long"], ["short3", "short4"]]
    assert all(b.codes.size <= 9_999 for b in batches)
    assert [i for b in batches for i in b.ids] == [name for name, _ in records]  # input order kept
    with pytest.raises(DnanetError, match=r"mixed.fa line 5: record long has 5,000 bases, more than the 4,000"):
        list(iter_batches([path], batch_size=256, max_record=4_000))
