"""Predicted coverage of a signal run along a genome: what `dnanet.inference.tracks` writes for a
counts or profile run instead of one output per step.

The genome is tiled by the run's output width O (a profile run's W bases, a counts run's target
width) and each tile is predicted once, from the window of the run's input width L centred on it
(``start = tile start - (L - O) / 2``, where the model's output sits):

- profile: the predicted reads per base of the tile (expm1(log total) x probability,
  `dnanet.inference.profiles.predicted_reads`), one 1-base value each, so the track reads like
  the coverage bigWig the run was trained on;
- counts: one value per tile, the predicted reads in it (the sum over its O bases, expm1 of the
  predicted log(1 + reads)).

Tracks are read in the run's own input width and step: ``--window`` and ``--step`` are refused.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.inference.profiles import predicted_reads
from dnanet.runs.load import Run

Entries = Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]


def signal_tiling(run: Run, window: int | None, step: int | None) -> tuple[int, int]:
    """(the input width L each tile is predicted from, the output width O the genome is tiled
    by) of a signal run; a `window` or `step` other than those is refused."""
    width = run.window
    tile = run.task.width if run.task.kind == "profile" else _target_width(run)
    if window is not None and window != width:
        raise DnanetError(
            f"--window {window}: a {run.task.kind} run predicts from windows of its input width, "
            f"{width} bases; drop --window"
        )
    if step is not None and step != tile:
        raise DnanetError(
            f"--step {step}: a {run.task.kind} run's track tiles the genome by its output width, "
            f"{tile} bases, each base predicted once; drop --step"
        )
    return width, tile


def _target_width(run: Run) -> int:
    signal = run.record.get("signal") or {}
    width = signal.get("target_width") or run.window
    if not width:
        raise DnanetError(f"{run.folder}: model.json records no 'signal.target_width'")
    return int(width)


def signal_entries(task: Task, chunks: Entries) -> Entries:
    """`dnanet.inference.tracks.track_values` chunks (chrom, tile starts ``(n,)``, tile ends
    ``(n,)``, activated outputs ``(n, K)``) -> track entries (chrom, starts, ends, values float32
    ``(m, T)``, one column per track): a counts run's predicted reads per tile, a profile run's
    per base (the bases of a tile cut short by its region's end left out)."""
    tracks = len(task.names)
    for chrom, starts, ends, outputs in chunks:
        if task.kind == "counts":
            yield chrom, starts, ends, np.expm1(outputs[:, :tracks].astype(np.float64))
            continue
        reads = predicted_reads(task, outputs)  # (n, T, W)
        bases = (starts[:, None] + np.arange(task.width)).ravel()  # (n * W,)
        inside = bases < np.repeat(ends, task.width)
        values = reads.transpose(0, 2, 1).reshape(-1, tracks)  # (n * W, T)
        yield chrom, bases[inside], bases[inside] + 1, values[inside]
