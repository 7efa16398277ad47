"""`dnanet crn verify`: every check that a compiled reaction network computes its ternary
network, on the feature vectors of real records, as one JSON-ready report.

Checks (each with pass/fail and the measured value): at most two reactants per reaction; every
species consumed by at most one reaction; reaction and species counts equal the formulas of
`dnanet.crn.compile` (from the weights alone); weights and biases rebuilt from the reactions equal
the network's (reduced: those that reach an output); firing every reaction to completion in order
reproduces the outputs within 1e-9 (full and reduced); the mass-action steady state within 1e-3
with the same class for every record; random rate constants (uniform in [0.1, 10]) reach the same
steady state (every species within 1e-3). The kinetic checks run on the reduced network (or the
given one); the full network's ODE runs on the first few records.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dnanet.crn.checks import (
    effective_layers,
    expected_counts,
    max_reactants,
    multiply_consumed,
    rebuild_layers,
)
from dnanet.crn.compile import Layers, reduce_network
from dnanet.crn.kinetics import OUTPUT_TOL, fire_in_order, simulate

ORDER_TOL = 1e-9
RATE_RANGE = (0.1, 10.0)


def structure_checks(networks: dict[str, dict], layers: Layers) -> dict:
    """The four checks that need no input: reactants, consumers, counts, rebuilt weights."""
    reactants = {name: max_reactants(net) for name, net in networks.items()}
    twice = {name: multiply_consumed(net) for name, net in networks.items()}
    counts, weights, biases = {}, {}, {}
    for name, net in networks.items():
        reduced = not any(s.startswith("h") for s in net["species"])
        expected = expected_counts(layers, reduced)
        counts[name] = {
            "form": "reduced" if reduced else "full",
            "reactions": len(net["reactions"]),
            "expected_reactions": expected["reactions"],
            "species": len(net["species"]),
            "expected_species": expected["species"],
        }
        reference = effective_layers(layers) if reduced else layers
        rebuilt = rebuild_layers(net, [weight.shape for weight, _ in layers])
        weights[name] = max(
            float(np.abs(a - w).max(initial=0)) for (a, _), (w, _) in zip(rebuilt, reference)
        )
        biases[name] = max(
            float(np.abs(a - b).max(initial=0)) for (_, a), (_, b) in zip(rebuilt, reference)
        )
    return {
        "at_most_two_reactants": {
            "passed": max(reactants.values()) <= 2,
            "max_reactants": reactants,
        },
        "consumed_at_most_once": {
            "passed": not any(twice.values()),
            "species_consumed_more_than_once": twice,
        },
        "reaction_counts": {
            "passed": all(
                c["reactions"] == c["expected_reactions"] and c["species"] == c["expected_species"]
                for c in counts.values()
            ),
            **counts,
            "formulas": (
                "full: reactions F + 4H, species F + 5H + 2C; reduced: reactions U + R, species "
                "F + 2R + 2C (F features, H hidden neurons, C classes, U used inputs, R live "
                "ReLU neurons)"
            ),
        },
        "weights_rebuilt": {
            "passed": max(weights.values()) == 0 and max(biases.values()) <= ORDER_TOL,
            "max_weight_difference": weights,
            "max_bias_difference": biases,
            "bias_tolerance": ORDER_TOL,
        },
    }


def order_check(networks: dict[str, dict], features: np.ndarray, expected: np.ndarray) -> dict:
    """Fire every reaction to completion in order on features ``(N, F)``; compare
    with ``(N, C)``."""
    worst = {
        name: max(
            (float(np.abs(fire_in_order(net, f) - e).max()) for f, e in zip(features, expected)),
            default=0.0,
        )
        for name, net in networks.items()
    }
    return {
        "passed": max(worst.values()) <= ORDER_TOL,
        "max_difference": worst,
        "tolerance": ORDER_TOL,
        "records": len(features),
    }


def kinetic_checks(
    network: dict,
    features: np.ndarray,
    expected: np.ndarray,
    seed: int,
    on_record: Callable[[], None] = lambda: None,
) -> tuple[dict, dict, list, list]:
    """ODE steady state at unit rates and at random rates for every record: the two check
    entries, and per record the unit-rate trajectory and the random-rate outputs."""
    rng = np.random.default_rng(seed)
    unit, random = [], []
    for f in features:
        unit.append(simulate(network, f))
        random.append(
            simulate(network, f, rates=rng.uniform(*RATE_RANGE, len(network["reactions"])))
        )
        on_record()

    def same(runs):
        return float(
            np.mean([r.final_outputs.argmax() == e.argmax() for r, e in zip(runs, expected)])
        )

    ode_gap = max(
        (float(np.abs(r.final_outputs - e).max()) for r, e in zip(unit, expected)), default=0.0
    )
    state_gap = max(
        (float(np.abs(r.final_state - u.final_state).max()) for r, u in zip(random, unit)),
        default=0.0,
    )
    rate_gap = max(
        (float(np.abs(r.final_outputs - e).max()) for r, e in zip(random, expected)), default=0.0
    )
    ode = {
        "passed": ode_gap <= OUTPUT_TOL and same(unit) == 1.0,
        "max_difference": ode_gap,
        "tolerance": OUTPUT_TOL,
        "same_class": same(unit),
        "reached_steady_state": float(np.mean([r.steady for r in unit])),
        "records": len(unit),
    }
    rates = {
        "passed": state_gap <= OUTPUT_TOL and rate_gap <= OUTPUT_TOL and same(random) == 1.0,
        "rates": (
            f"uniform in [{RATE_RANGE[0]}, {RATE_RANGE[1]}], one draw per record (seed {seed})"
        ),
        "max_state_difference_from_unit_rates": state_gap,
        "max_output_difference": rate_gap,
        "tolerance": OUTPUT_TOL,
        "same_class": same(random),
        "records": len(random),
    }
    return ode, rates, unit, [r.final_outputs for r in random]


def full_ode_check(network: dict, features: np.ndarray, expected: np.ndarray) -> dict:
    """The full (unreduced) network's ODE steady state on a few records."""
    runs = [simulate(network, f) for f in features]
    gap = max(
        (float(np.abs(r.final_outputs - e).max()) for r, e in zip(runs, expected)), default=0.0
    )
    same = all(r.final_outputs.argmax() == e.argmax() for r, e in zip(runs, expected))
    return {
        "passed": gap <= OUTPUT_TOL and same,
        "max_difference": gap,
        "tolerance": OUTPUT_TOL,
        "records": len(runs),
    }


def convergence_vs_confidence(times: list[float], expected: np.ndarray) -> dict:
    """Spearman correlation of convergence time with the network's confidence (the margin
    between its two largest outputs), reported, never asserted."""
    from scipy.stats import spearmanr

    top = np.sort(expected, axis=1)
    margin = top[:, -1] - top[:, -2] if expected.shape[1] > 1 else np.abs(top[:, 0])
    rho, p = (
        spearmanr(times, margin)
        if len(times) > 2 and np.ptp(times) > 0 and np.ptp(margin) > 0
        else (np.nan, np.nan)
    )

    def clean(value):
        return None if not np.isfinite(value) else float(value)

    return {
        "spearman_rho": clean(rho),
        "p_value": clean(p),
        "records": len(times),
        "confidence": "largest minus second-largest network output (logit margin)",
        "convergence_time": (
            "earliest time from which every output stays within 1e-3 of its steady state "
            "(unit rates)"
        ),
        "median_convergence_time": clean(np.median(times)) if times else None,
    }


def verify(
    layers: Layers,
    full: dict,
    given: dict | None,
    ids: list[str],
    features: np.ndarray,
    expected: np.ndarray,
    seed: int = 0,
    full_records: int = 20,
    on_record: Callable[[], None] = lambda: None,
) -> dict:
    """Every check on records `ids` with features ``(N, F)`` and network outputs (logits)
    ``(N, C)``: the report (``passed``, ``networks``, ``checks``, ``convergence_vs_confidence``,
    ``records``). `given` (optional) is an exported network with the same inputs and outputs, to
    check beside the compiled ones."""
    networks = {"full": full, "reduced": reduce_network(full)} | ({"given": given} if given else {})
    kinetic = "given" if given else "reduced"
    checks = structure_checks(networks, layers)
    checks["fire_in_order"] = order_check(networks, features, expected)
    ode, rates, unit, random = kinetic_checks(
        networks[kinetic], features, expected, seed, on_record
    )
    checks["ode_steady_state"] = {**ode, "network": kinetic}
    checks["ode_steady_state_full"] = full_ode_check(
        full, features[:full_records], expected[:full_records]
    )
    checks["random_rates"] = {**rates, "network": kinetic}
    classes = list(full["outputs"])
    records = [
        {
            "id": name,
            "features": [float(v) for v in f],
            "nn_output": [float(v) for v in e],
            "crn_output": [float(v) for v in u.final_outputs],
            "nn_class": classes[int(e.argmax())],
            "crn_class": classes[int(u.final_outputs.argmax())],
            "convergence_time": u.convergence_time,
            "steady": u.steady,
            "crn_output_random_rates": [float(v) for v in r],
        }
        for name, f, e, u, r in zip(ids, features, expected, unit, random)
    ]
    return {
        "passed": all(check["passed"] for check in checks.values()),
        "classes": classes,
        "features": full["features"],
        "networks": {
            name: {"reactions": len(net["reactions"]), "species": len(net["species"])}
            for name, net in networks.items()
        },
        "checks": checks,
        "convergence_vs_confidence": convergence_vs_confidence(
            [u.convergence_time for u in unit], expected
        ),
        "records": records,
    }
