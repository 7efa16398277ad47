"""What `dnanet evaluate` scores a signal run (counts or profile) against: the coverage of every
window in the run's own tracks.

The tracks are those model.json records (``signal.tracks``: name, path, SHA-256), each checked
unchanged (a missing file or another SHA-256 is a one-line error), or given anew with
``--signal NAME=track.bw`` (a name of the run's tracks; e.g. a replicate, or the same file moved).
Windows are BED intervals read from ``--genome`` at the run's input width, and their targets come
through `dnanet.data.signal` at the run's target width, without jitter (the centre, as validation
and test see them), from a store in a temporary folder removed after the evaluation.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from dnanet.data.signal import SignalSet, SignalSettings, signal_set
from dnanet.errors import DnanetError
from dnanet.inputs.coverage import Track, parse_tracks
from dnanet.inputs.digest import file_sha256
from dnanet.inputs.genome import open_genome
from dnanet.progress import Reporter
from dnanet.runs.load import Run


def check_signal_options(
    run: Run, inputs: list, genome: Path | None, window: int | None, signal: Sequence[str]
) -> None:
    """Refuse what a signal run cannot be scored with (before any reading), or `signal` tracks
    for a run that has none."""
    if not run.task.is_signal:
        if signal:
            raise DnanetError(
                f"--signal gives a signal run's coverage tracks; {run.folder} is a "
                f"{run.task.kind} run, scored against its inputs' labels"
            )
        return
    if not inputs or genome is None:
        raise DnanetError(
            f"{run.folder} is a {run.task.kind} run: give the BED intervals to score and --genome "
            "(their targets are the coverage of the run's tracks)"
        )
    if window is not None and window != run.window:
        raise DnanetError(
            f"--window {window}: a {run.task.kind} run is scored on windows of its input width, "
            f"{run.window} bases; drop --window"
        )


def run_tracks(run: Run, given: Sequence[str] = ()) -> tuple[Track, ...]:
    """The run's tracks in its task's order: those of `given` (``NAME=PATH``, `--signal`) by
    name, the others where model.json recorded them, checked unchanged by SHA-256."""
    new = {track.name: track for track in parse_tracks(list(given), "--signal")}
    unknown = [name for name in new if name not in run.task.names]
    if unknown:
        raise DnanetError(
            f"--signal {unknown[0]}: {run.folder} has no track '{unknown[0]}'; its tracks: "
            f"{', '.join(run.task.names)} (give NAME=PATH)"
        )
    recorded = {entry.get("name"): entry for entry in _recorded(run)}
    return tuple(
        new[name] if name in new else _checked_track(run, name, recorded.get(name))
        for name in run.task.names
    )


def _recorded(run: Run) -> list[dict]:
    tracks = (run.record.get("signal") or {}).get("tracks")
    if not isinstance(tracks, list) or not all(isinstance(entry, dict) for entry in tracks):
        raise DnanetError(
            f"{run.folder}: model.json records no 'signal.tracks'; give each track with "
            "--signal NAME=PATH"
        )
    return tracks


def _checked_track(run: Run, name: str, entry: dict | None) -> Track:
    """The recorded track `name`, refused when missing or changed since training."""
    if entry is None or not isinstance(entry.get("path"), str):
        raise DnanetError(
            f"{run.folder}: model.json records no path of the track '{name}'; give it with "
            f"--signal {name}=PATH"
        )
    path = Path(entry["path"])
    if not path.is_file():
        raise DnanetError(
            f"{path}: the track '{name}' {run.folder} was trained on is missing; give it with "
            f"--signal {name}=PATH"
        )
    if file_sha256(path) != entry.get("sha256"):
        raise DnanetError(
            f"{path}: the track '{name}' changed since {run.folder} was trained on it (SHA-256 "
            f"differs); restore it, or score against this file with --signal {name}={path}"
        )
    return Track(name, path)


def _controls(run: Run) -> tuple[Track, ...]:
    """The run's control tracks (model inputs), each checked like a track: the model is scored
    with its control, as training scored it."""
    recorded = {
        entry.get("name"): entry for entry in (run.record.get("signal") or {}).get("controls", [])
    }
    return tuple(_checked_track(run, name, recorded.get(name)) for name in run.task.controls)


def target_width(run: Run) -> int:
    """The bases the run's targets cover: a profile's output width, a counts run's target
    width (model.json ``signal.target_width``; the input width when not recorded)."""
    if run.task.kind == "profile":
        return run.task.width
    return int((run.record.get("signal") or {}).get("target_width") or run.window)


@contextmanager
def signal_windows(
    run: Run, records, genome: Path, given: Sequence[str], reporter: Reporter
) -> Iterator[SignalSet]:
    """For the block: the `records` (read from `genome` at the run's input width) as a
    `dnanet.data.signal.SignalSet` whose targets are the coverage of the run's tracks
    (`run_tracks`), from a store in a temporary folder removed at the end."""
    settings = SignalSettings(
        run_tracks(run, given),
        run.task.kind,
        controls=_controls(run),
        target_width=target_width(run),
        jitter=0,
    )
    with tempfile.TemporaryDirectory(prefix="dnanet-evaluate-") as store:
        yield signal_set(records, settings, open_genome(genome), run.window, Path(store), reporter)


def all_targets(sequences) -> np.ndarray:
    """The targets of every record as one array ``(N, K)`` (a `SignalSet`'s are read from its
    store)."""
    return np.asarray(sequences.targets[np.arange(len(sequences))])
