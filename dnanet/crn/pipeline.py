"""`dnanet crn export|simulate|verify` end to end: each reads its inputs, runs, and writes its
files atomically (nothing half-written on error); the CLI parses options, calls one of these and
prints. Progress is reported as ``on_progress(records done, records in all)``."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from dnanet.crn.compile import compile_network, layer_weights, network_features, reduce_network
from dnanet.crn.files import load_network, load_ternary, read_features, write_network, write_outputs
from dnanet.crn.kinetics import Trajectory, simulate
from dnanet.errors import DnanetError

if TYPE_CHECKING:
    from dnanet.files.outputs import Output

Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    """The default `Progress`: report nothing."""


def export_network(run: Path, output: "Output", reduce: bool = False) -> dict:
    """Compile the ternary run `run` (reduced when `reduce`) and write it as JSON to the claimed
    `output` (`dnanet.files.outputs.Output`)."""
    model, classes = load_ternary(run)
    network = compile_network(model, classes)
    if reduce:
        network = reduce_network(network)
    write_network(network, output)
    return network


@dataclass
class Simulation:
    """What `simulate_fasta` ran: record ids, one trajectory each, and the seconds the ODEs took."""

    ids: list[str]
    runs: list[Trajectory]
    seconds: float


def simulate_fasta(
    network_path: Path,
    inputs: list[Path],
    output: "Output",
    plots: int = 3,
    limit: Optional[int] = None,
    on_progress: Progress = _no_progress,
) -> Simulation:
    """Integrate the network of `network_path` on every record of `inputs` (the first `limit`) and
    write the claimed folder `output`: outputs.tsv (`files.write_outputs`) and trajectory_<n>.png
    for the first `plots` records."""
    network = load_network(network_path)
    try:
        ids, features = read_features(inputs, limit, lambda codes: network_features(network, codes))
    except DnanetError as error:
        raise DnanetError(
            f"{network_path}: {error}" if "'features'" in str(error) else str(error)
        ) from None
    started, runs = time.perf_counter(), []
    for f in features:
        runs.append(simulate(network, f))
        on_progress(len(runs), len(features))
    seconds = time.perf_counter() - started
    with output.writing() as folder:
        write_simulation(folder, list(network["outputs"]), ids, runs, plots)
    return Simulation(ids, runs, seconds)


def write_simulation(
    folder: Path, classes: list[str], ids: list[str], runs: list[Trajectory], plots: int
) -> None:
    """outputs.tsv and trajectory_1.png .. trajectory_<plots>.png into `folder`."""
    from dnanet.crn.plots import plot_trajectory

    write_outputs(folder / "outputs.tsv", classes, ids, runs)
    for n, (name, run) in enumerate(zip(ids[:plots], runs[:plots]), start=1):
        plot_trajectory(
            run,
            classes,
            f"{name}: predicted {classes[int(run.final_outputs.argmax())]}",
            folder / f"trajectory_{n}.png",
        )


def verify_run(
    run: Path,
    inputs: list[Path],
    output: "Output",
    network_path: Optional[Path] = None,
    limit: Optional[int] = None,
    seed: int = 0,
    full_records: int = 20,
    on_progress: Progress = _no_progress,
) -> dict:
    """Compile `run` into its full and reduced networks (and read `network_path`, when given, which
    must have the run's inputs and outputs), check them against the run on the records of `inputs`
    (`dnanet.crn.verify`), and write the report as JSON to the claimed `output`. Returns the report;
    its ``passed`` says whether every check passed."""
    import torch

    from dnanet.crn.verify import verify
    from dnanet.runs.save import write_json

    model, classes = load_ternary(run)
    given = load_network(network_path) if network_path is not None else None
    full = compile_network(model, classes)
    if given is not None and (
        given["inputs"] != full["inputs"] or list(given["outputs"]) != list(full["outputs"])
    ):
        raise DnanetError(
            f"{network_path}: its inputs or outputs are not those of {run} "
            "(export it from this run)"
        )
    with torch.no_grad():
        ids, features = read_features(
            inputs, limit, lambda codes: model.input_features(torch.from_numpy(codes)).numpy()
        )
        expected: np.ndarray = model.forward_features(
            torch.from_numpy(features)
        ).numpy()  # (N, C) logits
    done = itertools.count(1)
    report = verify(
        layer_weights(model),
        full,
        given,
        ids,
        features,
        expected,
        seed,
        full_records,
        on_record=lambda: on_progress(next(done), len(ids)),
    )
    report = {
        "passed": report.pop("passed"),
        "run": str(run),
        "network": str(network_path or ""),
        **report,
    }
    with output.writing() as temporary:
        write_json(temporary, report)
    return report
