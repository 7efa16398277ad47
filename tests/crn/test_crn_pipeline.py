"""`dnanet.crn.pipeline`, the library calls behind `dnanet crn export|simulate|verify`, on a tiny
ternary run trained on the bundled example: each claims and writes its output, returns what the
file holds, counts its progress and tells its notes through the reporter."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from dnanet.crn.pipeline import export_network, simulate_fasta, verify_run
from dnanet.errors import DnanetError
from dnanet.examples import example_path
from dnanet.progress import Reporter
from tests.crn.test_crn import train_tiny


class Recording(Reporter):
    """Keeps the last count of each counter: {what: (done, total, unit)}."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, tuple[int, int | None, str]] = {}

    @contextlib.contextmanager
    def counter(self, what, total=None, unit="records"):
        self.counts[what] = (0, total, unit)
        yield lambda done: self.counts.__setitem__(what, (done, total, unit))


@pytest.fixture(scope="module")
def ternary_run(runner, tmp_path_factory):
    return train_tiny(runner, tmp_path_factory.mktemp("crn_pipeline"))


def test_export_writes_the_network_it_returns(ternary_run, tmp_path):
    out = tmp_path / "net.json"
    exported = export_network(ternary_run, out, reduce=True)
    assert json.loads(out.read_text()) == exported.network and exported.notes == []
    assert exported.summary() == (
        f"{len(exported.network['reactions'])} reactions over "
        f"{len(exported.network['species'])} species (reduced) written to {out}"
    )
    assert exported.text().splitlines()[0].count("->") == 1
    with pytest.raises(DnanetError, match="already exists"):
        export_network(ternary_run, out)
    full = export_network(ternary_run, out, overwrite=True)
    assert len(full.network["reactions"]) > len(exported.network["reactions"])


def test_simulate_returns_the_rows_of_outputs_tsv_and_counts_records(ternary_run, tmp_path):
    network = export_network(ternary_run, tmp_path / "net.json", reduce=True)
    reporter = Recording()
    out = tmp_path / "sim"
    simulation = simulate_fasta(
        network.out, [example_path("heldout_bound.fa")], out, plots=1, limit=5, reporter=reporter
    )
    rows = [line.split("\t") for line in (out / "outputs.tsv").read_text().splitlines()]
    assert [row[0] for row in rows[1:]] == simulation.ids and len(simulation.ids) == 5
    for row, run in zip(rows[1:], simulation.runs):
        np.testing.assert_allclose([float(v) for v in row[1:3]], run.final_outputs)
    assert reporter.counts["simulating"] == (5, 5, "records")
    assert simulation.summary().startswith("5 records in ") and "steady state reached by 5/5" in (
        simulation.summary()
    )
    assert simulation.files_line() == f"results in {out}/outputs.tsv, trajectory_*.png"
    assert sorted(p.name for p in out.iterdir()) == ["outputs.tsv", "trajectory_1.png"]


def test_verify_on_the_bundled_example_passes_and_says_so(ternary_run, tmp_path):
    reporter = Recording()
    out = tmp_path / "report.json"
    verification = verify_run(ternary_run, None, out, limit=4, full_records=2, reporter=reporter)
    assert verification.report == json.loads(out.read_text()) and verification.passed
    assert verification.failure() is None
    assert verification.notes == [
        "no FASTA given: using the bundled CTCF example files bound=heldout_bound.fa, "
        "background=heldout_background.fa"
    ]
    assert reporter.counts["ODE at unit and random rates"] == (4, 4, "records")
    assert verification.title().startswith("4 records; networks full ")
    rows = verification.rows()
    assert [name for name, _, _ in rows] == list(verification.report["checks"])
    assert all(passed for _, passed, _ in rows)
    measured = dict((name, text) for name, _, text in rows)
    assert measured["at_most_two_reactants"].startswith("max reactants: ")
    assert verification.convergence_line().endswith(f"(reported, not checked); report in {out}")


def test_verify_of_a_tampered_network_names_the_failed_check(ternary_run, tmp_path):
    network = export_network(ternary_run, tmp_path / "net.json", reduce=True).network
    first = network["reactions"][0]["products"]
    name = next(s for s in first if s.startswith("z0_") and s.endswith("n"))
    first["m" + name[1:-1]] = first.pop(name)  # a -1 weight becomes +1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(network))
    out = tmp_path / "report.json"
    verification = verify_run(
        ternary_run,
        [str(example_path("heldout_bound.fa"))],
        out,
        network_path=tampered,
        limit=3,
        full_records=0,
    )
    assert not verification.passed and out.exists()
    failure = verification.failure()
    assert failure.endswith(f"(details in {out})") and "weights_rebuilt" in failure
    assert ("weights_rebuilt", False) in [(name, passed) for name, passed, _ in verification.rows()]
