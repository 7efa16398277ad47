"""The PNGs of `dnanet marginalize`: a motif's mean effect against its position (one panel per
output, one line per strand, a band of ± 1 standard error of the mean), and two motifs' effects
against the gap between them (both, each alone, and the interaction both - first - second)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

MAX_PANELS = 12  # outputs drawn (the TSV has them all)


def _figure(panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, panels)
    rows = -(-panels // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.0 * rows), dpi=100, squeeze=False
    )
    for axis in axes.flat[panels:]:
        axis.set_visible(False)
    return plt, figure, axes.flat


def plot_effects(path: Path, effects: pd.DataFrame, scale: str) -> None:
    """Mean effect (``EFFECT_COLUMNS`` rows) against position, per output and strand."""
    outputs = list(dict.fromkeys(effects["output"]))[:MAX_PANELS]
    plt, figure, axes = _figure(len(outputs))
    for axis, output in zip(axes, outputs):
        for strand, rows in effects[effects["output"] == output].groupby("strand", sort=False):
            error = rows["sd"].to_numpy() / np.sqrt(rows["n"].to_numpy())
            x, y = rows["position"].to_numpy(), rows["mean"].to_numpy()
            axis.plot(x, y, marker="o" if len(x) < 30 else None, label=f"strand {strand}")
            axis.fill_between(x, y - error, y + error, alpha=0.25)
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.set_title(output, fontsize=10)
        axis.set_xlabel("motif start (0-based)")
        axis.set_ylabel(f"effect on {scale.replace('_', '-')}")
        axis.legend(fontsize=8)
    figure.suptitle(f"{effects['motif'].iloc[0]} inserted into backgrounds", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def plot_spacing(path: Path, table: pd.DataFrame, scale: str) -> None:
    """Both, each alone and the interaction (``SPACING_COLUMNS`` rows) against the gap, per
    output; the first motif's + strand when both strands were measured."""
    shown = table[table["strand"] == table["strand"].iloc[0]]
    outputs = list(dict.fromkeys(shown["output"]))[:MAX_PANELS]
    plt, figure, axes = _figure(len(outputs))
    for axis, output in zip(axes, outputs):
        rows = shown[shown["output"] == output]
        for column, style in (
            ("both", "-"),
            ("first", ":"),
            ("second", "--"),
            ("interaction", "-"),
        ):
            axis.plot(rows["spacing"], rows[column], style, label=column, marker=".")
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.set_title(output, fontsize=10)
        axis.set_xlabel("gap between the motifs (bases)")
        axis.set_ylabel(f"effect on {scale.replace('_', '-')}")
        axis.legend(fontsize=8)
    first = shown.iloc[0]
    figure.suptitle(
        f"{first['motif']} ({first['strand']}) then {first['second_motif']} "
        f"({first['second_strand']})",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
