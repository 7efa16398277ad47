"""`dnanet.data.signal` and `dnanet.data.signal_task`: coverage read into a memory-mapped target
store per window, cut with the sequence at the same jitter shift, reversed with the strand; the
BPNet losses and the flat layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyBigWig
import pytest
import torch
from scipy import stats

from dnanet.data.labelled import TrainingInputs
from dnanet.data.signal import SignalSet, signal_settings
from dnanet.data.signal_task import multinomial_nll
from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.inputs.encode import BASE_LETTERS
from dnanet.progress import Reporter

CHROM = 4_000
SPIKES = (1_000, 2_000, 3_000)  # a peak summit at each; one read spike 7 bases right of it


@pytest.fixture
def genome_with_spikes(tmp_path):
    """A genome of one chromosome, peaks at `SPIKES` (one on the - strand), and a track with 10
    reads on the base 7 right of each summit (and 1 read per base elsewhere on [500, 3500))."""
    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("ACGT"), CHROM))
    (tmp_path / "genome.fa").write_text(f">chr1\n{sequence}\n")
    lines = [
        f"chr1\t{s - 50}\t{s + 50}\tpeak{i}\t0\t{'-' if i == 1 else '+'}\n"
        for i, s in enumerate(SPIKES)
    ]
    (tmp_path / "peaks.bed").write_text("".join(lines))
    values = np.zeros(CHROM)
    values[500:3500] = 1
    for summit in SPIKES:
        values[summit + 7] = 10
    track = pyBigWig.open(str(tmp_path / "chip.bw"), "w")
    track.addHeader([("chr1", CHROM)])
    track.addEntries("chr1", 0, values=values.tolist(), span=1, step=1)
    track.close()
    return tmp_path, sequence


def read(folder: Path, task="profile", window=40, target_width=20, jitter=5, dtype="float32"):
    settings = signal_settings(
        [f"chip={folder / 'chip.bw'}"], task, target_width, jitter, dtype=dtype
    )
    inputs = TrainingInputs.from_options(
        folder / "run",
        inputs=[f"peaks={folder / 'peaks.bed'}"],
        val=[],
        test=[],
        labels=None,
        id_column="id",
        label_column=["label"],
        task=task,
        cache=folder / "cache",
        genome=folder / "genome.fa",
        window=window,
        background_ratio=1,
        seed=0,
        signal=settings,
    )
    return inputs.read_set(Reporter())


def letters(codes: np.ndarray) -> str:
    return "".join(BASE_LETTERS[codes])


def test_profile_targets_are_the_coverage_at_the_window_centre(genome_with_spikes):
    folder, _ = genome_with_spikes
    _, _, task, sequences = read(folder)
    assert isinstance(sequences, SignalSet) and task.kind == "profile" and task.width == 20
    targets = sequences.targets[np.arange(3)]  # (3, 1 + 20): log total, 20 bases
    profile = targets[:, 1:]
    # window centre = summit; the 20-base target starts 10 before it, so the spike is at 17 (+)
    # and on the - strand, read reversed, at 20 - 1 - 17 = 2
    assert profile[0].argmax() == 17 and profile[2].argmax() == 17 and profile[1].argmax() == 2
    assert np.allclose(targets[:, 0], np.log1p(19 + 10))


def test_a_jittered_batch_cuts_sequence_and_targets_at_the_same_shift(genome_with_spikes):
    folder, sequence = genome_with_spikes
    _, _, _, sequences = read(folder)
    index = np.array([0, 0, 0, 0, 0, 0, 2, 2])
    batch = sequences.batch(index, jitter=True)
    codes, lengths, targets = batch["codes"], batch["lengths"], batch["targets"]
    assert (lengths == 40).all()
    for row, window in enumerate(index):
        summit = SPIKES[window]
        text = letters(codes[row])
        shift = sequence.find(text, summit - 30) - (summit - 20)  # where the cut sits
        assert -5 <= shift <= 5 and sequence[summit - 20 + shift : summit + 20 + shift] == text
        spike = 17 - shift  # the spike moved with the sequence (or out of the 20 bases)
        expected = np.ones(20)
        if spike < 20:
            expected[spike] = 10
        assert np.array_equal(targets[row, 1:], expected)
    assert len({letters(row) for row in codes[:6]}) > 1  # shifts are drawn, not fixed


def test_counts_targets_sum_the_target_width_at_every_shift(genome_with_spikes):
    folder, _ = genome_with_spikes
    _, _, task, sequences = read(folder, task="counts", target_width=10, jitter=3)
    assert task.kind == "counts" and sequences.targets.shape == (3, 1)
    centre = sequences.targets[np.arange(3)]
    assert np.allclose(centre, np.log1p(10))  # [summit - 5, summit + 5) holds no spike
    shifted = sequences.targets.rows(np.array([0]), np.array([6]))  # 3 bases right
    assert np.allclose(shifted, np.log1p(9 + 10))  # [summit - 2, summit + 8): the spike


def test_the_store_is_reused_and_keyed_by_the_track(genome_with_spikes):
    folder, _ = genome_with_spikes
    read(folder)
    stores = sorted(p.name for p in (folder / "cache").glob("signal-*"))
    read(folder)
    assert sorted(p.name for p in (folder / "cache").glob("signal-*")) == stores
    track = pyBigWig.open(str(folder / "chip.bw"), "w")
    track.addHeader([("chr1", CHROM)])
    track.addEntries("chr1", 0, values=[2.0] * CHROM, span=1, step=1)
    track.close()
    _, _, _, sequences = read(folder)
    assert len(list((folder / "cache").glob("signal-*"))) == len(stores) + 1
    assert np.allclose(sequences.targets[np.arange(3)][:, 1:], 2.0)


def test_signal_options_are_checked():
    with pytest.raises(DnanetError, match="--task profile is trained on coverage"):
        signal_settings([], "profile")
    with pytest.raises(DnanetError, match="not binary"):
        signal_settings(["x.bw"], "binary")


def test_the_target_width_must_sit_at_the_window_centre(genome_with_spikes):
    folder, _ = genome_with_spikes
    with pytest.raises(DnanetError, match="--target-width 21 .* even"):
        read(folder, target_width=21)


def test_shuffled_backgrounds_have_no_coverage(genome_with_spikes):
    folder, _ = genome_with_spikes
    settings = signal_settings([f"chip={folder / 'chip.bw'}"], "counts")
    inputs = TrainingInputs.from_options(
        folder / "run",
        inputs=[f"peaks={folder / 'peaks.bed'}", "bg=shuffle"],
        val=[], test=[], labels=None, id_column="id", label_column=["label"], task="counts",
        cache=folder / "cache", genome=folder / "genome.fa", window=40, background_ratio=1,
        seed=0, signal=settings,
    )  # fmt: skip
    with pytest.raises(DnanetError, match="shuffled sequence, which has no coverage"):
        inputs.read_set(Reporter())


def test_the_multinomial_loss_is_the_multinomial_likelihood():
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(2, 3, 8)), dtype=torch.float32)
    counts = torch.tensor(rng.poisson(3, size=(2, 3, 8)), dtype=torch.float32)
    probabilities = torch.softmax(logits.double(), -1).numpy()
    expected = [
        -sum(
            stats.multinomial.logpmf(
                counts[i, t].numpy(), counts[i, t].sum().item(), probabilities[i, t]
            )
            for t in range(3)
        )
        for i in range(2)
    ]
    assert np.allclose(multinomial_nll(logits, counts).numpy(), expected, rtol=1e-4)


def test_a_profile_task_flips_profiles_and_scores_the_truth_best():
    task = Task("profile", ["a"], width=4, counts_weight=1.0)
    flat = torch.tensor([[2.0, 1, 2, 3, 4]])
    assert torch.equal(task.flip(flat), torch.tensor([[2.0, 4, 3, 2, 1]]))
    counts = torch.tensor([[np.log1p(10), 0, 0, 10, 0]], dtype=torch.float32)
    right = torch.tensor([[np.log1p(10), 0.01, 0.01, 0.97, 0.01]], dtype=torch.float32)
    wrong = torch.tensor([[np.log1p(10), 0.97, 0.01, 0.01, 0.01]], dtype=torch.float32)
    assert task.record_losses(right, counts) < task.record_losses(wrong, counts)
    outputs = task.activate(torch.tensor([[1.0, 0, 0, 0, 0]]), reverse_strand=True)
    assert torch.allclose(outputs[0, 1:], torch.full((4,), 0.25))


def test_a_float16_store_is_half_the_size_with_the_same_whole_reads(genome_with_spikes):
    folder, _ = genome_with_spikes
    _, _, _, wide = read(folder)
    _, _, _, half = read(folder, dtype="float16")
    assert half.targets.stored.dtype == np.float16 and wide.targets.stored.dtype == np.float32
    assert half.targets.stored.nbytes * 2 == wide.targets.stored.nbytes
    assert np.array_equal(half.targets[np.arange(3)], wide.targets[np.arange(3)])
