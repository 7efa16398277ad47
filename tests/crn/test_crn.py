"""`dnanet.models.ternary_mlp`, `dnanet.crn` and `dnanet crn export|simulate|verify`: the
compiled reaction network computes the ternary network's outputs (in order, as kinetics, under an
independent integrator), its reduced form has the promised shape, and bad input fails cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dnanet.cli import app
from dnanet.crn import compile_network, layer_weights, load_network, network_text, reduce_network
from dnanet.crn.checks import effective_layers, expected_counts, rebuild_layers
from dnanet.crn.kinetics import fire_in_order, simulate
from dnanet.errors import DnanetError
from dnanet.examples import example_path
from dnanet.inputs.encode import sequences_to_codes
from dnanet.models import build_model
from dnanet.models.ternary_mlp import ternarise

CLASSES = ["a", "b", "c"]
SEQUENCES = [b"ACGTACGGGTTTAC", b"AAAAAACCGT", b"GGGNNTTTCA", b"TTGACAGCTAGCTAGG"]


def small_model(layers: int = 2, seed: int = 0, **arguments):
    """k = 2 (16 inputs), 5 hidden units per layer, 3 classes, random ternary weights and biases."""
    torch.manual_seed(seed)
    model = build_model(
        "ternary_mlp",
        3,
        {"encoder": "kmer", "k": 2, "stride": 1, "hidden": 5, "layers": layers, **arguments},
    )
    for linear in [*model.layers, model.head]:
        torch.nn.init.normal_(linear.bias, 0, 0.3)
    return model.eval().double()


def features_and_logits(model) -> tuple[np.ndarray, np.ndarray]:
    codes, _ = sequences_to_codes(SEQUENCES)
    with torch.no_grad():
        features = model.input_features(torch.from_numpy(codes))
        return features.numpy(), model(torch.from_numpy(codes)).numpy()


def independent_steady_state(
    network: dict, features: list[float], t_end: float = 1e7
) -> np.ndarray:
    """Mass action written from scratch (dense, BDF, no events): pos - neg per output."""
    from scipy.integrate import solve_ivp

    names = network["species"]
    at = {s: i for i, s in enumerate(names)}
    y0 = np.zeros(len(names))
    for s, value in network["initial"].items():
        y0[at[s]] = value
    for s, value in zip(network["inputs"], features):
        y0[at[s]] = value
    change = np.zeros((len(network["reactions"]), len(names)))
    for r, reaction in enumerate(network["reactions"]):
        for s, c in reaction["products"].items():
            change[r, at[s]] += c
        for s, c in reaction["reactants"].items():
            change[r, at[s]] -= c

    def rates(_, y):
        flux = [
            reaction["rate"] * np.prod([y[at[s]] ** c for s, c in reaction["reactants"].items()])
            for reaction in network["reactions"]
        ]
        return np.array(flux) @ change

    y = solve_ivp(rates, (0, t_end), y0, method="BDF", rtol=1e-10, atol=1e-13).y[:, -1]
    return np.array([y[at[p]] - y[at[n]] for p, n in network["outputs"].values()])


def test_ternarise_values_and_straight_through_gradient():
    weight = torch.tensor([-0.9, -0.2, 0.0, 0.4, 0.6, 3.0], requires_grad=True)
    hard = ternarise(weight)
    assert hard.tolist() == [-1, 0, 0, 0, 1, 1]
    hard.sum().backward()
    assert weight.grad.tolist() == [1.0] * 6


def test_features_are_kmer_frequencies_or_counts():
    codes, _ = sequences_to_codes([b"AACN", b"A", b"acaca"])
    frequency = small_model().input_features(torch.from_numpy(codes))
    assert frequency[0, :2].tolist() == [0.5, 0.5]  # AA, AC; CN is not counted
    assert frequency[1].sum().item() == 0  # no complete 2-mer
    counts = small_model(features="count").input_features(torch.from_numpy(codes))
    assert (
        counts[2, 1].item() == 2 and counts[2, 4].item() == 2
    )  # AC twice, CA twice, lower case counts


def test_float_mlp_has_float_weights_and_does_not_compile():
    model = small_model(ternary=False)
    weights = model.layers[0].weight.detach()
    assert not torch.isin(weights, torch.tensor([-1.0, 0.0, 1.0], dtype=weights.dtype)).all()
    assert torch.equal(
        model.layers[0](torch.eye(16, dtype=torch.float64)).T - model.layers[0].bias[:, None],
        weights,
    )
    with pytest.raises(DnanetError, match="ternary"):
        compile_network(model, CLASSES)


@pytest.mark.parametrize("layers", [1, 2])
def test_full_and_reduced_networks_reproduce_the_forward_pass(layers):
    model = small_model(layers)
    features, expected = features_and_logits(model)
    full = compile_network(model, CLASSES)
    reduced = reduce_network(full)
    for f, e in zip(features, expected):
        np.testing.assert_allclose(fire_in_order(full, f), e, atol=1e-12, rtol=0)
        np.testing.assert_allclose(fire_in_order(reduced, f), e, atol=1e-12, rtol=0)
    run = simulate(reduced, features[0])
    assert run.steady and 0 < run.convergence_time < run.times[-1]
    np.testing.assert_allclose(run.final_outputs, expected[0], atol=1e-6, rtol=0)
    assert np.isclose(run.outputs[-1], expected[0], atol=1e-6).all()


def test_random_rates_reach_the_same_state():
    network = reduce_network(compile_network(small_model(), CLASSES))
    features, _ = features_and_logits(small_model())
    unit = simulate(network, features[1])
    rates = np.random.default_rng(1).uniform(0.1, 10, len(network["reactions"]))
    varied = simulate(network, features[1], rates=rates)
    np.testing.assert_allclose(varied.final_state, unit.final_state, atol=1e-5, rtol=0)


def test_reduced_network_has_one_bimolecular_reaction_per_relu_neuron():
    """16 inputs -> 5 -> 5 -> 3, every weight +-1 except: the head ignores second-layer neuron 2,
    the second layer ignores first-layer neuron 4, input AA feeds nothing and input CC only that
    dead neuron 4. So R = 10 - 2 live ReLU neurons and U = 16 - 2 used inputs: U + R = 22
    reactions, F + 2R + 2C = 16 + 16 + 6 = 38 species (every input species stays listed)."""
    model = small_model(2)
    with torch.no_grad():
        for linear in [*model.layers, model.head]:
            linear.weight.copy_(0.9 * torch.sign(torch.randn_like(linear.weight)))
        model.head.weight[:, 2] = 0.0
        model.layers[1].weight[:, 4] = 0.0
        model.layers[0].weight[:, 0] = 0.0
        model.layers[0].weight[:4, 5] = 0.0
    layers = layer_weights(model)
    full = compile_network(model, CLASSES)
    reduced = reduce_network(full)
    assert (len(full["reactions"]), len(full["species"])) == (16 + 4 * 10, 16 + 5 * 10 + 6)
    assert expected_counts(layers, reduced=False) == {"reactions": 56, "species": 72}
    assert expected_counts(layers, reduced=True) == {"reactions": 22, "species": 38}
    assert (len(reduced["reactions"]), len(reduced["species"])) == (22, 38)
    bimolecular = [r for r in reduced["reactions"] if sum(r["reactants"].values()) == 2]
    assert len(bimolecular) == 8 and {"m1_2", "m0_4"}.isdisjoint(reduced["species"])
    unimolecular = [
        next(iter(r["reactants"]))
        for r in reduced["reactions"]
        if sum(r["reactants"].values()) == 1
    ]
    assert sorted(unimolecular) == sorted(set(full["inputs"]) - {"x_AA", "x_CC"})
    assert reduced["inputs"] == full["inputs"] and set(full["inputs"]) <= set(reduced["species"])
    for network, reference in ((full, layers), (reduced, effective_layers(layers))):
        rebuilt = rebuild_layers(network, [weight.shape for weight, _ in layers])
        for (weight, bias), (w, b) in zip(rebuilt, reference):
            assert np.array_equal(weight, w)
            np.testing.assert_allclose(bias, b, atol=1e-12, rtol=0)
    features, expected = features_and_logits(model)
    for f, e in zip(features, expected):
        np.testing.assert_allclose(fire_in_order(reduced, f), e, atol=1e-12, rtol=0)


def test_relu_by_hand():
    """zp = 2, zn = 3 -> y = max(0, -1) = 0; and the fan-out of a -1 weight swaps the rails."""
    network = {
        "species": ["x", "zp", "zn", "m", "yp", "yn", "op", "on"],
        "inputs": ["x"],
        "initial": {"zn": 3.0},
        "reactions": [
            {"reactants": {"x": 1}, "products": {"zp": 1}, "rate": 1.0},
            {"reactants": {"zp": 1}, "products": {"m": 1, "yp": 1}, "rate": 1.0},
            {"reactants": {"m": 1, "zn": 1}, "products": {"yn": 1}, "rate": 1.0},
            {"reactants": {"yp": 1}, "products": {"on": 1}, "rate": 1.0},
            {"reactants": {"yn": 1}, "products": {"op": 1}, "rate": 1.0},
        ],
        "outputs": {"c": ["op", "on"]},
        "features": {},
    }
    assert fire_in_order(network, np.array([2.0])).tolist() == [0.0]
    assert fire_in_order(network, np.array([5.0])).tolist() == [-2.0]
    assert "m + zn -> yn" in network_text(network)
    reduced = reduce_network(network)  # x -> m + on, m + zn -> op: one fan-out, one bimolecular
    assert [(r["reactants"], r["products"]) for r in reduced["reactions"]] == [
        ({"x": 1}, {"m": 1, "on": 1}),
        ({"m": 1, "zn": 1}, {"op": 1}),
    ]
    assert fire_in_order(reduced, np.array([5.0])).tolist() == [-2.0]


TINY_CONFIG = """
encoder: {name: kmer, k: 2, stride: 1}
model: {name: ternary_mlp, hidden: 4, layers: 1, ternary: TERNARY}
train: {epochs: 2, reverse_complement: false}
"""


def train_tiny(runner, folder, ternary: bool = True):
    config = folder / f"tiny_{ternary}.yaml"
    config.write_text(TINY_CONFIG.replace("TERNARY", str(ternary).lower()))
    run = folder / f"run_{ternary}"
    result = runner.invoke(
        app, ["train", "-c", str(config), "--out", str(run), "--quiet", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def exported(runner, tmp_path_factory):
    """A tiny ternary run trained on the bundled example, its reduced and full networks, and a
    verify report on 6 held-out records."""
    folder = tmp_path_factory.mktemp("crn")
    run = train_tiny(runner, folder)
    for name, extra in (("net.json", ["--reduce"]), ("full.json", [])):
        result = runner.invoke(
            app, ["crn", "export", str(run), "--out", str(folder / name), *extra]
        )
        assert result.exit_code == 0, result.output
    fasta = str(example_path("heldout_bound.fa"))
    result = runner.invoke(
        app,
        [
            "crn",
            "verify",
            str(run),
            fasta,
            "--out",
            str(folder / "report.json"),
            "--limit",
            "6",
            "--network",
            str(folder / "net.json"),
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder, run


def test_cli_verify_report_matches_an_independent_simulation_of_the_export(exported):
    folder, _ = exported
    report = json.loads((folder / "report.json").read_text())
    assert report["passed"] and all(check["passed"] for check in report["checks"].values())
    assert report["classes"] == ["bound", "background"] and len(report["records"]) == 6
    assert report["checks"]["reaction_counts"]["given"]["form"] == "reduced"
    assert set(report["convergence_vs_confidence"]) >= {"spearman_rho", "p_value", "records"}
    for name in ("net.json", "full.json"):
        network = json.loads((folder / name).read_text())
        assert set(network) == {"species", "reactions", "initial", "inputs", "outputs", "features"}
        assert network["features"]["kind"] == "kmer_frequency" and len(network["inputs"]) == 16
        for record in report["records"][:2]:
            assert len(record["features"]) == 16 and abs(sum(record["features"]) - 1) < 1e-12
            np.testing.assert_allclose(
                independent_steady_state(network, record["features"]),
                record["nn_output"],
                atol=1e-4,
                rtol=0,
            )
            np.testing.assert_allclose(record["crn_output"], record["nn_output"], atol=1e-6, rtol=0)


def test_cli_verify_fails_on_a_tampered_network(runner, exported, tmp_path):
    folder, run = exported
    network = json.loads((folder / "net.json").read_text())
    first = network["reactions"][0]["products"]
    name = next(s for s in first if s.startswith("z0_") and s.endswith("n"))
    first["m" + name[1:-1]] = first.pop(name)  # a -1 weight becomes +1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(network))
    report = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "crn",
            "verify",
            str(run),
            str(example_path("heldout_bound.fa")),
            "--out",
            str(report),
            "--limit",
            "4",
            "--network",
            str(tampered),
            "--quiet",
            "--full-records",
            "0",
        ],
    )
    assert result.exit_code == 1 and "check(s) failed" in result.stderr
    checks = json.loads(report.read_text())["checks"]
    assert (
        not checks["weights_rebuilt"]["passed"]
        and checks["weights_rebuilt"]["max_weight_difference"]["given"] == 2
    )
    assert checks["at_most_two_reactants"]["passed"]


def test_cli_simulate_writes_outputs_and_trajectories(runner, exported, tmp_path):
    folder, _ = exported
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        [
            "crn",
            "simulate",
            str(folder / "net.json"),
            str(example_path("heldout_bound.fa")),
            "--out",
            str(out),
            "--limit",
            "4",
            "--plots",
            "2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (out / "outputs.tsv").read_text().splitlines()]
    assert (
        rows[0] == ["id", "bound", "background", "predicted", "convergence_time", "steady"]
        and len(rows) == 5
    )
    report = json.loads((folder / "report.json").read_text())["records"]
    for row, record in zip(rows[1:], report):
        assert row[0] == record["id"] and row[3] == record["crn_class"] and row[5] == "true"
        np.testing.assert_allclose(
            [float(row[1]), float(row[2])], record["nn_output"], atol=1e-6, rtol=0
        )
    assert sorted(p.name for p in out.glob("*.png")) == ["trajectory_1.png", "trajectory_2.png"]


def test_cli_bad_inputs_are_one_line_errors(runner, exported, tmp_path):
    folder, run = exported
    fasta = str(example_path("heldout_bound.fa"))
    bad_fasta = tmp_path / "bad.fa"
    bad_fasta.write_text(">r1\nACGT\n>r2\nAC!GT\n")
    not_json = tmp_path / "net.json"
    not_json.write_text("{species: oops")
    no_keys = tmp_path / "keys.json"
    no_keys.write_text('{"species": []}')
    float_run = train_tiny(runner, tmp_path, ternary=False)
    cases = [
        (
            ["crn", "export", str(tmp_path / "missing"), "--out", str(tmp_path / "o.json")],
            "no such run folder",
        ),
        (["crn", "export", str(float_run), "--out", str(tmp_path / "o.json")], "ternary"),
        (["crn", "verify", str(float_run), fasta, "--out", str(tmp_path / "o.json")], "ternary"),
        (["crn", "verify", str(run), str(bad_fasta), "--out", str(tmp_path / "o.json")], "bad.fa"),
        (
            ["crn", "simulate", str(not_json), fasta, "--out", str(tmp_path / "o")],
            "not a JSON file",
        ),
        (
            ["crn", "simulate", str(no_keys), fasta, "--out", str(tmp_path / "o")],
            "expected an object with the keys",
        ),
        (
            [
                "crn",
                "simulate",
                str(folder / "net.json"),
                str(bad_fasta),
                "--out",
                str(tmp_path / "o"),
            ],
            "bad.fa",
        ),
    ]
    for arguments, message in cases:
        result = runner.invoke(app, arguments)
        assert result.exit_code == 1, (arguments, result.output)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            result.stderr
        )
        assert not (tmp_path / "o.json").exists() and not (tmp_path / "o").exists()
    with pytest.raises(DnanetError, match="not a reaction network"):
        load_network(no_keys)


def test_cli_verify_refuses_a_network_of_another_run(runner, exported, tmp_path):
    folder, run = exported
    network = json.loads((folder / "net.json").read_text())
    network["outputs"] = {"x": network["outputs"]["bound"]}
    other = tmp_path / "other.json"
    other.write_text(json.dumps(network))
    result = runner.invoke(
        app, ["crn", "verify", str(run), "--network", str(other), "--out", str(tmp_path / "r.json")]
    )
    assert (
        result.exit_code == 1
        and "not those of" in result.stderr
        and not (tmp_path / "r.json").exists()
    )
