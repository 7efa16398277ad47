"""Structural checks of a compiled reaction network (`dnanet.crn.compile`) against the ternary
network's layers (weight int ``(out, in)``, bias float64 ``(out,)`` per layer, head last).

- `max_reactants` and `multiply_consumed`: every reaction at most bimolecular, every species the
  reactant of at most one reaction (what makes the computation rate-independent);
- `expected_counts`: reactions and species predicted from the weights alone (full: ``F + 4H`` and
  ``F + 5H + 2C``; reduced: ``U + R`` and ``F + 2R + 2C``; see `dnanet.crn.compile`);
- `rebuild_layers`: weights and biases read back from the reactions and initial amounts.
"""

from __future__ import annotations

import numpy as np

from dnanet.crn.compile import Layers


def max_reactants(network: dict) -> int:
    """The largest number of reactant molecules in one reaction (2 = bimolecular)."""
    return max((sum(r["reactants"].values()) for r in network["reactions"]), default=0)


def multiply_consumed(network: dict) -> list[str]:
    """Species that are reactants of more than one reaction (none in a correct network)."""
    seen: dict[str, int] = {}
    for reaction in network["reactions"]:
        for s in reaction["reactants"]:
            seen[s] = seen.get(s, 0) + 1
    return [s for s, n in seen.items() if n > 1]


def live_neurons(layers: Layers) -> list[np.ndarray]:
    """Per hidden layer, bool ``(hidden,)``: the neurons with a path of non-zero weights to an
    output."""
    live = [np.ones(layers[-1][0].shape[0], dtype=bool)]
    for weight, _ in reversed(layers[1:]):
        live.insert(0, (weight[live[0]] != 0).any(0))
    return live[:-1]


def used_inputs(layers: Layers) -> np.ndarray:
    """bool ``(F,)``: the inputs with a non-zero weight into a live first-layer neuron."""
    live = live_neurons(layers)
    return (layers[0][0][live[0] if live else slice(None)] != 0).any(0)


def expected_counts(layers: Layers, reduced: bool) -> dict[str, int]:
    """Reactions and species of the full or reduced network, from the weights alone."""
    features, classes = layers[0][0].shape[1], layers[-1][0].shape[0]
    if not reduced:
        hidden = sum(len(bias) for _, bias in layers[:-1])
        return {"reactions": features + 4 * hidden, "species": features + 5 * hidden + 2 * classes}
    relu = int(sum(live.sum() for live in live_neurons(layers)))
    return {
        "reactions": int(used_inputs(layers).sum()) + relu,
        "species": features + 2 * relu + 2 * classes,
    }


def effective_layers(layers: Layers) -> Layers:
    """The layers with every neuron that cannot reach an output zeroed (weights in and bias):
    what a reduced network keeps."""
    live = live_neurons(layers) + [np.ones(len(layers[-1][1]), dtype=bool)]
    return [
        (weight * keep[:, None], np.where(keep, bias, 0.0))
        for (weight, bias), keep in zip(layers, live)
    ]


def rebuild_layers(network: dict, shapes: list[tuple[int, int]]) -> Layers:
    """Read the weights float ``(out, in)`` and biases ``(out,)`` of layers of the given shapes
    back from a full or reduced network, by its species names (`dnanet.crn.compile`).

    A weight is what the reaction consuming the source rail puts into the target's rails; the
    two rails of a full network's hidden neuron must agree (else NaN). A bias is the target's
    positive minus negative initial amount, less what folding carried into it from positive
    biases upstream (reduced networks: the previous layer's ``m`` amounts times the weights).
    """
    species, initial = set(network["species"]), network["initial"]
    consumer = {s: r for r in network["reactions"] for s in r["reactants"]}

    def amount(names) -> np.ndarray:
        return np.array([initial.get(s, 0.0) for s in names])

    layers, carried = [], np.zeros(shapes[0][1])
    for depth, (out, inp) in enumerate(shapes):
        last = depth == len(shapes) - 1
        pos = [
            f"o{j}p"
            if last
            else f"z{depth}_{j}p"
            if f"z{depth}_{j}p" in species
            else f"m{depth}_{j}"
            for j in range(out)
        ]
        neg = [f"o{j}n" if last else f"z{depth}_{j}n" for j in range(out)]
        weight = np.zeros((out, inp))
        for i in range(inp):
            if depth == 0:
                rails = [(network["inputs"][i], 1)]
            elif f"h{depth - 1}_{i}n" in species:  # full: both output rails fan out
                rails = [(f"h{depth - 1}_{i}n", -1), (f"h{depth - 1}_{i}p", 1)]
            else:  # reduced: m + z_n -> (the fan-out of h_n)
                rails = [(f"m{depth - 1}_{i}", -1)]
            readings = [_column(consumer.get(s), sign, pos, neg) for s, sign in rails]
            weight[:, i] = np.where(
                np.all([r == readings[0] for r in readings], axis=0), readings[0], np.nan
            )
        bias = amount(pos) - amount(neg) - np.nan_to_num(weight) @ carried
        carried = np.array([initial.get(s, 0.0) if s.startswith("m") else 0.0 for s in pos])
        layers.append((weight, bias))
    return layers


def _column(reaction: dict | None, sign: int, pos: list[str], neg: list[str]) -> np.ndarray:
    """One source rail's weights ``(out,)``, read from the products of the reaction consuming it."""
    products = reaction["products"] if reaction else {}
    return sign * np.array(
        [products.get(p, 0) - products.get(n, 0) for p, n in zip(pos, neg)], dtype=float
    )
