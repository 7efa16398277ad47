"""`dnanet.models.ternary_mlp` and `dnanet.crn`: ternary weights, the compiled reaction network
reproduces the forward pass (in order and as kinetics), and `dnanet crn export|verify`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dnanet.cli import app
from dnanet.crn import compile_network, fire_in_order, network_text, ode_steady_state, reduce_network
from dnanet.encode import sequences_to_codes
from dnanet.models import build_model
from dnanet.models.ternary_mlp import ternarise


def small_model(layers: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("ternary_mlp", 3, {"encoder": "kmer", "k": 2, "stride": 1, "hidden": 5, "layers": layers})
    for linear in [*model.layers, model.head]:
        torch.nn.init.normal_(linear.bias, 0, 0.3)
    return model.eval().double()


def test_ternarise_values_and_straight_through_gradient():
    weight = torch.tensor([-0.9, -0.2, 0.0, 0.4, 0.6, 3.0], requires_grad=True)
    hard = ternarise(weight)
    assert hard.tolist() == [-1, 0, 0, 0, 1, 1]
    hard.sum().backward()
    assert weight.grad.tolist() == [1.0] * 6


def test_features_are_kmer_frequencies():
    model = small_model()
    codes, _ = sequences_to_codes([b"AACN", b"A"])
    features = model.features(torch.from_numpy(codes))
    assert features[0, 0].item() == 0.5 and features[0, 1].item() == 0.5  # AA, AC; CN is not counted
    assert features[1].sum().item() == 0  # no complete 2-mer


@pytest.mark.parametrize("layers", [1, 2])
def test_network_reproduces_the_forward_pass(layers):
    model = small_model(layers)
    codes, _ = sequences_to_codes([b"ACGTACGGGTTTAC", b"AAAAAACCGT", b"GGGNNTTTCA"])
    with torch.no_grad():
        features = model.features(torch.from_numpy(codes))
        expected = model(torch.from_numpy(codes)).numpy()
    network = compile_network(model, ["a", "b", "c"])
    reduced = reduce_network(network)
    assert len(reduced["reactions"]) <= len(network["reactions"])
    for f, e in zip(features.numpy(), expected):
        np.testing.assert_allclose(fire_in_order(network, f), e, atol=1e-9, rtol=0)
        np.testing.assert_allclose(fire_in_order(reduced, f), e, atol=1e-9, rtol=0)
    np.testing.assert_allclose(ode_steady_state(reduced, features[0].numpy()), expected[0], atol=1e-3, rtol=0)


def test_relu_by_hand():
    """zp = 2, zn = 3 -> y = max(0, -1) = 0; and the fan-out of a -1 weight swaps the rails."""
    network = {"species": ["x", "zp", "zn", "m", "yp", "yn", "op", "on"], "inputs": ["x"],
               "initial": {"zn": 3.0},
               "reactions": [{"reactants": {"x": 1}, "products": {"zp": 1}, "rate": 1.0},
                             {"reactants": {"zp": 1}, "products": {"m": 1, "yp": 1}, "rate": 1.0},
                             {"reactants": {"m": 1, "zn": 1}, "products": {"yn": 1}, "rate": 1.0},
                             {"reactants": {"yp": 1}, "products": {"on": 1}, "rate": 1.0},
                             {"reactants": {"yn": 1}, "products": {"op": 1}, "rate": 1.0}],
               "outputs": {"c": ["op", "on"]}, "features": {}}
    assert fire_in_order(network, np.array([2.0])).tolist() == [0.0]
    assert fire_in_order(network, np.array([5.0])).tolist() == [-2.0]
    assert "m + zn -> yn" in network_text(network)


def test_cli_export_and_verify(runner, tmp_path):
    run = tmp_path / "ternary"
    result = runner.invoke(app, ["train", "--model", "ternary_mlp", "--epochs", "2", "--out", str(run), "--quiet",
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    net = tmp_path / "net.json"
    result = runner.invoke(app, ["crn", "export", str(run), "--out", str(net), "--reduce", "--text"])
    assert result.exit_code == 0, result.output
    network = json.loads(net.read_text())
    assert set(network) == {"species", "reactions", "initial", "inputs", "outputs", "features"}
    assert len(network["outputs"]) == 2 and all(len(pair) == 2 for pair in network["outputs"].values())
    assert " -> " in result.stdout
    result = runner.invoke(app, ["crn", "verify", str(net), str(run), "--sequences", "5", "--ode", "1"])
    assert result.exit_code == 0, result.output
    assert "tolerance 1e-9" in result.stdout


def test_cli_refuses_other_models(runner, trained_run, tmp_path):
    result = runner.invoke(app, ["crn", "export", str(trained_run), "--out", str(tmp_path / "net.json")])
    assert result.exit_code == 1 and "only ternary_mlp runs" in result.stderr
    assert not (tmp_path / "net.json").exists()
