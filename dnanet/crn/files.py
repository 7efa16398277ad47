"""Reading and writing for `dnanet crn`: a run folder -> its compilable ternary model, network
JSON files (written atomically, read back and checked), FASTA records -> the network's input
amounts, and a simulation's ``outputs.tsv``. Errors are one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from dnanet.crn.compile import layer_weights
from dnanet.errors import DnanetError


def load_ternary(run: Path):
    """A run folder -> (its TernaryMLP in float64, class names); only runs that compile."""
    import torch

    from dnanet.runs.load import load_run

    loaded = load_run(run, "cpu")
    model = loaded.model
    if loaded.model_name != "ternary_mlp":
        raise DnanetError(
            f"{run}: a {loaded.model_name} model; only ternary_mlp runs compile to a "
            "reaction network (train one with --model ternary_mlp)"
        )
    if not loaded.task.is_classification:
        raise DnanetError(f"{run}: a {loaded.task.kind} run; only classification runs compile")
    if loaded.reverse_complement_average:
        raise DnanetError(
            f"{run}: averages both strands, the reaction network computes one "
            "(train with train.reverse_complement: false)"
        )
    try:
        layer_weights(model)
    except DnanetError as error:
        raise DnanetError(f"{run}: {error}") from None
    return model.to(torch.float64), loaded.task.names


def write_network(network: dict, output) -> None:
    """Write `network` as JSON to the claimed `output` (`dnanet.files.outputs.Output`), atomically
    (no half-written file on error)."""
    with output.writing() as temporary:
        temporary.write_text(
            json.dumps(network, indent=1, allow_nan=False) + "\n", encoding="utf-8"
        )


def load_network(path) -> dict:
    """Read and check a network JSON file (`dnanet crn export`); one-line errors name the
    problem."""
    try:
        network = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DnanetError(f"{path}: not a JSON file ({error})") from None
    problem = _network_problem(network)
    if problem:
        raise DnanetError(f"{path}: not a reaction network from `dnanet crn export`: {problem}")
    return network


def _network_problem(network) -> str | None:
    """What is wrong with a network dict's structure, or None."""
    keys = ("species", "reactions", "initial", "inputs", "outputs", "features")
    if not isinstance(network, dict) or any(key not in network for key in keys):
        return "expected an object with the keys " + ", ".join(keys)
    species = network["species"]
    if (
        not isinstance(species, list)
        or not all(isinstance(s, str) for s in species)
        or len(set(species)) < len(species)
    ):
        return "'species' must be a list of distinct names"
    known, number = set(species), (int, float)
    for i, r in enumerate(
        network["reactions"] if isinstance(network["reactions"], list) else [None]
    ):
        sides = [r.get("reactants"), r.get("products")] if isinstance(r, dict) else [None, None]
        if (
            not all(
                isinstance(side, dict)
                and all(s in known and type(c) is int and c > 0 for s, c in side.items())
                for side in sides
            )
            or not sides[0]
        ):
            return (
                f"reaction {i}: 'reactants' (not empty) and 'products' must map listed species to "
                "positive whole counts"
            )
        if (
            not isinstance(r.get("rate"), number)
            or isinstance(r.get("rate"), bool)
            or not r["rate"] > 0
        ):
            return f"reaction {i}: 'rate' must be a positive number"
    initial, inputs, outputs = network["initial"], network["inputs"], network["outputs"]
    if not isinstance(initial, dict) or not all(
        s in known and isinstance(v, number) and not isinstance(v, bool) and v >= 0
        for s, v in initial.items()
    ):
        return "'initial' must map listed species to non-negative numbers"
    if (
        not isinstance(inputs, list)
        or not inputs
        or not all(s in known and s not in initial for s in inputs)
    ):
        return "'inputs' must list species without an initial amount"
    if (
        not isinstance(outputs, dict)
        or not outputs
        or not all(
            isinstance(pair, list) and len(pair) == 2 and all(s in known for s in pair)
            for pair in outputs.values()
        )
    ):
        return "'outputs' must map each class to [positive species, negative species]"
    return None


def read_features(
    paths: list[Path], limit: Optional[int], featurize: Callable[[np.ndarray], np.ndarray]
) -> tuple[list[str], np.ndarray]:
    """Record ids and their input amounts ``(N, F)`` (``featurize(codes)``), the first `limit`
    records."""
    from dnanet.data.streaming import iter_batches

    ids, blocks = [], []
    for batch in iter_batches(paths, 256):
        ids += batch.ids
        blocks.append(featurize(batch.codes))
        if limit is not None and len(ids) >= limit:
            break
    if not ids:
        raise DnanetError("the FASTA files hold no records")
    return ids[:limit], np.concatenate(blocks)[:limit]


def write_outputs(path: Path, classes: list[str], ids: list[str], runs: list) -> None:
    """``outputs.tsv``: per record its id, each class's output at the steady state, the predicted
    class, the convergence time and whether the steady state was reached (`kinetics.Trajectory`)."""
    with open(path, "w", encoding="utf-8") as table:
        table.write("\t".join(["id", *classes, "predicted", "convergence_time", "steady"]) + "\n")
        for name, run in zip(ids, runs):
            values = [repr(float(v)) for v in run.final_outputs]
            table.write(
                "\t".join(
                    [
                        name,
                        *values,
                        classes[int(run.final_outputs.argmax())],
                        repr(run.convergence_time),
                        str(run.steady).lower(),
                    ]
                )
                + "\n"
            )
