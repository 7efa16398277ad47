"""Attribution logos (`dnanet attribute --plot`): each record's bases drawn with heights equal to
their attribution (logomaker, offline PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_PLOTTED_BASES = 1000  # a logo of more letters is unreadable (and slow to draw)


def contributions(attributions: np.ndarray, one_hot: np.ndarray) -> np.ndarray:
    """Hypothetical attributions ``(K, 4, L)`` times the one-hot sequences ``(K, 4, L)``: the
    value of the base each record has, the others zero (what the logo draws), ``(K, 4, L)``."""
    return attributions * one_hot


def draw_logo(
    axis, contribution: np.ndarray, start: int, end: int, title: str = "", labels=None
) -> None:
    """One logo on a matplotlib `axis`: contributions ``(4, L)`` (A C G T rows, already times the
    one-hot sequence) over positions [start, end), letters scaled by value (below the axis: lower
    the output); `labels` (default: the positions) index the x axis."""
    import logomaker
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    index = np.arange(start, end) if labels is None else np.asarray(labels)
    frame = pd.DataFrame(contribution[:, start:end].T, columns=list("ACGT"), index=index)
    logomaker.Logo(frame, ax=axis, color_scheme="classic")
    limit = float(np.abs(contribution[:, start:end]).sum(0).max(initial=0.0)) or 1.0
    axis.set_ylim(-limit * 1.05, limit * 1.05)
    axis.axhline(0, color="0.6", lw=0.5)
    axis.set_ylabel("attribution", fontsize=8)
    axis.set_title(title, fontsize=9, loc="left")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole positions only


def plot_attribution_logos(
    path: Path,
    attributions: np.ndarray,
    one_hot: np.ndarray,
    ids: list[str],
    spans: list[tuple[int, int]],
    title: str,
) -> None:
    """One logo per record (rows), bases scaled by their attribution (letters below the axis
    lower the output), over positions [start, end) of each record (`spans`); arrays
    ``(K, 4, L)``, `ids` ``K`` names. Saved as a PNG to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = contributions(attributions, one_hot)
    width = max(end - start for start, end in spans)
    figure, axes = plt.subplots(
        len(ids),
        1,
        figsize=(min(40.0, max(6.0, 0.12 * width)), 1.7 * len(ids) + 0.4),
        squeeze=False,
        dpi=100,
    )
    for axis, row, identifier, (start, end) in zip(axes[:, 0], values, ids, spans):
        draw_logo(axis, row, start, end, identifier)
    axes[-1, 0].set_xlabel("position (0-based)")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
