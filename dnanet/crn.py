"""Compile a trained ternary MLP (`dnanet.models.ternary_mlp`) into a chemical reaction network.

Every signed value is a pair of species, its value ``pos - neg`` (``NAMEp``, ``NAMEn``); the
non-negative input features have a positive species only (``x_<kmer>``). Layer by layer:

- each source species fans out in one unimolecular reaction, ``s -> t1 + t2 + ...``: weight +1
  puts the target's same-sign rail among the products, -1 its opposite rail, 0 nothing; run to
  completion it adds the source's value to every target, so a pre-activation ``z = W x + b``;
- a bias is an initial concentration of the pre-activation's positive (b > 0) or negative rail;
- a ReLU ``y = max(0, z)`` is ``zp -> m + yp`` and ``m + zn -> yn``: ``yp = zp`` and
  ``yn = min(zp, zn)``, so ``yp - yn = max(0, zp - zn)``;
- the outputs are the last pre-activations, ``pos - neg`` per class; the class is the largest.

The network is a dict (the JSON written by `dnanet crn export`): ``species``, ``reactions``
(``reactants``/``products`` as {species: count}, ``rate``), ``initial``, ``inputs`` (one species
per feature, in feature order), ``outputs`` ({class: [pos, neg]}) and ``features``.
"""

from __future__ import annotations

import numpy as np

from dnanet.errors import DnanetError


def _layers(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ternary weight int ``(out, in)``, bias float64 ``(out,)``) of each layer, head last."""
    linears = list(model.layers) + [model.head]
    return [(linear.ternary_weight().cpu().numpy(), linear.bias.detach().double().cpu().numpy()) for linear in linears]


def compile_network(model, classes: list[str]) -> dict:
    """A `TernaryMLP` and its class names -> the reaction network dict (see the module docstring)."""
    from dnanet.bottleneck import kmer_name

    from dnanet.models.ternary_mlp import TernaryMLP

    if not isinstance(model, TernaryMLP):
        raise DnanetError("only a ternary_mlp model can be compiled into a reaction network")
    names = [kmer_name(i, model.k) for i in range(model.n_features)]
    inputs = [f"x_{name}" for name in names]
    sources = [(species, 1, i) for i, species in enumerate(inputs)]  # (species, sign of its rail, column)
    reactions, initial = [], {}
    layers = _layers(model)
    for depth, (weight, bias) in enumerate(layers):
        last = depth == len(layers) - 1
        pre = [(f"o{j}" if last else f"z{depth}_{j}") for j in range(len(bias))]
        for species, sign, column in sources:
            products: dict[str, int] = {}
            for j, w in enumerate(weight[:, column]):
                if w != 0:
                    products[pre[j] + ("p" if w * sign > 0 else "n")] = 1
            reactions.append({"reactants": {species: 1}, "products": products, "rate": 1.0})
        for j, b in enumerate(bias):
            if b != 0:
                initial[pre[j] + ("p" if b > 0 else "n")] = float(abs(b))
        if last:
            break
        sources = []
        for j, z in enumerate(pre):
            y, m = f"h{depth}_{j}", f"m{depth}_{j}"
            reactions.append({"reactants": {z + "p": 1}, "products": {m: 1, y + "p": 1}, "rate": 1.0})
            sources += [(y + "p", 1, j), (y + "n", -1, j)]
        for j, z in enumerate(pre):
            y, m = f"h{depth}_{j}", f"m{depth}_{j}"
            reactions.append({"reactants": {m: 1, z + "n": 1}, "products": {y + "n": 1}, "rate": 1.0})
    outputs = {name: [f"o{j}p", f"o{j}n"] for j, name in enumerate(classes)}
    return _finish(reactions, initial, inputs, outputs,
                   {"kind": "kmer_frequency", "k": model.k, "stride": model.stride, "kmers": names})


def _finish(reactions: list[dict], initial: dict, inputs: list[str], outputs: dict, features: dict) -> dict:
    species = list(inputs)
    for reaction in reactions:
        species += [s for s in (*reaction["reactants"], *reaction["products"])]
    species += [s for pair in outputs.values() for s in pair] + list(initial)
    return {"species": list(dict.fromkeys(species)), "reactions": reactions, "initial": initial,
            "inputs": inputs, "outputs": outputs, "features": features}


def reduce_network(network: dict) -> dict:
    """Drop what cannot reach an output: reactions none of whose products matters (``s -> nothing``
    included), products that matter to nothing, and species and initial amounts no longer used."""
    live = {s for pair in network["outputs"].values() for s in pair}
    changed = True
    while changed:
        changed = False
        for reaction in network["reactions"]:
            if any(p in live for p in reaction["products"]) and not set(reaction["reactants"]) <= live:
                live |= set(reaction["reactants"])
                changed = True
    reactions = [{**r, "products": {p: c for p, c in r["products"].items() if p in live}}
                 for r in network["reactions"] if any(p in live for p in r["products"])]
    initial = {s: v for s, v in network["initial"].items() if s in live}
    return _finish(reactions, initial, network["inputs"], network["outputs"], network["features"])


def _start(network: dict, features: np.ndarray) -> dict[str, float]:
    if features.shape != (len(network["inputs"]),) or (features < 0).any():
        raise DnanetError(f"expected {len(network['inputs'])} non-negative input concentrations, got shape {features.shape}")
    amounts = {s: 0.0 for s in network["species"]}
    amounts.update(network["initial"])
    amounts.update(zip(network["inputs"], map(float, features)))
    return amounts


def fire_in_order(network: dict, features: np.ndarray) -> np.ndarray:
    """Run each reaction to completion, in the listed order: outputs float64 ``(n_classes,)``
    (pos - neg) for input concentrations `features` ``(n_inputs,)``."""
    amounts = _start(network, features)
    for reaction in network["reactions"]:
        extent = min(amounts[s] / count for s, count in reaction["reactants"].items())
        for s, count in reaction["reactants"].items():
            amounts[s] -= count * extent
        for s, count in reaction["products"].items():
            amounts[s] += count * extent
    return np.array([amounts[p] - amounts[n] for p, n in network["outputs"].values()])


def ode_steady_state(network: dict, features: np.ndarray, t_end: float = 1e6) -> np.ndarray:
    """Mass-action kinetics of all reactions at once, integrated (scipy LSODA) to `t_end`: the
    outputs float64 ``(n_classes,)`` near the steady state."""
    from scipy.integrate import solve_ivp

    index = {s: i for i, s in enumerate(network["species"])}
    start = _start(network, features)
    y0 = np.array([start[s] for s in network["species"]])
    stoich = np.zeros((len(network["reactions"]), len(index)))
    width = max(sum(r["reactants"].values()) for r in network["reactions"])
    slots = np.full((len(network["reactions"]), width), len(index))  # (R, width); len(index) = the constant 1
    rates = np.array([r["rate"] for r in network["reactions"]])
    for r, reaction in enumerate(network["reactions"]):
        taken = [index[s] for s, c in reaction["reactants"].items() for _ in range(c)]
        slots[r, : len(taken)] = taken
        for s, c in reaction["reactants"].items():
            stoich[r, index[s]] -= c
        for s, c in reaction["products"].items():
            stoich[r, index[s]] += c

    def derivative(_, y):
        padded = np.append(np.clip(y, 0, None), 1.0)
        return (rates * padded[slots].prod(1)) @ stoich

    solution = solve_ivp(derivative, (0, t_end), y0, method="LSODA", rtol=1e-9, atol=1e-12)
    final = dict(zip(network["species"], solution.y[:, -1]))
    return np.array([final[p] - final[n] for p, n in network["outputs"].values()])


def network_text(network: dict) -> str:
    """One line per reaction (``A + B -> C``), then the initial amounts, inputs and outputs."""
    side = lambda terms: " + ".join(f"{c} {s}" if c != 1 else s for s, c in terms.items()) or "0"
    lines = [f"{side(r['reactants'])} -> {side(r['products'])}" for r in network["reactions"]]
    lines += [f"initial {s} = {v:.6g}" for s, v in network["initial"].items()]
    lines.append("inputs " + " ".join(network["inputs"]))
    lines += [f"output {name} = {p} - {n}" for name, (p, n) in network["outputs"].items()]
    return "\n".join(lines) + "\n"


def verify_network(network: dict, model, codes, ode_records: int) -> tuple[float, float]:
    """Compare the network with `model` (a float64 `TernaryMLP`) on codes uint8 ``(N, L)``: the
    largest |difference| of the outputs firing in order (all N records) and at the ODE steady
    state (the first `ode_records`), as (ordered, kinetic); kinetic is 0 when none is run."""
    import torch

    if network.get("features", {}).get("k") != model.k or len(network.get("inputs", [])) != model.n_features:
        raise DnanetError(f"the network's inputs do not match the run's {model.n_features} {model.k}-mer features")
    if len(network.get("outputs", {})) != model.head.out_features:
        raise DnanetError(f"the network has {len(network.get('outputs', {}))} outputs, the run {model.head.out_features}")
    with torch.no_grad():
        features = model.features(codes)  # (N, 4**k) float64
        expected = model.head(model.embed_features(features)).numpy()  # (N, n_classes)
    features = features.numpy()
    ordered = max(float(np.abs(fire_in_order(network, f) - e).max()) for f, e in zip(features, expected))
    kinetic = max([float(np.abs(ode_steady_state(network, f) - e).max())
                   for f, e in zip(features[:ode_records], expected[:ode_records])], default=0.0)
    return ordered, kinetic
