"""The figure of a profile run's report that has no counterpart in other tasks
(`dnanet.report.figures.signal_figures`): observed and predicted reads per base of a few example
windows, one panel per window and coverage track, drawn offline to PNG with matplotlib (Agg).
Which windows are shown is chosen here too (`example_windows`), so the figure and its choice
stay together."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.report.plots import colours, pyplot, save_figure

MOST_READS = 4  # example windows with the most observed reads: where the model must get peaks right
TYPICAL = 2  # and windows near the median: what most of the genome looks like
MAX_PROFILE_TRACKS = 8  # columns drawn at most; a wider figure is unreadable


def example_windows(
    reads: np.ndarray, most: int = MOST_READS, typical: int = TYPICAL
) -> list[tuple[int, str]]:
    """The windows to draw from observed reads per window `reads` ``(N,)`` (summed over tracks
    and bases): the `most` with the most reads, highest first, then `typical` others nearest the
    median. Returns (row index, why it was chosen) pairs; fewer when there are fewer windows."""
    order = np.argsort(-reads, kind="stable")
    chosen = [(int(row), f"most reads #{rank + 1}") for rank, row in enumerate(order[:most])]
    median = float(np.median(reads)) if len(reads) else 0.0
    rest = order[most:]
    nearest = rest[np.argsort(np.abs(reads[rest] - median), kind="stable")[:typical]]
    chosen += [(int(row), "near the median") for row in nearest]
    return chosen


def plot_profile_examples(
    observed: np.ndarray,
    predicted: np.ndarray,
    names: list[str],
    labels: list[str],
    path: Path,
    title: str,
) -> None:
    """Reads per base of K example windows: `observed` and `predicted` ``(K, T, W)`` (predicted:
    expm1(predicted log total) x predicted probability), one row per window (`labels` ``K``, its
    panel titles) and one column per track (`names` ``T``; the first `MAX_PROFILE_TRACKS`).
    Observed reads are a grey filled step, predicted a coloured line, against the base's offset
    from the window's centre; the panel title gives both totals."""
    plt = pyplot()
    tracks = min(len(names), MAX_PROFILE_TRACKS)
    rows = max(len(labels), 1)
    figure, panels = plt.subplots(
        rows, tracks, figsize=(max(4.6 * tracks, 6.4), 2.3 * rows), squeeze=False, sharex=True
    )
    width = observed.shape[-1]
    offsets = np.arange(width) - width // 2
    track_colours = colours(tracks)
    for row, label in enumerate(labels):
        for track in range(tracks):
            axes = panels[row, track]
            seen, guess = observed[row, track], predicted[row, track]
            axes.fill_between(
                offsets, seen, step="mid", color="lightgrey", linewidth=0, label="observed"
            )
            axes.plot(offsets, guess, color=track_colours[track], linewidth=1.2, label="predicted")
            axes.set_ylim(bottom=0)
            axes.set_title(
                f"{label}, {names[track]}: {seen.sum():,.0f} observed, "
                f"{guess.sum():,.0f} predicted",
                fontsize="small",
            )
            if track == 0:
                axes.set_ylabel("reads per base")
    for axes in panels[-1]:
        axes.set_xlabel("base from the window centre")
    if len(labels):
        panels[0, 0].legend(fontsize="x-small", loc="upper left")
    figure.suptitle(title, fontsize="medium")
    save_figure(figure, path)
