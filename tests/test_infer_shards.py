"""The sharding rule of inference: contiguous blocks of the records, counted across files in
input order, streamed without reading past the block."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dnanet.data import Shard, count_records, iter_batches
from dnanet.errors import DnanetError
from dnanet.read import read_fasta


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
    return path


# --- the sharding rule ------------------------------------------------------------------------

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
    plain = write_fasta(tmp_path / "a.fa", {f"r{i}": "ACGT" * (i + 1) for i in range(9)})
    compressed = tmp_path / "b.fa.gz"
    compressed.write_bytes(gzip.compress(b">x one\nAC\nGT\n\n>y\nA\n"))
    assert count_records([plain, compressed], block) == [9, 2] == [len(list(read_fasta(p))) for p in (plain, compressed)]
    no_records = tmp_path / "c.fa"
    no_records.write_text("ACGT\n")
    with pytest.raises(DnanetError, match="c.fa: no FASTA records"):
        count_records([no_records])


def test_a_shard_streams_only_its_records_and_stops_before_the_next(tmp_path):
    first = write_fasta(tmp_path / "one.fa", {f"s{i}": "ACGT" for i in range(4)})
    second = write_fasta(tmp_path / "two.fa", {"t0": "AC", "t1": "GT", "bad": "AC-GT"})
    batches = list(iter_batches([first, second], batch_size=2, records=Shard(1, 3).records(7)))  # records 2..3
    assert [b.ids for b in batches] == [["s2", "s3"]] and batches[0].sources == [0, 0]
    batches = list(iter_batches([first, second], batch_size=2, records=range(3, 6)))  # never reads 'bad'
    assert [i for b in batches for i in b.ids] == ["s3", "t0", "t1"] and batches[-1].sources == [1]
    with pytest.raises(DnanetError, match="two.fa line 6.*record 'bad'"):
        list(iter_batches([first, second], batch_size=2, records=Shard(2, 3).records(7)))
