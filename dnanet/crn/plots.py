"""Trajectory plots of a reaction network's outputs (matplotlib, drawn offline to PNG)."""

from __future__ import annotations

from pathlib import Path

from dnanet.crn.kinetics import Trajectory


def plot_trajectory(trajectory: Trajectory, classes: list[str], title: str, path: Path) -> None:
    """Each class's output (pos - neg) against time (log scale) for one record, with the
    steady-state values dashed and the convergence time marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, outputs = trajectory.times, trajectory.outputs  # (T,), (T, C)
    shown = times > 0
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for c, name in enumerate(classes):
        (line,) = axes.plot(times[shown], outputs[shown, c], label=name)
        axes.axhline(
            trajectory.final_outputs[c], color=line.get_color(), linestyle="--", linewidth=0.8
        )
    if trajectory.convergence_time > 0:
        axes.axvline(
            trajectory.convergence_time,
            color="grey",
            linewidth=0.8,
            label=f"converged (t = {trajectory.convergence_time:.3g})",
        )
    if shown.any():
        axes.set_xscale("log")
    axes.set_xlabel("time (unit rate constants)")
    axes.set_ylabel("output = pos - neg")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
