"""Training: reproducible, learns real and planted signals, binary and multiclass."""

import dataclasses
import json

import numpy as np
import torch

from dnanet.config.run_config import load_config
from dnanet.data.sets import SequenceSet
from dnanet.data.store import read_labelled
from dnanet.data.tasks import Task, infer_task
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.inputs.sources import LabelledInput
from dnanet.training.experiment import train_model
from dnanet.training.loop import balancing_weights

CPU = torch.device("cpu")
GATA, EBOX = b"AGATAAGG", b"CCACGTGG"


def example_set() -> tuple[SequenceSet, Task]:
    from dnanet.examples import training_inputs

    records = read_labelled([LabelledInput(c, p) for c, p in training_inputs()])
    task = infer_task(records.label_values, ["class"])
    return records.with_targets(records.targets(task.encode)), task


def test_same_seed_same_data_gives_the_same_model():
    sequences, task = example_set()
    config = load_config(epochs=2, batch_size=32)
    config = dataclasses.replace(config, model={**config.model, "channels": 16, "hidden": 16})
    first = train_model(config, sequences, task, [], CPU)
    second = train_model(config, sequences, task, [], CPU)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert first.test_metrics == second.test_metrics
    other_seed = train_model(dataclasses.replace(config, seed=1), sequences, task, [], CPU)
    assert not torch.equal(other_seed.model.head[1].weight, first.model.head[1].weight)


def planted_sequences(
    motif_sets: list[list[bytes]], length: int = 60, seed: int = 0
) -> list[bytes]:
    """Random DNA with the given motifs planted (one list of motifs per sequence, no overlap)."""
    rng = np.random.default_rng(seed)
    sequences = []
    for motifs in motif_sets:
        sequence = bytearray(rng.choice(list(b"ACGT"), size=length).astype(np.uint8).tobytes())
        for slot, motif in enumerate(motifs):  # slot i: positions [i*length/2, (i+1)*length/2)
            half = length // 2
            start = slot * half + int(rng.integers(0, half - len(motif) + 1))
            sequence[start : start + len(motif)] = motif
        sequences.append(bytes(sequence))
    return sequences


def sequence_set(sequences: list[bytes], targets: np.ndarray) -> SequenceSet:
    flat = np.frombuffer(b"".join(sequences).translate(BYTE_TO_CODE), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])]).astype(np.int64)
    return SequenceSet([f"seq{i}" for i in range(len(sequences))], flat, offsets, targets)


def planted_motif_set(n_per_class: int = 120) -> SequenceSet:
    """Three classes: GATA site, E-box, or no site, planted at random places in random DNA."""
    motif_sets = [[GATA]] * n_per_class + [[EBOX]] * n_per_class + [[]] * n_per_class
    return sequence_set(planted_sequences(motif_sets), np.repeat(np.arange(3), n_per_class))


MULTICLASS = Task("multiclass", ["gata", "ebox", "none"])


def small_cnn_config(**encoder):
    config = load_config(seed=0)
    return dataclasses.replace(
        config,
        encoder=dataclasses.replace(config.encoder, **encoder),
        model={**config.model, "first_kernel": 9, "channels": 32, "hidden": 32},
    )


def test_multiclass_training_finds_planted_motifs():
    result = train_model(small_cnn_config(), planted_motif_set(), MULTICLASS, [], CPU)
    assert result.test_metrics["accuracy"] >= 0.8, result.test_metrics
    assert set(result.test_metrics["per_class"]) == {"gata", "ebox", "none"}
    assert len(result.history) >= 1 and {"train_loss", "val_loss", "val_auroc", "lr"} <= set(
        result.history[0]
    )


def test_kmer_encoder_trains_a_cnn():
    result = train_model(
        small_cnn_config(name="kmer", k=3), planted_motif_set(), MULTICLASS, [], CPU
    )
    assert result.test_metrics["accuracy"] >= 0.8, result.test_metrics


def test_multilabel_training_finds_each_planted_motif():
    """Each sequence may hold a GATA site, an E-box, both or neither: two independent labels."""
    rng = np.random.default_rng(1)
    flags = rng.integers(0, 2, size=(400, 2))
    motif_sets = [[m for m, f in zip((GATA, EBOX), row) if f] for row in flags]
    sequences = sequence_set(planted_sequences(motif_sets, seed=1), flags.astype(np.float32))
    task = Task("multilabel", ["gata", "ebox"])
    result = train_model(small_cnn_config(), sequences, task, [], CPU)
    metrics = result.test_metrics
    assert metrics["auroc"] >= 0.9 and set(metrics["per_class"]) == {"gata", "ebox"}, metrics
    assert metrics["exact_match"] >= 0.7 and "val_auroc" in result.history[0]


def test_regression_learns_motif_counts_in_their_units():
    """Target = 10 x (number of planted E-boxes, 0..2) + 100: predictions come back in those
    units."""
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 3, size=360)
    sequences = sequence_set(
        planted_sequences([[EBOX] * c for c in counts], seed=2),
        (10.0 * counts[:, None] + 100).astype(np.float32),
    )
    result = train_model(small_cnn_config(), sequences, Task("regression", ["signal"]), [], CPU)
    metrics = result.test_metrics
    assert metrics["pearson"] >= 0.8 and metrics["mse"] < 40, metrics
    assert (
        abs(result.description["task"]["mean"][0] - 110) < 5 and "val_pearson" in result.history[0]
    )


def test_class_weights_balance_an_unbalanced_set():
    weights = balancing_weights(Task("binary", ["a", "b"]), np.array([0, 0, 0, 1]))
    assert torch.allclose(weights, torch.tensor([4 / 6, 2.0]))
    positive = balancing_weights(
        Task("multilabel", ["a", "b"]), np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    )
    assert torch.allclose(positive, torch.tensor([3.0, 1.0]))


def test_shipped_cnn_learns_ctcf_binding(trained_run):
    """Real data: the run from `dnanet train` on the bundled CTCF example scores well on its test
    split."""
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["auroc"] >= 0.93, metrics
    assert metrics["n"] == 128 and metrics["positive_class"] == "bound"


def test_steps_per_epoch_sets_the_epoch_length_whatever_the_data_size():
    from dnanet.data.loaders import TrainingSampler
    from dnanet.training.loop import TrainingMonitor

    class CountSteps(TrainingMonitor):
        def __init__(self):
            self.steps = []

        def epoch_started(self, epoch, epochs, steps):
            self.steps.append(0)

        def step_done(self):
            self.steps[-1] += 1

    config = small_cnn_config()
    config = dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=3, steps_per_epoch=4)
    )
    counter = CountSteps()
    result = train_model(config, planted_motif_set(), MULTICLASS, [], CPU, counter)
    assert (
        counter.steps == [4, 4, 4] and len(result.history) == 3
    )  # 252 training records: 8 batches a pass
    drawn = list(TrainingSampler(10, 25, torch.Generator().manual_seed(0)))
    assert (
        len(drawn) == 25
        and sorted(drawn[:10]) == list(range(10))
        and sorted(drawn[10:20]) == list(range(10))
    )
