"""Sequence sets, the stratified split, loaders and length-bucketed training batches, streamed
batches, and the sharding rule (`Shard`, `count_records`)."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from dnanet.data.loaders import TrainingSampler, code_batches, make_loader, padding_overhead
from dnanet.data.sets import SequenceSet, split_indices
from dnanet.data.store import read_labelled
from dnanet.data.streaming import count_records, iter_batches
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs
from dnanet.inputs.encode import PAD
from dnanet.inputs.read import read_fasta
from dnanet.inputs.sources import LabelledInput
from dnanet.runtime.shards import Shard


def write_fasta(
    path: Path, records: dict[str, str], description: str = " some description"
) -> Path:
    path.write_text("".join(f">{name}{description}\n{seq}\n" for name, seq in records.items()))
    return path


def example_inputs():
    return [LabelledInput(label, path) for label, path in training_inputs()]


def test_stratified_split_is_seeded_disjoint_and_keeps_class_shares():
    labels = np.array([0] * 300 + [1] * 100)
    train, val, test = split_indices(400, 0.1, 0.2, seed=3, strata=labels)
    assert (
        len(set(train) | set(val) | set(test)) == 400 and len(train) + len(val) + len(test) == 400
    )
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
    sequences = SequenceSet(
        ["a", "b", "c"],
        np.array([0, 1, 2, 3, 3], dtype=np.uint8),
        np.array([0, 3, 4, 5]),
        np.array([1, 0, 1]),
    )
    batches = list(make_loader(sequences, batch_size=2))
    assert batches[0]["codes"].tolist() == [[0, 1, 2], [3, PAD, PAD]]
    assert batches[0]["targets"].tolist() == [1, 0] and batches[1]["lengths"].tolist() == [1]


def test_code_batches_are_the_loader_codes_and_lengths_of_the_chosen_sequences_in_order():
    sequences = SequenceSet(
        ["a", "b", "c"],
        np.array([0, 1, 2, 3, 3], dtype=np.uint8),
        np.array([0, 3, 4, 5]),
        np.array([1, 0, 1]),
    )
    batches = list(code_batches(sequences, batch_size=2, indices=np.array([2, 0])))
    assert [(codes.tolist(), lengths.tolist()) for codes, lengths in batches] == [
        ([[3, PAD, PAD], [0, 1, 2]], [1, 3])
    ]


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
    from dnanet.data.streaming import iter_batches
    from dnanet.errors import DnanetError

    path = tmp_path / "mixed.fa"
    records = [("short1", 100), ("short2", 100), ("long", 5_000), ("short3", 100), ("short4", 100)]
    path.write_text("".join(f">{name}\n{'ACGT' * (length // 4)}\n" for name, length in records))
    batches = list(iter_batches([path], batch_size=256, max_record=10_000, max_bases=9_999))
    assert [b.ids for b in batches] == [["short1", "short2"], ["long"], ["short3", "short4"]]
    assert all(b.codes.size <= 9_999 for b in batches)
    assert [i for b in batches for i in b.ids] == [name for name, _ in records]  # input order kept
    with pytest.raises(
        DnanetError, match=r"mixed.fa line 5: record long has 5,000 bases, more than the 4,000"
    ):
        list(iter_batches([path], batch_size=256, max_record=4_000))


def test_length_bucketing_cuts_padding_and_still_draws_every_record_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 2_000, size=3_000)
    batch = 32
    assert padding_overhead(lengths, batch) > 0.4  # random batches: nearly half padding
    sampler = TrainingSampler(
        len(lengths), len(lengths), torch.Generator().manual_seed(0), batch, lengths
    )
    order = np.array(list(sampler))
    assert sorted(order.tolist()) == list(range(len(lengths)))
    batches = [lengths[order[i : i + batch]] for i in range(0, len(order), batch)]
    padded = sum(b.max() * len(b) for b in batches)
    assert 1 - lengths.sum() / padded < 0.10
    assert (
        len({int(b.max()) for b in batches}) > 50
    )  # batches from the whole length range, not one bucket
    again = np.array(
        list(
            TrainingSampler(
                len(lengths), len(lengths), torch.Generator().manual_seed(0), batch, lengths
            )
        )
    )
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


# --- the sharding rule ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_shards_are_contiguous_blocks_that_partition_the_records_in_order(count):
    for total in range(12):
        blocks = [Shard(index, count).records(total) for index in range(count)]
        assert [n for block in blocks for n in block] == list(range(total))
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1


def test_shard_is_written_k_of_n_from_one():
    assert Shard.parse("3/10") == Shard(2, 10) and str(Shard(2, 10)) == "3/10"
    assert Shard.parse("1/1").first and not Shard.parse("2/2").first
    for bad in ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "", "1/2/3", "1.5/3"]:
        with pytest.raises(DnanetError, match="expected K/N with 1 <= K <= N"):
            Shard.parse(bad)


@pytest.mark.parametrize("block", [1, 2, 5, 1 << 20])
def test_record_count_matches_the_reader_across_block_edges_and_gzip(tmp_path, block):
    plain = write_fasta(
        tmp_path / "a.fa", {f"r{i}": "ACGT" * (i + 1) for i in range(9)}, description=""
    )
    compressed = tmp_path / "b.fa.gz"
    compressed.write_bytes(gzip.compress(b">x one\nAC\nGT\n\n>y\nA\n"))
    assert (
        count_records([plain, compressed], block)
        == [9, 2]
        == [len(list(read_fasta(p))) for p in (plain, compressed)]
    )
    no_records = tmp_path / "c.fa"
    no_records.write_text("ACGT\n")
    with pytest.raises(DnanetError, match="c.fa: no FASTA records"):
        count_records([no_records])


def test_a_shard_streams_only_its_records_and_stops_before_the_next(tmp_path):
    first = write_fasta(tmp_path / "one.fa", {f"s{i}": "ACGT" for i in range(4)}, description="")
    second = write_fasta(
        tmp_path / "two.fa", {"t0": "AC", "t1": "GT", "bad": "AC-GT"}, description=""
    )
    batches = list(
        iter_batches([first, second], batch_size=2, records=Shard(1, 3).records(7))
    )  # records 2..3
    assert [b.ids for b in batches] == [["s2", "s3"]] and batches[0].sources == [0, 0]
    batches = list(
        iter_batches([first, second], batch_size=2, records=range(3, 6))
    )  # never reads 'bad'
    assert [i for b in batches for i in b.ids] == ["s3", "t0", "t1"] and batches[-1].sources == [1]
    with pytest.raises(DnanetError, match="two.fa line 6.*record 'bad'"):
        list(iter_batches([first, second], batch_size=2, records=Shard(2, 3).records(7)))
