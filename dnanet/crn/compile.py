"""Compile a trained ternary MLP (`dnanet.models.ternary_mlp`) into a chemical reaction network.

After Vasic et al. (ICML 2020; PNAS 2022). Every signed value is a pair of species whose value
is ``pos - neg``; the non-negative input features have one species each (``x_<KMER>``). The full
network (`compile_network`), layer ``l`` (``0`` = first hidden layer, the head last):

- each source fans out in one unimolecular reaction ``s -> t1 + t2 + ...``: weight +1 puts the
  target's same-sign rail among the products, -1 its opposite rail, 0 nothing (``x -> 0`` when
  all are 0). Run to completion it adds the source's value to every target: ``z = W x + b``;
- a bias is an initial amount of the pre-activation's positive (b > 0) or negative rail;
- a ReLU ``h = max(0, z)`` is ``z<l>_<j>p -> m<l>_<j> + h<l>_<j>p`` and
  ``m<l>_<j> + z<l>_<j>n -> h<l>_<j>n``: ``hp = zp`` and ``hn = min(zp, zn)``, so
  ``hp - hn = max(0, z)``;
- the head's pre-activations are the outputs ``o<k>p - o<k>n``, one pair per class; the class is
  the largest. Full: ``F + 4H`` reactions over ``F + 5H + 2C`` species (F features, H hidden
  neurons, C classes): per neuron two ReLU reactions and a fan-out of each output rail.

`reduce_network` folds every unimolecular reaction whose reactant is not an input away (each
product of ``s`` is replaced by the products of ``s -> ...``, initial amounts of ``s`` likewise),
then drops what cannot reach an output. What is left: one fan-out per used input rail and one
bimolecular reaction ``m + zn -> ...`` per live ReLU neuron, so ``U + R`` reactions over
``F + 2R + 2C`` species (U inputs with a non-zero weight into a live neuron, R hidden neurons with
a path of non-zero weights to an output; every input species stays listed). The output layer adds
no reaction: its weights live in the products. Inputs here have one rail; with the dual-rail
inputs of Vasic et al. the same count reads ``2 x used inputs + ReLU neurons``.

The network is a dict (the JSON of `dnanet crn export`, read back by `dnanet.crn.files`):
``species``, ``reactions`` (``reactants`` and ``products`` as {species: count}, ``rate``),
``initial`` (non-zero starting amounts of non-input species; every other species starts at 0),
``inputs`` (one species per feature, in feature order: its starting amount is the feature's
value), ``outputs`` ({class: [pos, neg]}) and ``features`` (how the feature values are computed
from a sequence).
"""

from __future__ import annotations

import numpy as np

from dnanet.errors import DnanetError
from dnanet.inputs.encode import kmer_names

Layers = list[
    tuple[np.ndarray, np.ndarray]
]  # per layer: weight int64 (out, in), bias float64 (out,)


def layer_weights(model) -> Layers:
    """A ternary `TernaryMLP` -> (ternary weight int64 ``(out, in)``, bias float64 ``(out,)``) per
    layer, head last."""
    from dnanet.models.ternary_mlp import TernaryMLP

    if not isinstance(model, TernaryMLP) or not model.ternary:
        raise DnanetError(
            "only a ternary_mlp model with ternary weights (model.ternary: true) compiles into a "
            "reaction network"
        )
    linears = list(model.layers) + [model.head]
    return [
        (linear.ternary_weight().cpu().numpy(), linear.bias.detach().double().cpu().numpy())
        for linear in linears
    ]


def feature_definition(model) -> dict:
    """The ``features`` entry: how a sequence becomes the input amounts (`TernaryMLP.features`)."""
    what = (
        "the number of"
        if model.feature_kind == "count"
        else "the share (count / counted windows) of"
    )
    return {
        "kind": f"kmer_{model.feature_kind}",
        "k": model.k,
        "stride": model.stride,
        "strand": "forward",
        "scaling": "none",
        "kmers": kmer_names(model.k),
        "definition": f"x_KMER starts at {what} windows of the sequence's forward strand equal "
        f"to KMER; windows of {model.k} bases start at positions 0, {model.stride}, "
        f"{2 * model.stride}, ...; windows with a base other than A/C/G/T(U), any case, are not "
        "counted (all inputs 0 when no window is)",
    }


def compile_network(model, classes: list[str]) -> dict:
    """A ternary `TernaryMLP` and its class names -> the full reaction network (module
    docstring)."""
    layers = layer_weights(model)
    definition = feature_definition(model)
    inputs = [f"x_{name}" for name in definition["kmers"]]
    sources = [
        (species, 1, i) for i, species in enumerate(inputs)
    ]  # (species, sign of its rail, weight column)
    reactions, initial = [], {}
    for depth, (weight, bias) in enumerate(layers):
        last = depth == len(layers) - 1
        pre = [(f"o{j}" if last else f"z{depth}_{j}") for j in range(len(bias))]
        for species, sign, column in sources:
            products = {
                pre[j] + ("p" if w * sign > 0 else "n"): 1
                for j, w in enumerate(weight[:, column])
                if w
            }
            reactions.append(_reaction({species: 1}, products))
        initial.update(
            {pre[j] + ("p" if b > 0 else "n"): float(abs(b)) for j, b in enumerate(bias) if b}
        )
        if not last:
            h, m = (
                [f"h{depth}_{j}" for j in range(len(pre))],
                [f"m{depth}_{j}" for j in range(len(pre))],
            )
            reactions += [
                _reaction({z + "p": 1}, {m[j]: 1, h[j] + "p": 1}) for j, z in enumerate(pre)
            ]
            reactions += [
                _reaction({m[j]: 1, z + "n": 1}, {h[j] + "n": 1}) for j, z in enumerate(pre)
            ]
            sources = [
                (h[j] + rail, sign, j)
                for j in range(len(pre))
                for rail, sign in (("p", 1), ("n", -1))
            ]
    outputs = {name: [f"o{j}p", f"o{j}n"] for j, name in enumerate(classes)}
    return _finish(reactions, initial, inputs, outputs, definition)


def _reaction(reactants: dict[str, int], products: dict[str, int]) -> dict:
    return {"reactants": reactants, "products": products, "rate": 1.0}


def _finish(
    reactions: list[dict], initial: dict, inputs: list[str], outputs: dict, features: dict
) -> dict:
    """Assemble the network dict; ``species`` lists the inputs first, then in order of
    appearance."""
    species = list(inputs)
    for reaction in reactions:
        species += [*reaction["reactants"], *reaction["products"]]
    species += [s for pair in outputs.values() for s in pair] + list(initial)
    return {
        "species": list(dict.fromkeys(species)),
        "reactions": reactions,
        "initial": initial,
        "inputs": list(inputs),
        "outputs": outputs,
        "features": features,
    }


def reduce_network(network: dict) -> dict:
    """Fold unimolecular reactions away and drop what cannot reach an output (module docstring).

    Reactions must be listed feed-forward (each after those producing its reactants), as
    `compile_network` lists them; the order of what is left is kept.
    """
    keep = set(network["inputs"]) | {s for pair in network["outputs"].values() for s in pair}
    consumers: dict[str, int] = {}
    for reaction in network["reactions"]:
        for s in reaction["reactants"]:
            consumers[s] = consumers.get(s, 0) + 1
    expansion: dict[str, dict[str, float]] = {}  # folded species -> what it becomes
    for reaction in reversed(network["reactions"]):
        (s, count), *others = reaction["reactants"].items()
        if not others and count == 1 and s not in keep and consumers[s] == 1:
            expansion[s] = _expand(reaction["products"], expansion)
    reactions = [
        {**r, "products": _expand(r["products"], expansion)}
        for r in network["reactions"]
        if not (len(r["reactants"]) == 1 and next(iter(r["reactants"])) in expansion)
    ]
    initial = _expand(network["initial"], expansion)
    live = set(keep - set(network["inputs"]))
    for reaction in reversed(reactions):
        if live & set(reaction["products"]):
            live |= set(reaction["reactants"])
    reactions = [
        {**r, "products": {s: c for s, c in r["products"].items() if s in live}}
        for r in reactions
        if live & set(r["products"])
    ]
    initial = {s: v for s, v in initial.items() if s in live}
    return _finish(reactions, initial, network["inputs"], network["outputs"], network["features"])


def _expand(amounts: dict, expansion: dict[str, dict]) -> dict:
    """{species: amount} with every folded species replaced by (amount x) its expansion."""
    result: dict = {}
    for s, amount in amounts.items():
        for target, count in expansion.get(s, {s: 1}).items():
            result[target] = result.get(target, 0) + amount * count
    return result


def network_text(network: dict) -> str:
    """One line per reaction (``A + B -> C``), then the initial amounts, inputs and outputs."""

    def side(terms: dict) -> str:
        return " + ".join(f"{c} {s}" if c != 1 else s for s, c in terms.items()) or "0"

    lines = [f"{side(r['reactants'])} -> {side(r['products'])}" for r in network["reactions"]]
    lines += [f"initial {s} = {v!r}" for s, v in network["initial"].items()]
    lines.append("inputs " + " ".join(network["inputs"]))
    lines += [f"output {name} = {p} - {n}" for name, (p, n) in network["outputs"].items()]
    return "\n".join(lines) + "\n"


def network_features(network: dict, codes):
    """Codes uint8 ``(N, L)`` -> the input amounts float64 ``(N, n_inputs)`` that the network's
    ``features`` entry describes (k-mer counts or frequencies, `feature_definition`)."""
    import torch

    from dnanet.models.ternary_mlp import kmer_features

    spec = network["features"]
    kind, k, stride = (
        spec.get(key) if isinstance(spec, dict) else None for key in ("kind", "k", "stride")
    )
    if (
        kind not in ("kmer_count", "kmer_frequency")
        or not isinstance(k, int)
        or not isinstance(stride, int)
        or not 1 <= k <= 8
        or stride < 1
        or 4**k != len(network["inputs"])
    ):
        raise DnanetError(
            "its 'features' entry does not say how to compute the inputs from a sequence "
            "(expected kind kmer_count or kmer_frequency, k and stride, one input per k-mer)"
        )
    return kmer_features(
        torch.as_tensor(codes), k, stride, kind.removeprefix("kmer_"), torch.float64
    ).numpy()
