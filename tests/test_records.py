"""Labelled records in memory and in the on-disk store; length-bucketed training batches."""

import json

import numpy as np
import pytest
import torch

from dnanet.data import TrainingSampler, make_loader, padding_overhead
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs
from dnanet.records import LabelledInput, open_or_build_store, read_labelled, store_key


def example_inputs():
    return [LabelledInput(label, path) for label, path in training_inputs()]


def test_the_store_holds_what_reading_into_memory_gives_and_is_memory_mapped(tmp_path):
    inputs = example_inputs()
    memory = read_labelled(inputs)
    stored = open_or_build_store(tmp_path, store_key(inputs, None, {}), inputs)
    assert isinstance(stored.flat, np.memmap) and len(stored) == len(memory) == 850
    assert np.array_equal(stored.flat, memory.flat) and np.array_equal(stored.offsets, memory.offsets)
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
    with pytest.raises(DnanetError, match="bad.fa line 2, column 3: record 'y' has an illegal character '-'"):
        open_or_build_store(tmp_path / "cache", store_key(inputs, None, {}), inputs)
    assert list((tmp_path / "cache").iterdir()) == []


def test_labels_from_a_table_reach_the_store_and_name_the_record_in_errors(tmp_path):
    fasta = tmp_path / "all.fa"
    fasta.write_text(">x\nACGT\n>y\nTTTT\n>z\nGGGG\n")
    inputs = [LabelledInput(None, fasta)]
    stored = open_or_build_store(tmp_path, "k", inputs, lambda: {"x": ("up",), "y": ("down",), "z": ("sideways",)})
    assert stored.labels == [("up",), ("down",), ("sideways",)]
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert manifest["records"] == 3 and manifest["label_values"] == [["up"], ["down"], ["sideways"]]

    def encode(values, where):
        raise DnanetError(f"{where(2)}: class '{values[2][0]}' is not one of the model's classes")

    with pytest.raises(DnanetError, match=r"all.fa line 5: class 'sideways'"):
        stored.targets(encode)


def test_length_bucketing_cuts_padding_and_still_draws_every_record_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 2_000, size=3_000)
    batch = 32
    assert padding_overhead(lengths, batch) > 0.4  # random batches: nearly half padding
    sampler = TrainingSampler(len(lengths), len(lengths), torch.Generator().manual_seed(0), batch, lengths)
    order = np.array(list(sampler))
    assert sorted(order.tolist()) == list(range(len(lengths)))
    batches = [lengths[order[i: i + batch]] for i in range(0, len(order), batch)]
    padded = sum(b.max() * len(b) for b in batches)
    assert 1 - lengths.sum() / padded < 0.10
    assert len({int(b.max()) for b in batches}) > 50  # batches from the whole length range, not one bucket
    again = np.array(list(TrainingSampler(len(lengths), len(lengths), torch.Generator().manual_seed(0), batch, lengths)))
    assert np.array_equal(order, again)  # seeded


def test_equal_lengths_keep_the_plain_shuffled_order():
    generator = torch.Generator().manual_seed(5)
    order = list(TrainingSampler(100, 100, generator, 8, np.full(100, 200)))
    assert order == torch.randperm(100, generator=torch.Generator().manual_seed(5)).tolist()


def test_a_loader_over_indices_batches_those_records_in_order():
    inputs = example_inputs()
    records = read_labelled(inputs)
    sequences = records.with_targets(np.arange(len(records)))
    chosen = np.array([849, 3, 500])
    batches = list(make_loader(sequences, 2, chosen))
    assert [b["targets"].tolist() for b in batches] == [[849, 3], [500]]
    assert batches[0]["codes"][0].tolist() == sequences.codes([849])[0][0].tolist()
