"""reverse_complement: auto — strand-symmetric data keep both strands, strand-specific data do
not."""

import json
from pathlib import Path

import numpy as np
import torch

from dnanet.cli import app
from dnanet.data.sets import SequenceSet
from dnanet.data.store import read_labelled
from dnanet.data.strand import excess_skew, kmer_counts, strand_test
from dnanet.examples import training_inputs
from dnanet.inputs.encode import reverse_complement
from dnanet.inputs.sources import LabelledInput
from tests.training.test_train import sequence_set

PUM2 = (
    Path(__file__).resolve().parents[1] / "fixtures" / "pum2"
)  # real RNA CLIP sites (see its SOURCE.txt)


def labelled(pairs: list[tuple[str, Path]]) -> SequenceSet:
    records = read_labelled([LabelledInput(label, path) for label, path in pairs])
    classes = sorted({label for (label,) in records.labels})
    return records.with_targets(np.array([classes.index(label) for (label,) in records.labels]))


def pum2() -> SequenceSet:
    return labelled(
        [("bound", PUM2 / "pum2.positive.fasta"), ("other", PUM2 / "pum2.negative.fasta")]
    )


def flip_half(sequences: SequenceSet, seed: int = 0) -> SequenceSet:
    """The same records with a random half turned to their reverse complement."""
    codes, lengths = sequences.codes(np.arange(len(sequences)))
    flipped = reverse_complement(torch.from_numpy(codes), torch.from_numpy(lengths)).numpy()
    chosen = np.random.default_rng(seed).random(len(sequences)) < 0.5
    codes = np.where(chosen[:, None], flipped, codes)
    rows = [bytes(row[:n]) for row, n in zip(codes, lengths)]
    return sequence_set([bytes(b"ACGTNN"[c] for c in row) for row in rows], sequences.targets)


def test_kmer_counts_skip_windows_across_records_and_unknown_bases():
    counts = kmer_counts(sequence_set([b"ACGT", b"ANGA", b"AC"], np.zeros(3)))
    assert counts.sum() == 2  # ACG, CGT: no window spans two records or holds N
    assert counts[int("012", 4)] == 1 and counts[int("123", 4)] == 1


def test_chip_seq_peaks_are_strand_symmetric():
    result = strand_test(labelled(training_inputs()), by_class=True)
    assert not result.oriented and result.excess_skew < 0.01


def test_rna_clip_sites_are_strand_specific_until_half_are_flipped():
    sequences = pum2()
    assert strand_test(sequences, by_class=True).oriented
    assert not strand_test(flip_half(sequences), by_class=True).oriented


def test_excess_skew_discounts_sampling_noise():
    rng = np.random.default_rng(1)
    symmetric = rng.multinomial(
        500, np.full(64, 1 / 64)
    )  # few counts: a large raw skew from noise alone
    skew, sd = excess_skew(symmetric)
    assert abs(skew) < 4 * sd


def test_train_auto_turns_strand_averaging_off_for_rna(tmp_path, runner):
    out = tmp_path / "pum2"
    result = runner.invoke(
        app,
        [
            "train",
            f"bound={PUM2 / 'pum2.positive.fasta'}",
            f"other={PUM2 / 'pum2.negative.fasta'}",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "reverse complement off (auto" in result.output
    description = json.loads((out / "model.json").read_text())
    assert description["reverse_complement_average"] is False
    assert (
        description["strand"]["setting"] == "auto" and description["strand"]["excess_skew"] > 0.02
    )


def test_trained_example_keeps_both_strands(trained_run):
    description = json.loads((trained_run / "model.json").read_text())
    assert description["reverse_complement_average"] is True
    assert description["strand"]["setting"] == "auto"


def test_kmer_counts_read_in_chunks_equal_counting_every_window_by_hand():
    from dnanet.data.strand import kmer_counts

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=500)
    flat = rng.integers(0, 5, size=lengths.sum()).astype(
        np.uint8
    )  # 4 = unknown base: its windows are skipped
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    sequences = SequenceSet(
        [str(i) for i in range(500)], flat, offsets, np.zeros(500, dtype=np.int64)
    )
    by_hand = np.zeros(64, dtype=np.int64)
    for start, end in zip(offsets[:-1], offsets[1:]):
        for position in range(start, end - 2):
            window = flat[position : position + 3]
            if (window <= 3).all():
                by_hand[window @ [16, 4, 1]] += 1
    for chunk in (1, 100, 1 << 20):  # one sequence at a time, a few, all at once
        assert np.array_equal(kmer_counts(sequences, chunk_bases=chunk), by_hand)
