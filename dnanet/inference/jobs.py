"""What every workflow that runs a trained model shares (predictions, tracks, evaluation, variant
effects): the run it is given, either a run folder (loaded here, on the device chosen for the
work, at the point the command line has always loaded it: after the outputs are claimed) or a
`dnanet.runs.load.Run` a notebook loaded already; the warning that its model did not learn; and
the notes one call told its `dnanet.progress.Reporter`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch

from dnanet.errors import DnanetError
from dnanet.files.outputs import Output, claimed
from dnanet.progress import Reporter
from dnanet.runs.load import Run, load_run, not_learned
from dnanet.runtime.device import prepare_device

RunOrFolder = Run | Path | str


def work_device(run: RunOrFolder, device: str = "auto", threads: int | None = None) -> torch.device:
    """The device the work runs on: for a run folder, `device` prepared
    (`dnanet.runtime.device.prepare_device`: threads, allocator; ``--device`` errors); for a
    loaded `Run`, the device its model is on (`device` and `threads` are not used)."""
    if isinstance(run, Run):
        return next(run.model.parameters()).device
    return prepare_device(threads, device)


def run_folder(run: RunOrFolder) -> Path:
    """The run's folder, as the user named it (for messages and reports)."""
    return run.folder if isinstance(run, Run) else Path(run)


def loaded_run(run: RunOrFolder, device: torch.device) -> Run:
    """The `Run`: a loaded one as it is, a folder loaded onto `device`
    (`dnanet.runs.load.load_run`)."""
    return run if isinstance(run, Run) else load_run(run, device)


def window_width(run: Run, window: int | None) -> int:
    """The bases the model reads at each place: `window` (``--window``), else the window the run
    was trained with, or the one length of all its training records (`Run.input_width`); a run
    trained on records of several lengths has none, and then `window` is needed. A profile run's
    window must hold its profile's output bases."""
    width = window or run.input_width
    if width is None:
        lengths = run.training_lengths
        saw = (
            f"records of {lengths[0]:,} to {lengths[1]:,} bases"
            if lengths is not None
            else "records whose lengths this older run did not record"
        )
        raise DnanetError(
            f"{run.folder}: it was trained on {saw}, not on windows of one width; give "
            "--window N, the length the model should read"
        )
    if run.task.kind == "profile" and width < run.task.width:
        raise DnanetError(
            f"--window {width}: {run.folder} predicts a {run.task.width}-base profile, so it "
            f"reads at least {run.task.width} bases; give --window {run.task.width} or more"
        )
    return width


def note_not_learned(loaded: Run, reporter: Reporter) -> None:
    """Tell `reporter` the warning 'RUN: the model did not learn: ...' when the run's model.json
    says so (`dnanet.runs.load.not_learned`)."""
    warning = not_learned(loaded.record, str(loaded.folder))
    if warning:
        reporter.note(warning, "warning")


def notes_since(reporter: Reporter, start: int) -> list[str]:
    """The texts of the notes `reporter` was told after its first `start` (``len(reporter.notes)``
    when the call began): the notes of one call, for its result."""
    return [text for _, text in reporter.notes[start:]]


@contextlib.contextmanager
def claimed_by(
    writer: bool, out: Path, overwrite: bool, reporter: Reporter
) -> Iterator[Output | None]:
    """`out` claimed for the block (`dnanet.files.outputs.claimed`: refused at once if it exists
    without `overwrite`, or another process writes it) by the process that writes it (`writer`:
    rank 0, writing a file); None for the others (torchrun's other ranks, standard output)."""
    if not writer:
        yield None
        return
    with claimed(Path(out), overwrite, reporter=reporter) as output:
        yield output
