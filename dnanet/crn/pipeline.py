"""`dnanet crn export|simulate|verify` end to end: each claims its output (`dnanet.files.outputs`:
an existing one only with `overwrite`), reads its inputs, runs, and writes its files atomically
(nothing half-written on error); the CLI parses options, calls one of these and prints. Notes (a
stale temporary cleaned, the bundled example used) and progress (records simulated) go to a
`dnanet.progress.Reporter`; each returns its results with the notes, and the lines a terminal
shows."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from dnanet.crn.compile import compile_network, layer_weights, network_features, reduce_network
from dnanet.crn.files import load_network, load_ternary, read_features, write_network, write_outputs
from dnanet.crn.kinetics import Trajectory, simulate
from dnanet.crn.results import Export, Simulation, Verification
from dnanet.crn.verify import verify
from dnanet.errors import DnanetError
from dnanet.examples import heldout_inputs
from dnanet.files.outputs import claimed
from dnanet.inputs.sources import parse_inputs
from dnanet.progress import Reporter
from dnanet.runs.save import write_json
from dnanet.runtime.threads import use_threads


def export_network(
    run: str | Path,
    out: str | Path,
    *,
    reduce: bool = False,
    overwrite: bool = False,
    reporter: Reporter | None = None,
) -> Export:
    """Compile the ternary run `run` (reduced when `reduce`) and write it as JSON to `out`."""
    reporter = reporter if reporter is not None else Reporter()
    told_before = len(reporter.notes)
    with claimed(Path(out), overwrite, reporter=reporter) as output:
        model, classes = load_ternary(Path(run))
        network = compile_network(model, classes)
        if reduce:
            network = reduce_network(network)
        write_network(network, output)
    return Export(Path(out), network, reduce, reporter.texts()[told_before:])


def simulate_fasta(
    network_path: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    plots: int = 3,
    limit: Optional[int] = None,
    overwrite: bool = False,
    reporter: Reporter | None = None,
) -> Simulation:
    """Integrate the network of `network_path` on every record of the FASTA files `inputs` (the
    first `limit`) and write the folder `out`: outputs.tsv (`files.write_outputs`) and
    trajectory_<n>.png for the first `plots` records."""
    reporter = reporter if reporter is not None else Reporter()
    told_before, network_path = len(reporter.notes), Path(network_path)
    with claimed(Path(out), overwrite, folder=True, reporter=reporter) as output:
        network = load_network(network_path)
        try:
            ids, features = read_features(
                [Path(path) for path in inputs],
                limit,
                lambda codes: network_features(network, codes),
            )
        except DnanetError as error:
            raise DnanetError(
                f"{network_path}: {error}" if "'features'" in str(error) else str(error)
            ) from None
        started, runs = time.perf_counter(), []
        with reporter.counter("simulating", len(features), "records") as update:
            for f in features:
                runs.append(simulate(network, f))
                update(len(runs))
        seconds = time.perf_counter() - started
        with output.writing() as folder:
            write_simulation(folder, list(network["outputs"]), ids, runs, plots)
    return Simulation(ids, runs, seconds, Path(out), plots, reporter.texts()[told_before:])


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
    run: str | Path,
    inputs: Sequence | None,
    out: str | Path,
    *,
    network_path: str | Path | None = None,
    limit: Optional[int] = None,
    seed: int = 0,
    full_records: int = 20,
    overwrite: bool = False,
    threads: int | None = None,
    reporter: Reporter | None = None,
) -> Verification:
    """Compile `run` into its full and reduced networks (and read `network_path`, when given, which
    must have the run's inputs and outputs), check them against the run on the records of `inputs`
    (FASTA paths, ``CLASS=PATH`` strings or `LabelledInput`s; None or empty: the bundled CTCF
    held-out files) with `dnanet.crn.verify`, and write the report as JSON to `out`."""
    reporter = reporter if reporter is not None else Reporter()
    told_before = len(reporter.notes)
    with claimed(Path(out), overwrite, reporter=reporter) as output:
        use_threads(threads)
        paths = [item.path for item in parse_inputs(inputs, heldout_inputs, reporter)]
        report = check_run(
            Path(run),
            paths,
            None if network_path is None else Path(network_path),
            limit,
            seed,
            full_records,
            reporter,
        )
        with output.writing() as temporary:
            write_json(temporary, report)
    return Verification(report, Path(out), reporter.texts()[told_before:])


def check_run(
    run: Path,
    inputs: list[Path],
    network_path: Optional[Path],
    limit: Optional[int],
    seed: int,
    full_records: int,
    reporter: Reporter,
) -> dict:
    """`verify_run`'s report, not written: every check of `dnanet.crn.verify` on the records of
    the FASTA files `inputs`."""
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
    with reporter.counter("ODE at unit and random rates", len(ids), "records") as update:
        report = verify(
            layer_weights(model),
            full,
            given,
            ids,
            features,
            expected,
            seed,
            full_records,
            on_record=lambda: update(next(done)),
        )
    return {
        "passed": report.pop("passed"),
        "run": str(run),
        "network": str(network_path or ""),
        **report,
    }
