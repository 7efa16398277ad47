"""dnanet.inference.predict, the one batched prediction path: strand averaging against predictions
worked out by hand, outputs that do not depend on the batch size, the model's mode restored, and the
streamed TSV of `write_predictions`."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch

from dnanet.data.tasks import Task
from dnanet.inference.predict import evaluation_mode, predict, predict_batch, write_predictions
from dnanet.inputs.encode import sequences_to_codes
from dnanet.models import build_model
from dnanet.runtime.device import resolve_device

BINARY = Task("binary", ["bound", "background"])
SEQUENCES = [
    b"ACGTTGCANGGATCCATTGACGCA",
    b"TTGACCGATGCAAT",
    b"GGGCCCATATAT",
    b"CATTGACGCAACGTTGCANGGATCC",
    b"ACGTACGTAC",
    b"TTTTGGGGCCCCAAAA",
    b"GATTACA",
]
COMPLEMENT = bytes.maketrans(b"ACGTN", b"TGCAN")


def small_cnn(n_outputs: int = 2, dropout: float = 0.2) -> torch.nn.Module:
    torch.manual_seed(0)
    arguments = {"channels": 8, "layers": 2, "hidden": 8, "dropout": dropout}
    return build_model("cnn", n_outputs, arguments)


def logits_of(model: torch.nn.Module, sequences: list[bytes]) -> torch.Tensor:
    """The model's logits ``(N, C)`` for each sequence scored on its own, in eval mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(sequences_to_codes([s])[0])) for s in sequences])


def test_strand_averaging_is_the_mean_of_both_strands_worked_out_by_hand():
    """The reverse strand is written out as bytes here, not with encode.reverse_complement."""
    model = small_cnn()
    reverse = [s.translate(COMPLEMENT)[::-1] for s in SEQUENCES]
    forward_probs = torch.softmax(logits_of(model, SEQUENCES), -1)
    reverse_probs = torch.softmax(logits_of(model, reverse), -1)
    codes, lengths = sequences_to_codes(SEQUENCES)
    averaged = predict_batch(model, codes, lengths, True, activate=BINARY.activate)
    one_strand = predict_batch(model, codes, lengths, False, activate=BINARY.activate)
    torch.testing.assert_close(averaged, (forward_probs + reverse_probs) / 2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(one_strand, forward_probs, rtol=1e-5, atol=1e-6)
    assert (averaged - one_strand).abs().max() > 1e-4  # the untrained CNN is not strand symmetric


def test_regression_outputs_are_averaged_in_the_data_units():
    task = Task("regression", ["expression", "gc"], [2.0, -1.0], [0.5, 3.0])
    model = small_cnn(n_outputs=2)
    reverse = [s.translate(COMPLEMENT)[::-1] for s in SEQUENCES]
    scale, shift = torch.tensor([0.5, 3.0]), torch.tensor([2.0, -1.0])
    by_hand = ((logits_of(model, SEQUENCES) + logits_of(model, reverse)) / 2) * scale + shift
    codes, lengths = sequences_to_codes(SEQUENCES)
    averaged = predict_batch(model, codes, lengths, True, activate=task.activate)
    torch.testing.assert_close(averaged, by_hand, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strands", [False, True], ids=["forward", "both-strands"])
def test_the_batch_size_does_not_change_predictions(strands):
    """Records of different lengths are padded differently in each batching; the outputs agree to
    float32 rounding (batched kernels sum in other orders)."""
    model = small_cnn()

    def batches(size: int):
        return [sequences_to_codes(SEQUENCES[i : i + size]) for i in range(0, len(SEQUENCES), size)]

    outputs = [
        predict(model, batches(size), strands, activate=BINARY.activate)
        for size in (1, 3, len(SEQUENCES))
    ]
    assert all(o.shape == (len(SEQUENCES), 2) and o.dtype == np.float32 for o in outputs)
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], rtol=0, atol=2e-6)


def test_no_batches_give_an_empty_array():
    assert predict(small_cnn(), [], activate=BINARY.activate).shape == (0, 0)


@pytest.mark.parametrize("training", [True, False])
def test_evaluation_mode_turns_training_and_gradients_off_and_restores_the_mode(training):
    model = small_cnn().train(training)
    with evaluation_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
        assert not torch.is_grad_enabled()
    assert model.training is training and all(m.training is training for m in model.modules())
    assert torch.is_grad_enabled()


def test_evaluation_mode_restores_the_mode_after_an_error():
    model = small_cnn().train()
    with pytest.raises(RuntimeError, match="inside"):
        with evaluation_mode(model):
            raise RuntimeError("inside")
    assert model.training


def test_predicting_a_training_model_turns_dropout_off_and_leaves_it_training():
    """Dropout 0.5 would change every call's outputs; predict_batch runs in eval mode, no graph."""
    model = small_cnn(dropout=0.5).train()
    codes, lengths = sequences_to_codes(SEQUENCES)
    first = predict_batch(model, codes, lengths, True, activate=BINARY.activate)
    assert torch.equal(first, predict_batch(model, codes, lengths, True, activate=BINARY.activate))
    assert not first.requires_grad and first.device.type == "cpu" and first.dtype == torch.float32
    assert model.training


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == resolve_device("auto").type == expected


def write_fasta(path, sequences: list[bytes]) -> list[str]:
    ids = [f"r{i}" for i in range(len(sequences))]
    path.write_bytes(b"".join(b">%s note\n%s\n" % (i.encode(), s) for i, s in zip(ids, sequences)))
    return ids


def test_write_predictions_streams_one_row_per_record_in_order(tmp_path):
    fasta = tmp_path / "records.fa"
    ids = write_fasta(fasta, SEQUENCES)
    model, handle, seen = small_cnn(), io.StringIO(), []
    count = write_predictions(handle, model, BINARY, [fasta], 3, True, seen.append)
    rows = list(csv.reader(io.StringIO(handle.getvalue()), delimiter="\t"))
    assert count == len(SEQUENCES) and seen == [3, 6, 7]
    assert rows[0] == ["id", "predicted", "prob_bound", "prob_background"]
    assert [r[0] for r in rows[1:]] == ids
    codes, lengths = sequences_to_codes(SEQUENCES)
    expected = predict_batch(model, codes, lengths, True, activate=BINARY.activate).numpy()
    probabilities = np.array([r[2:] for r in rows[1:]], dtype=float)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert [r[1] for r in rows[1:]] == [BINARY.names[i] for i in expected.argmax(1)]


def test_write_predictions_of_some_records_without_a_header(tmp_path):
    fasta = tmp_path / "records.fa"
    ids = write_fasta(fasta, SEQUENCES)
    handle = io.StringIO()
    count = write_predictions(
        handle, small_cnn(), BINARY, [fasta], 2, False, records=range(2, 5), header=False
    )
    rows = list(csv.reader(io.StringIO(handle.getvalue()), delimiter="\t"))
    assert count == 3 and [r[0] for r in rows] == ids[2:5]
