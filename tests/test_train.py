"""Training: reproducible, learns real and planted signals, binary and multiclass."""

import dataclasses
import json

import numpy as np
import torch

from dnanet.config import load_config
from dnanet.data import LabelledInput, SequenceSet, load_labelled
from dnanet.encode import BYTE_TO_CODE
from dnanet.experiment import train_model
from dnanet.train import inverse_frequency_weights

CPU = torch.device("cpu")


def example_set() -> SequenceSet:
    from dnanet.examples import training_inputs

    return load_labelled([LabelledInput(c, p) for c, p in training_inputs()])[0]


def test_same_seed_same_data_gives_the_same_model():
    sequences = example_set()
    config = load_config(epochs=2, batch_size=32)
    config = dataclasses.replace(config, model={**config.model, "channels": 16, "hidden": 16})
    first = train_model(config, sequences, [], CPU, show_progress=False)
    second = train_model(config, sequences, [], CPU, show_progress=False)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert first.test_metrics == second.test_metrics
    other_seed = train_model(dataclasses.replace(config, seed=1), sequences, [], CPU, show_progress=False)
    assert not torch.equal(other_seed.model.head[1].weight, first.model.head[1].weight)


def planted_motif_set(n_per_class: int = 120, length: int = 60, seed: int = 0) -> SequenceSet:
    """Three classes: GATA site, E-box, or no site, planted at random places in random DNA."""
    rng = np.random.default_rng(seed)
    motifs = [b"AGATAAGG", b"CCACGTGG", b""]
    chunks, labels = [], []
    for label, motif in enumerate(motifs):
        for _ in range(n_per_class):
            sequence = bytearray(rng.choice(list(b"ACGT"), size=length).astype(np.uint8).tobytes())
            start = int(rng.integers(0, length - len(motif) + 1))
            sequence[start:start + len(motif)] = motif
            chunks.append(bytes(sequence))
            labels.append(label)
    flat = np.frombuffer(b"".join(chunks).translate(BYTE_TO_CODE), dtype=np.uint8)
    offsets = np.arange(len(chunks) + 1, dtype=np.int64) * length
    ids = [f"seq{i}" for i in range(len(chunks))]
    return SequenceSet(ids, flat, offsets, np.array(labels), ["gata", "ebox", "none"])


def test_multiclass_training_finds_planted_motifs():
    config = load_config(seed=0)
    config = dataclasses.replace(config, model={**config.model, "first_kernel": 9, "channels": 32, "hidden": 32})
    result = train_model(config, planted_motif_set(), [], CPU, show_progress=False)
    assert result.test_metrics["accuracy"] >= 0.8, result.test_metrics
    assert set(result.test_metrics["per_class"]) == {"gata", "ebox", "none"}
    assert len(result.history) >= 1 and {"train_loss", "val_loss", "val_auroc", "lr"} <= set(result.history[0])


def test_kmer_encoder_trains_a_cnn():
    config = load_config(seed=0)
    config = dataclasses.replace(config, encoder=dataclasses.replace(config.encoder, name="kmer", k=3),
                                 model={**config.model, "first_kernel": 5, "channels": 32, "hidden": 32})
    result = train_model(config, planted_motif_set(), [], CPU, show_progress=False)
    assert result.test_metrics["accuracy"] >= 0.8, result.test_metrics


def test_class_weights_balance_an_unbalanced_set():
    weights = inverse_frequency_weights(np.array([0, 0, 0, 1]), 2)
    assert torch.allclose(weights, torch.tensor([4 / 6, 2.0]))


def test_shipped_cnn_learns_ctcf_binding(trained_run):
    """Real data: the run from `dnanet train` on the bundled CTCF example scores well on its test split."""
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["auroc"] >= 0.93, metrics
    assert metrics["n"] == 128 and metrics["positive_class"] == "bound"
