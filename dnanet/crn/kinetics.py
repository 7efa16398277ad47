"""Running a reaction network (`dnanet.crn.compile`): firing reactions to completion in order, and
mass-action kinetics integrated to a steady state.

Mass action: reaction ``r`` proceeds at ``flux_r = k_r * prod_s y_s^(count)`` over its reactants;
``dy/dt = S @ flux`` with the stoichiometry ``S`` (species x reactions, products minus
reactants) held as a scipy.sparse matrix, and an exact Jacobian. The integration (scipy
``solve_ivp``, LSODA) stops at the **steady state**: the first time every flux is below
``flux_tol``. The **convergence time** of a record is the earliest solver time from which every
output (``pos - neg`` per class) stays within ``output_tol`` of its value at the steady state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from dnanet.errors import DnanetError

T_MAX = 1e9  # give up (steady = False) if the fluxes are not below flux_tol by then
# a bimolecular reaction at flux 1e-12 and rate >= 0.1 has at most ~3e-6 of each reactant left
FLUX_TOL = 1e-12
OUTPUT_TOL = 1e-3


def initial_state(network: dict, features: np.ndarray) -> np.ndarray:
    """Starting amounts float64 ``(S,)`` in ``network["species"]`` order: ``initial``, then the
    inputs set to `features` ``(n_inputs,)``; every other species 0."""
    features = np.asarray(features, dtype=np.float64)
    if features.shape != (len(network["inputs"]),) or not (features >= 0).all():
        raise DnanetError(
            f"expected {len(network['inputs'])} non-negative input amounts, got shape "
            f"{features.shape}"
        )
    index = {s: i for i, s in enumerate(network["species"])}
    state = np.zeros(len(index))
    for s, value in network["initial"].items():
        state[index[s]] = value
    state[[index[s] for s in network["inputs"]]] = features
    return state


def output_values(network: dict, states: np.ndarray) -> np.ndarray:
    """States ``(..., S)`` -> outputs ``(..., C)``: ``pos - neg`` per class, in ``outputs``
    order."""
    index = {s: i for i, s in enumerate(network["species"])}
    pos, neg = zip(*[(index[p], index[n]) for p, n in network["outputs"].values()])
    return states[..., list(pos)] - states[..., list(neg)]


def fire_in_order(network: dict, features: np.ndarray) -> np.ndarray:
    """Run each reaction to completion, in the listed order: outputs float64 ``(C,)``."""
    index = {s: i for i, s in enumerate(network["species"])}
    state = initial_state(network, features)
    for reaction in network["reactions"]:
        extent = min(state[index[s]] / count for s, count in reaction["reactants"].items())
        for s, count in reaction["reactants"].items():
            state[index[s]] -= count * extent
        for s, count in reaction["products"].items():
            state[index[s]] += count * extent
    return output_values(network, state)


class MassAction:
    """The mass-action ODE of a network, rate constants ``rates`` ``(R,)`` (default: the
    network's)."""

    def __init__(self, network: dict, rates: np.ndarray | None = None):
        index = {s: i for i, s in enumerate(network["species"])}
        reactions = network["reactions"]
        n, width = len(index), max((sum(r["reactants"].values()) for r in reactions), default=1)
        self.rates = (
            np.array([r["rate"] for r in reactions], dtype=np.float64) if rates is None else rates
        )
        self.slots = np.full(
            (len(reactions), width), n
        )  # (R, width): reactant indices, n = the constant 1
        rows, cols, values = [], [], []
        for r, reaction in enumerate(reactions):
            taken = [index[s] for s, c in reaction["reactants"].items() for _ in range(c)]
            self.slots[r, : len(taken)] = taken
            for side, sign in ((reaction["reactants"], -1), (reaction["products"], 1)):
                rows += [index[s] for s in side]
                cols += [r] * len(side)
                values += [sign * c for c in side.values()]
        self.stoich = sparse.csr_matrix(
            (values, (rows, cols)), shape=(n, len(reactions))
        )  # (S, R), summed
        self.n = n

    def fluxes(self, y: np.ndarray) -> np.ndarray:
        """Reaction fluxes ``(R,)`` at amounts ``y`` ``(S,)``. Amounts are not clipped at 0: a tiny
        negative rounding error runs its reaction backwards and heals itself (clipping makes the
        right-hand side kinked, and the solver 10-100x slower)."""
        padded = np.append(y, 1.0)
        return self.rates * padded[self.slots].prod(1)

    def derivative(self, _t: float, y: np.ndarray) -> np.ndarray:
        return self.stoich @ self.fluxes(y)

    def jacobian(self, _t: float, y: np.ndarray) -> np.ndarray:
        """d(dy/dt)/dy, dense ``(S, S)``: ``S @ d flux / dy``."""
        padded = np.append(y, 1.0)[self.slots]  # (R, width)
        partial = np.zeros((len(self.rates), self.n + 1))
        for p in range(self.slots.shape[1]):
            others = np.prod(np.delete(padded, p, axis=1), axis=1)
            np.add.at(partial, (np.arange(len(self.rates)), self.slots[:, p]), self.rates * others)
        return np.asarray((self.stoich @ sparse.csr_matrix(partial[:, : self.n])).todense())


@dataclass
class Trajectory:
    """One integration: solver times ``(T,)``, outputs ``(T, C)``, the final state ``(S,)`` and
    outputs ``(C,)``, the convergence time, and whether the steady state was reached."""

    times: np.ndarray
    outputs: np.ndarray
    final_state: np.ndarray
    final_outputs: np.ndarray
    convergence_time: float
    steady: bool


def simulate(
    network: dict,
    features: np.ndarray,
    rates: np.ndarray | None = None,
    flux_tol: float = FLUX_TOL,
    output_tol: float = OUTPUT_TOL,
    t_max: float = T_MAX,
) -> Trajectory:
    """Integrate the mass-action ODE from the inputs `features` ``(n_inputs,)`` to the steady
    state (module docstring); `rates` ``(R,)`` overrides the rate constants."""
    from scipy.integrate import solve_ivp
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    system = MassAction(network, rates)
    y0 = initial_state(network, features)

    def steady(t, y):
        return np.abs(system.fluxes(y)).max(initial=0.0) - flux_tol

    steady.terminal, steady.direction = True, -1
    reached = steady(0.0, y0) <= 0
    if reached:
        times, states = np.zeros(1), y0[None]
    else:
        with threadpool_limits(
            1, user_api="blas"
        ):  # threads only spin on a system this small (10x slower)
            solution = solve_ivp(
                system.derivative,
                (0.0, t_max),
                y0,
                method="LSODA",
                jac=system.jacobian,
                events=steady,
                rtol=1e-8,
                atol=1e-14,
            )
        if solution.status < 0:
            raise DnanetError(f"the ODE solver failed: {solution.message}")
        times, states, reached = solution.t, solution.y.T, solution.status == 1
    outputs = output_values(network, states)  # (T, C)
    away = np.abs(outputs - outputs[-1]).max(1) > output_tol  # (T,)
    converged = times[np.flatnonzero(away)[-1] + 1] if away.any() else 0.0
    return Trajectory(times, outputs, states[-1], outputs[-1], float(converged), bool(reached))
