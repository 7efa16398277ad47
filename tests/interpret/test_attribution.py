"""dnanet.interpret.attribution: exact ISM against brute-force predictions of every mutant,
gradients through both strands, the target's output, and the motifs scores drawn from the same
code."""

from __future__ import annotations

import pytest
import torch

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.inference.predict import predict_batch
from dnanet.inputs.encode import (
    PAD,
    UNKNOWN,
    one_hot,
    reverse_complement,
    reverse_complement_one_hot,
    sequences_to_codes,
)
from dnanet.interpret import attribution
from dnanet.interpret.motifs import scores
from dnanet.models import build_model

TASKS = {
    "binary": Task("binary", ["bound", "background"]),
    "multiclass": Task("multiclass", ["a", "b", "c"]),
    "multilabel": Task("multilabel", ["x", "y"]),
    "regression": Task("regression", ["expression", "gc"], [2.0, -1.0], [0.5, 3.0]),
}


def small_model(n_outputs: int, family: str = "cnn", **arguments) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = {"cnn": {"channels": 8, "layers": 2, "hidden": 8}, "lstm": {}, "transformer": {}}[
        family
    ]
    return build_model(family, n_outputs, {**settings, **arguments}).eval()


def records() -> tuple[torch.Tensor, torch.Tensor]:
    """Two records of different lengths, one with an unknown base: codes (2, 24), lengths (2,)."""
    codes, lengths = sequences_to_codes([b"ACGTTGCANGGATCCATTGACGCA", b"TTGACCGATGCAAT"])
    return torch.from_numpy(codes), torch.from_numpy(lengths)


def predicted_output(model, task: Task, target: int, codes: torch.Tensor, strands: int) -> float:
    """What `dnanet predict` reports for one record ``(L,)``, on the attribution's scale:
    log(p / (1 - p)) of the target's probability, or its value (float64)."""
    value = predict_batch(
        model, codes[None], torch.tensor([len(codes)]), strands == 2, activate=task.activate
    ).double()[0, target]
    return float(value) if task.kind == "regression" else float(torch.log(value / (1 - value)))


@pytest.mark.parametrize(
    "kind, strands, region",
    [
        ("binary", 2, None),
        ("multiclass", 1, (3, 11)),
        ("multilabel", 2, None),
        ("regression", 2, (10, 24)),
    ],
)
def test_ism_equals_brute_force_predictions_of_every_mutant(kind, strands, region):
    task, target = TASKS[kind], 1
    model = small_model(task.n_outputs)
    codes, lengths = records()
    result = attribution.attribute(
        model,
        codes,
        lengths,
        "ism",
        attribution.target_output(task, target),
        strands,
        region,
        batch_size=5,
    )
    start, end = region or (0, codes.shape[1])
    for row in range(2):
        sequence = codes[row, : lengths[row]]
        reference = predicted_output(model, task, target, sequence, strands)
        assert abs(float(result.reference[row]) - reference) < 1e-5
        for position in range(codes.shape[1]):
            for base in range(4):
                delta = float(result.deltas[row, base, position])
                if (
                    not (start <= position < end and position < lengths[row])
                    or base == sequence[position]
                ):
                    assert delta == 0.0  # the reference base, outside the region, past the end
                    continue
                mutant = sequence.clone()
                mutant[position] = base
                assert (
                    abs(
                        delta - (predicted_output(model, task, target, mutant, strands) - reference)
                    )
                    < 1e-5
                )
    assert (result.deltas[0, :, 8] != 0).sum() == (
        4 if start <= 8 < end else 0
    )  # N: all four bases tried
    centred = result.deltas - result.deltas.mean(1, keepdim=True)
    inside = torch.zeros(codes.shape[1], dtype=torch.bool)
    inside[start:end] = True
    expected = centred * inside * (torch.arange(codes.shape[1]) < lengths[:, None]).unsqueeze(1)
    assert torch.equal(result.values, expected)


def test_ism_does_not_depend_on_the_batch_size():
    model, (codes, lengths) = small_model(2), records()
    objective = attribution.target_output(TASKS["binary"], 0)
    one = attribution.mutagenesis(model, codes, lengths, objective, 2, batch_size=1)[0]
    many = attribution.mutagenesis(model, codes, lengths, objective, 2, batch_size=1000)[0]
    torch.testing.assert_close(one, many, atol=1e-6, rtol=0)


def test_strand_averaged_gradients_map_the_reverse_strand_back_to_the_forward_bases():
    """For regression the output is the mean of the two strands' values, so its gradient is the
    mean of the forward gradient and the reverse complement's gradient mapped back."""
    task, model, (codes, lengths) = TASKS["regression"], small_model(2), records()
    objective = attribution.target_output(task, 0)
    both = attribution.attribute(model, codes, lengths, "saliency", objective, strands=2).values
    forward = attribution.attribute(model, codes, lengths, "saliency", objective).values
    reverse = attribution.attribute(
        model, reverse_complement(codes, lengths), lengths, "saliency", objective
    ).values
    torch.testing.assert_close(both, (forward + reverse_complement_one_hot(reverse, lengths)) / 2)
    assert not torch.allclose(both, forward, atol=1e-4)


@pytest.mark.parametrize("family", ["cnn", "lstm", "transformer"])
def test_saliency_and_grad_x_input(family):
    model, (codes, lengths) = small_model(3, family), records()
    objective = attribution.target_output(TASKS["multiclass"], 2)
    saliency = attribution.attribute(
        model, codes, lengths, "saliency", objective, 2, region=(2, 20)
    )
    product = attribution.attribute(
        model, codes, lengths, "grad_x_input", objective, 2, region=(2, 20)
    )
    x = one_hot(codes)
    assert (
        saliency.values.shape == product.values.shape == (2, 4, 24)
        and saliency.values.dtype == torch.float32
    )
    assert torch.equal(product.values, saliency.values * x)  # the record's own base only
    assert (product.values * (1 - x) == 0).all() and (
        product.values[0, :, 8] == 0
    ).all()  # N: no base
    assert (saliency.values[1, :, 14:] == 0).all() and (saliency.values[:, :, :2] == 0).all()
    assert (saliency.values[:, :, 2:14].abs().sum(1) > 0).all()
    torch.testing.assert_close(
        saliency.values.sum(1), torch.zeros(2, 24), atol=1e-6, rtol=0
    )  # centred
    torch.testing.assert_close(
        saliency.reference, attribution.outputs(model, codes, lengths, objective, 2)
    )


def test_log_odds_are_the_targets_against_all_other_classes():
    logits = torch.tensor([[1.0, 2.0, -0.5], [0.3, -1.0, 4.0]])
    probabilities = torch.softmax(logits, -1)[:, 1]
    log_odds = attribution.target_output(TASKS["multiclass"], 1)([logits])
    torch.testing.assert_close(log_odds, torch.log(probabilities / (1 - probabilities)))
    averaged = attribution.target_output(TASKS["multiclass"], 1)([logits, logits.flip(0)])
    mean = (probabilities + probabilities.flip(0)) / 2
    torch.testing.assert_close(averaged, torch.log(mean / (1 - mean)))
    torch.testing.assert_close(
        attribution.target_output(TASKS["regression"], 1)([logits[:, :2]]), logits[:, 1] * 3.0 - 1.0
    )


def test_motif_scores_are_the_shared_attributions_summed_over_bases():
    model, (codes, lengths) = small_model(2), records()
    objective = attribution.centred_logit(0)
    product = attribution.attribute(model, codes, lengths, "grad_x_input", objective).values
    assert torch.equal(scores.score_batch(model, codes, "gradient", 0), product.sum(1))
    deltas = attribution.attribute(model, codes, lengths, "ism", objective).deltas
    torch.testing.assert_close(
        scores.score_batch(model, codes, "ism", 0),
        -deltas.sum(1) / 3 * (codes < UNKNOWN),
        atol=1e-7,
        rtol=0,
    )
    assert (scores.score_batch(model, codes, "ism", 0)[0, 8] == 0) and (codes[1, 14:] == PAD).all()


def test_targets_and_unsupported_models_are_one_line_errors():
    assert (
        attribution.resolve_target(TASKS["binary"], None) == 0
    )  # the positive class, as evaluate takes it
    assert attribution.resolve_target(TASKS["multiclass"], "c") == 2
    assert attribution.resolve_target(Task("regression", ["y"], [0.0], [1.0]), None) == 0
    with pytest.raises(
        DnanetError, match="--target is needed: this multiclass run has 3 classes: a, b, c"
    ):
        attribution.resolve_target(TASKS["multiclass"], None)
    with pytest.raises(
        DnanetError, match="--target gc2: not one of the run's targets: expression, gc"
    ):
        attribution.resolve_target(TASKS["regression"], "gc2")
    kmer = small_model(2, encoder="kmer", k=3)
    codes, lengths = records()
    with pytest.raises(DnanetError, match="needs a model with one-hot input"):
        attribution.attribute(
            kmer, codes, lengths, "saliency", attribution.target_output(TASKS["binary"], 0)
        )
    assert attribution.attribute(
        kmer, codes, lengths, "ism", attribution.target_output(TASKS["binary"], 0), region=(0, 3)
    ).values.shape == (2, 4, 24)
