"""Plots of a `dnanet tune` study (matplotlib, PNG): the search history and the parameter
importances."""

from __future__ import annotations

from pathlib import Path

from optuna.trial import FrozenTrial, TrialState


def _pyplot():
    """matplotlib's pyplot, drawing offline (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(trials: list[FrozenTrial], path: Path) -> None:
    """Validation loss per trial (in the order they were started): complete trials as dots, pruned
    ones as crosses at their last reported loss, the base config's trial ringed, and the best loss
    so far as a step line."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    done = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    pruned = [
        trial for trial in trials if trial.state == TrialState.PRUNED and trial.intermediate_values
    ]
    axes.scatter(
        [t.number for t in done],
        [t.value for t in done],
        color="tab:blue",
        label="complete",
        zorder=3,
    )
    if pruned:
        axes.scatter(
            [t.number for t in pruned],
            [t.intermediate_values[t.last_step] for t in pruned],
            marker="x",
            color="tab:gray",
            label="pruned (its last epoch)",
            zorder=3,
        )
    base = [t for t in done if t.user_attrs.get("base_config")]
    if base:
        axes.scatter(
            [t.number for t in base],
            [t.value for t in base],
            s=160,
            facecolors="none",
            edgecolors="black",
            label="the base config",
            zorder=4,
        )
    if done:
        numbers, best, lowest = [], [], float("inf")
        for trial in sorted(done, key=lambda t: t.number):
            lowest = min(lowest, trial.value)
            numbers.append(trial.number)
            best.append(lowest)
        axes.step(
            numbers + [max(t.number for t in trials)],
            best + [lowest],
            where="post",
            color="tab:red",
            label="best so far",
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel("validation loss (best epoch)")
    axes.set_title("dnanet tune: search history")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_importances(importances: dict[str, float], path: Path) -> None:
    """Horizontal bars: each parameter's share of the validation loss's variance (fANOVA)."""
    plt = _pyplot()
    names = list(importances)[::-1]  # most important on top
    figure, axes = plt.subplots(figsize=(7, 0.4 * len(names) + 1.2))
    axes.barh(names, [importances[name] for name in names], color="tab:blue")
    axes.set_xlabel("importance (share of the validation loss's variance)")
    axes.set_title("dnanet tune: parameter importances")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
