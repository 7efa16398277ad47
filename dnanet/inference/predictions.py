"""A run's predictions as a table: the TSV `dnanet predict` writes, and the same rows as a pandas
DataFrame for a notebook.

The TSV (`write_prediction_table`) is written atomically to a file (`dnanet.files.outputs`), or to
standard output (``-``), where the header row is held back until the first record's row, so an
input that fails before its first record leaves nothing there. `--shard K/N` writes one
contiguous block of the records (shard 1 alone with the header); under torchrun each process
writes its block and rank 0 puts the blocks together (`dnanet.runtime.distributed`). Rows are
written by `dnanet.inference.predict.write_predictions`; `predictions_frame` reads that very text
back, so the notebook's table is the command's, cell for cell.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, TextIO

import pandas as pd

from dnanet.data.streaming import count_records
from dnanet.errors import DnanetError
from dnanet.files.outputs import check_output_kind
from dnanet.inference import predict
from dnanet.inference.calibrated_outputs import calibration_notes, prediction_columns
from dnanet.inference.calibration import check_alpha
from dnanet.inference.jobs import (
    RunOrFolder,
    claimed_by,
    loaded_run,
    note_not_learned,
    notes_since,
    work_device,
)
from dnanet.inference.lengths import LengthWatch
from dnanet.inference.profiles import check_profile_run, check_profiles_path, profile_file
from dnanet.inputs.sources import (
    GenomeSettings,
    LabelledInput,
    check_settings_used,
    input_notes,
    parse_inputs,
    resolve_inputs,
)
from dnanet.progress import Reporter
from dnanet.runs.load import Run
from dnanet.runtime import distributed
from dnanet.runtime.shards import Shard

STANDARD_OUTPUT = "-"
TEXT_COLUMNS = (
    "id",
    "name",
    "predicted",
)  # read back as text: ids like "1" or "NA" stay as written


@dataclass(frozen=True)
class PredictionOutcome:
    """What `write_prediction_table` wrote: `count` rows (of every process under torchrun) to `out`
    (``-``: standard output), for `shard` (None: all records) by `processes` processes, and the
    notes it told its reporter (skipped intervals, repeated ids, the model did not learn)."""

    out: str
    count: int
    shard: Shard | None
    processes: int
    notes: list[str]
    profiles: str | None = None  # the .npz of a profile run's per-base reads (--profiles)

    def summary(self) -> str | None:
        """The closing line of `dnanet predict` (None when the table went to standard output and
        no profiles were written)."""
        profiles = f"; per-base reads in {self.profiles}" if self.profiles else ""
        if self.out == STANDARD_OUTPUT:
            return (
                f"per-base reads of {self.count} records in {self.profiles}" if profiles else None
            )
        if self.processes > 1:
            return f"{self.count} predictions written to {self.out} by {self.processes} processes"
        where = f"shard {self.shard}: " if self.shard is not None else ""
        return f"{where}{self.count} predictions written to {self.out}{profiles}"


def predictions_frame(
    run: Run,
    items: list,
    *,
    batch_size: int = 256,
    reporter: Reporter | None = None,
    conformal: float | None = None,
    calibrated: bool = False,
) -> pd.DataFrame:
    """The rows and columns `dnanet predict` writes for `items` (resolved inputs,
    `dnanet.inputs.sources.resolve_inputs`), one row per record in input order: id, then
    predicted and prob_<class>... (classification) or pred_<target>... (regression). Written by
    the command's own writer and read back (`read_prediction_table`), so numbers are the printed
    ones (probabilities with every float32 digit, values to 6 significant digits). `reporter`
    hears the progress and the inputs' notes. `conformal`, `calibrated`: as
    `write_prediction_table`'s."""
    reporter = reporter if reporter is not None else Reporter()
    text = io.StringIO()
    columns = prediction_columns(run, conformal, calibrated)
    for note in calibration_notes(columns):
        reporter.note(note, "warning")
    watch = LengthWatch.for_run(run)
    observe = watch.batch_observer(items) if watch is not None else None
    with reporter.counter("predicting") as progress:
        _write_rows(
            run, items, batch_size, None, True, text, progress, columns=columns, observe=observe
        )
    for note in input_notes(items):
        reporter.note(note)
    if watch is not None and watch.note():
        reporter.note(watch.note(), "warning")
    return read_prediction_table(text.getvalue())


def read_prediction_table(text: str) -> pd.DataFrame:
    """A predictions TSV's text as a DataFrame: id and predicted as text (an id "1" or "NA", a
    multilabel prediction of no label "", stay as written; so do conformal sets, ``set`` and
    ``set_<label>``), the other columns float64."""
    header = text.partition("\n")[0].split("\t")
    return pd.read_csv(
        io.StringIO(text),
        sep="\t",
        dtype={column: str if _is_text(column) else "float64" for column in header},
        keep_default_na=False,
    )


def _is_text(column: str) -> bool:
    return column in TEXT_COLUMNS or column == "set" or column.startswith("set_")


def write_prediction_table(
    run: RunOrFolder,
    inputs: list,
    out: Path | str,
    *,
    default: Callable[[], list] | None = None,
    overwrite: bool = False,
    genome: Path | None = None,
    window: int | None = None,
    batch_size: int = 256,
    shard: Shard | None = None,
    device: str = "auto",
    threads: int | None = None,
    reporter: Reporter | None = None,
    profiles: Path | None = None,
    conformal: float | None = None,
    calibrated: bool = False,
    strict_lengths: bool = False,
) -> PredictionOutcome:
    """`dnanet predict RUN INPUTS --out OUT`: one row per record of `inputs` (FASTA paths, BED
    paths read from `genome` at `window` (default: the run's training window), or `LabelledInput`s
    with their sources; none: `default()`'s (class, path) pairs, the reporter told so) into `out`
    (``-``: standard output). `shard`: only that block of the records; under torchrun the processes
    split them. `run`: a run folder (loaded after `out` is claimed, on `device` with `threads`) or
    a loaded `Run`. Every process calls this; rank 0 alone tells `reporter`. `profiles`: an .npz
    of a profile run's predicted reads per base (`dnanet.inference.profiles`), beside the table,
    by one process. `conformal` ALPHA: conformal prediction sets or intervals at that level and
    `calibrated`: temperature-scaled probabilities, both from the run folder's calibration.json
    (`dnanet.inference.calibrated_outputs.CalibratedColumns`; --conformal implies --calibrated).
    Records shorter or longer than every training record get one warning at the end, or with
    `strict_lengths` the first is refused (`dnanet.inference.lengths`)."""
    reporter = reporter if reporter is not None else Reporter()
    if conformal is not None:
        check_alpha(conformal)
    if str(out) != STANDARD_OUTPUT:
        check_output_kind(Path(out), folder=False)
    if profiles is not None:
        check_profiles_path(Path(profiles))
    processes, torch_device = distributed.start(work_device(run, device, threads))
    speaker = reporter if processes.is_main else Reporter()  # rank 0 speaks for all
    start = len(speaker.notes)
    try:
        with (
            claimed_by(
                processes.is_main and str(out) != STANDARD_OUTPUT, out, overwrite, speaker
            ) as output,
            claimed_by(
                processes.is_main and profiles is not None, profiles, overwrite, speaker
            ) as profile_output,
        ):
            loaded = loaded_run(run, torch_device)
            columns = prediction_columns(loaded, conformal, calibrated)
            note_not_learned(loaded, speaker)
            for note in calibration_notes(columns):
                speaker.note(note, "warning")
            if profiles is not None:
                _check_profiles(loaded, processes)
            items = _prediction_inputs(inputs, default, genome, window, loaded, speaker)
            part = shard or processes.shard
            total = sum(count_records(items)) if part.count > 1 or profiles is not None else 0
            records = part.records(total) if part.count > 1 else None
            size = len(records) if records is not None else total
            watch = LengthWatch.for_run(loaded, strict_lengths)
            with profile_file(profile_output, loaded, size) as observe:
                if watch is not None:
                    observe = watch.batch_observer(items, observe)
                write = partial(
                    _write_rows,
                    loaded,
                    items,
                    batch_size,
                    records,
                    part.first,
                    observe=observe,
                    columns=columns,
                )
                count = _write_table(write, out, output, processes, speaker)
    finally:
        distributed.stop()
    for note in input_notes(items):
        speaker.note(note)
    if watch is not None and watch.note():
        speaker.note(watch.note(), "warning")
    return PredictionOutcome(
        str(out),
        count,
        shard,
        processes.world_size,
        notes_since(speaker, start),
        str(profiles) if profiles is not None else None,
    )


def _check_profiles(run: Run, processes) -> None:
    """--profiles: a profile run, predicted by one process."""
    check_profile_run(run)
    if processes.world_size > 1:
        raise DnanetError("--profiles is written by one process: drop torchrun (--shard works)")


def _prediction_inputs(
    inputs: list, default, genome: Path | None, window: int | None, run: Run, reporter: Reporter
) -> list[LabelledInput]:
    """The inputs, resolved (each with its source) and without classes: predict reads no labels."""
    if not inputs:
        inputs = [item.path for item in parse_inputs([], default, reporter)]
    items = [
        item if isinstance(item, LabelledInput) else LabelledInput(None, Path(item))
        for item in inputs
    ]
    settings = GenomeSettings(genome, window, trained_window=run.input_width)
    items = resolve_inputs(items, settings)
    check_settings_used(items, settings)
    return items


def _write_rows(
    run: Run,
    items: list,
    batch_size: int,
    records: range | None,
    header: bool,
    handle: TextIO,
    progress: Callable[[int], None] | None = None,
    *,
    observe=None,
    columns=None,
) -> int:
    """The rows of `records` (None: all) into `handle`, through
    `dnanet.inference.predict.write_predictions` (looked up when called; `observe`: its hook on
    each batch's outputs; `columns`: the run's task, or its calibrated columns,
    `prediction_columns`); returns their number. BED inputs add a ``name`` column (each
    interval's name)."""
    return predict.write_predictions(
        handle,
        run.model,
        columns if columns is not None else run.task,
        items,
        batch_size,
        run.reverse_complement_average,
        progress,
        records=records,
        header=header,
        observe=observe,
        names=any(item.source.kind == "intervals" for item in items),
    )


def _write_table(write, out, output, processes, reporter: Reporter) -> int:
    """The table through ``write(handle, progress)``: in parts under torchrun, to standard output,
    or atomically into the claimed `output`; returns the rows written (all processes')."""
    if processes.distributed:
        return _write_in_parts(write, out, output, processes, reporter)
    if str(out) == STANDARD_OUTPUT:
        held = _HeaderWithFirstRow(sys.stdout)
        count = write(held)
        held.finish()
        return count
    with (
        output.writing() as temporary,
        open(temporary, "w", newline="") as handle,
        reporter.counter("predicting") as progress,
    ):
        return write(handle, progress)


def _write_in_parts(write, out, output, processes, reporter: Reporter) -> int:
    """Under torchrun: every process writes its block (`dnanet.runtime.distributed.
    write_tsv_in_parts`); rank 0 puts them into `output`, or onto standard output."""

    def rows(handle: TextIO) -> dict[str, int]:
        what = f"predicting (process 0 of {processes.world_size})"
        with reporter.counter(what) as progress:
            return {"records": write(handle, progress)}

    to_stdout = str(out) == STANDARD_OUTPUT
    near = Path("predictions.tsv") if to_stdout else Path(out)
    target = _standard_output if to_stdout else partial(_binary_temporary, output)
    return distributed.write_tsv_in_parts(near, processes, rows, target)["records"]


@contextlib.contextmanager
def _standard_output() -> Iterator:
    sys.stdout.flush()
    yield sys.stdout.buffer
    sys.stdout.buffer.flush()


@contextlib.contextmanager
def _binary_temporary(output) -> Iterator:
    """The claimed output's temporary, open for bytes; renamed into place when the block ends."""
    with output.writing() as temporary, open(temporary, "wb") as handle:
        yield handle


class _HeaderWithFirstRow:
    """Standard output for `predict --out -` that holds the header row until the first record's row
    is written, so an input that fails before its first record (missing, unreadable, not FASTA)
    leaves nothing on standard output but the error on stderr; `finish` writes a header held alone
    (no records). Rows are streamed: an error further in comes after the rows before it."""

    def __init__(self, stream: TextIO):
        self.stream, self.held = stream, None

    def write(self, text: str) -> None:
        if self.held is None:
            self.held = text
            return
        if self.held:
            text, self.held = self.held + text, ""
        self.stream.write(text)

    def finish(self) -> None:
        if self.held:
            self.stream.write(self.held)
            self.held = ""
