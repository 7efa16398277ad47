"""What each `dnanet crn` workflow (`dnanet.crn.pipeline`) returns: its results, the notes told
while it ran, and the lines a terminal shows of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnanet.crn.compile import network_text
from dnanet.crn.kinetics import Trajectory


@dataclass(frozen=True)
class Export:
    """What `pipeline.export_network` wrote: the `network` (the JSON's contents) into `out`,
    `reduced` or full, and the notes told."""

    out: Path
    network: dict
    reduced: bool
    notes: list[str]

    def text(self) -> str:
        """The reactions, one per line (``x3 -> a + b``)."""
        return network_text(self.network)

    def summary(self) -> str:
        return (
            f"{len(self.network['reactions'])} reactions over {len(self.network['species'])} "
            f"species ({'reduced' if self.reduced else 'full'}) written to {self.out}"
        )


@dataclass(frozen=True)
class Simulation:
    """What `pipeline.simulate_fasta` ran: record ids, one trajectory each, the seconds the ODEs
    took, the folder written (`out`, with trajectory plots when `plots`) and the notes told."""

    ids: list[str]
    runs: list[Trajectory]
    seconds: float
    out: Path
    plots: int
    notes: list[str]

    def summary(self) -> str:
        """Records, time, convergence times and how many reached the steady state."""
        runs, seconds = self.runs, self.seconds
        times = np.array([r.convergence_time for r in runs])
        return (
            f"{len(runs)} records in {seconds:.1f} s ({seconds / len(runs):.3f} s each); "
            f"convergence time median {np.median(times):.4g}, max {times.max():.4g}; steady state "
            f"reached by {sum(r.steady for r in runs)}/{len(runs)}"
        )

    def files_line(self) -> str:
        return f"results in {self.out}/outputs.tsv" + (", trajectory_*.png" if self.plots else "")


@dataclass(frozen=True)
class Verification:
    """What `pipeline.verify_run` checked: the `report` written to `out` (JSON; its ``passed``
    says whether every check passed) and the notes told."""

    report: dict
    out: Path
    notes: list[str]

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])

    def title(self) -> str:
        """Records checked and each network's size."""
        return f"{len(self.report['records'])} records; networks " + ", ".join(
            f"{name} {size['reactions']} reactions / {size['species']} species"
            for name, size in self.report["networks"].items()
        )

    def rows(self) -> list[tuple[str, bool, str]]:
        """Per check: its name, whether it passed and what it measured (`measured_text`)."""
        return [
            (name, bool(check["passed"]), measured_text(check))
            for name, check in self.report["checks"].items()
        ]

    def convergence_line(self) -> str:
        """How convergence time relates to confidence (reported, not checked)."""
        relation = self.report["convergence_vs_confidence"]
        rho, p = relation["spearman_rho"], relation["p_value"]
        numbers = "undefined" if rho is None or p is None else f"Spearman rho {rho:.3f}, p {p:.2g}"
        return (
            f"convergence time vs confidence (logit margin): {numbers} (reported, not checked); "
            f"report in {self.out}"
        )

    def failure(self) -> str | None:
        """The one-line error of a failed verification (None when every check passed)."""
        failed = [name for name, passed, _ in self.rows() if not passed]
        if not failed:
            return None
        return f"{len(failed)} check(s) failed: {', '.join(failed)} (details in {self.out})"


def measured_text(check: dict) -> str:
    """A check's measured values in one short line (the JSON report has them in full)."""
    parts = []
    for key, value in check.items():
        if isinstance(value, dict) and "expected_reactions" in value:
            parts.append(
                f"{key} {value['reactions']}/{value['expected_reactions']} reactions, "
                f"{value['species']}/{value['expected_species']} species"
            )
        elif key.startswith(("max_", "same_class", "species_consumed")):
            shown = (
                ", ".join(
                    f"{k} {v if isinstance(v, list) else format(v, '.2g')}"
                    for k, v in value.items()
                )
                if isinstance(value, dict)
                else format(value, ".3g")
            )
            parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)
