"""`dnanet attribute` as library calls: per-base attributions of a run's output for every record
of some inputs, in memory (`attribute_arrays`) or written as the two .npz files TF-MoDISco reads
(`attribute_to_file`; layout: `dnanet.interpret.attribution_files`), with attribution logos.

Both fill the arrays through one path (`dnanet.interpret.attribution_job.AttributionJob.fill`,
`dnanet.interpret.attribution_files.attribute_records`), so a notebook gets the arrays the command
writes: records shorter than the longest, L, are padded with zero columns, and with a `region`
only its columns are attributed (the others are 0).

`attribute_to_file` claims its outputs before the long work (`dnanet.files.outputs.claimed`);
under torchrun (`processes` of `dnanet.runtime.distributed.start`) every process fills its block
of the records and rank 0 packs the blocks into the one file. Rank 0 alone tells the reporter.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.examples import heldout_inputs
from dnanet.files.outputs import claimed
from dnanet.inputs.sources import (
    GenomeSettings,
    LabelledInput,
    check_settings_used,
    input_notes,
    parse_inputs,
    resolve_inputs,
)
from dnanet.interpret import attribution
from dnanet.interpret.attribution_files import (
    ATTRIBUTIONS_KEY,
    Layout,
    check_disk,
    check_profile_width,
    check_region,
    read_layout,
    sequences_path,
)
from dnanet.interpret.attribution_job import AttributionJob
from dnanet.interpret.attribution_plots import MAX_PLOTTED_BASES
from dnanet.interpret.deeplift import REFERENCE_METHODS
from dnanet.progress import Reporter
from dnanet.runs.load import Run, load_run, not_learned
from dnanet.runtime.distributed import Processes, launched_processes
from dnanet.runtime.shards import Shard

PLOTTED_RECORDS = 3  # records drawn by default
NOT_MEANINGFUL = "; its attributions are not meaningful"  # after a not-learned warning


@dataclass(frozen=True)
class RecordAttributions:
    """`attribute_arrays`' result, the arrays of the files `dnanet attribute` writes
    (`dnanet.interpret.attribution_files`), records in input order, each padded with zero
    columns to the longest, L:

    - `ids` (N), `lengths` int64 ``(N,)``;
    - `attributions` float32 ``(N, 4, L)`` (hypothetical, centred over A C G T; the file's
      ``arr_0``), `sequences` the one-hot records float32 ``(N, 4, L)`` (``NAME.ohe.npz``);
    - `reference`: the explained output of each unchanged record float32 ``(N,)``; `deltas`:
      ISM's output(mutant) - output(record) ``(N, 4, L)`` (None for other methods);
    - `baseline`, `summation_error` (deepliftshap, integrated_gradients; None for the others):
      the mean output of each record's shuffled references ``(N,)``, and the summation check's
      error ``(N,)``: its contributions' sum minus (reference - baseline);
    - `method`, `target` (the output's name: a class, label, regression target or track),
      `output` (what is explained, `dnanet.interpret.attribution.OUTPUT_NAMES`: ``log_odds``,
      ``value``, ``log_counts`` or ``profile``), `strands` (2: both strands averaged), `region`
      (the ``[start, end)`` attributed);
    - `notes`: what was told to the reporter (the not-learned warning, skipped intervals)."""

    ids: list[str]
    lengths: np.ndarray
    attributions: np.ndarray
    sequences: np.ndarray
    reference: np.ndarray
    deltas: Optional[np.ndarray]
    method: str
    target: str
    output: str
    strands: int
    region: tuple[int, int]
    notes: list[str]
    baseline: Optional[np.ndarray] = None
    summation_error: Optional[np.ndarray] = None


@dataclass(frozen=True)
class AttributionFile:
    """What `attribute_to_file` wrote: `records` records' attributions in `out` and their one-hot
    sequences in `sequences_out`, the logos in `logos` (None: none drawn), by `processes`
    processes; the method, target and output as in `RecordAttributions`."""

    out: Path
    sequences_out: Path
    records: int
    method: str
    target: str
    output: str
    strands: int
    logos: Optional[Path]
    processes: int
    notes: list[str]

    def summary_line(self, shard: Optional[Shard] = None) -> str:
        """The line `dnanet attribute` closes with: what was attributed toward what, and where
        it was written (`shard`: the --shard this file holds)."""
        where = f"shard {shard}: " if shard is not None else ""
        by = f" by {self.processes} processes" if self.processes > 1 else ""
        strands = ", both strands averaged" if self.strands == 2 else ""
        return (
            f"{where}{self.records:,} records: {self.method} attributions toward {self.target} "
            f"({self.output.replace('_', '-')}{strands}) written to {self.out}{by}, one-hot "
            f"sequences to {self.sequences_out}"
            + (f"; logos in {self.logos}" if self.logos else "")
        )


@dataclass(frozen=True)
class _Setting:
    """What the arrays are made of: the resolved inputs, their `Layout` (read once, every record
    checked), the objective and its names, and the notes of the full reading."""

    items: list
    layout: Layout
    objective: attribution.Objective
    target: str
    output: str
    strands: int
    notes: list[str]


def check_attribute_request(
    out: Path, plot: Optional[Path], records, region
) -> Optional[tuple[int, int]]:
    """Refuse at once what needs no model: an --out that is no .npz, a --plot that is no .png,
    --records without --plot, --plot under torchrun, a bad --region; return the region's span."""
    if out.suffix.lower() != ".npz":
        raise DnanetError(f"{out}: --out writes NumPy .npz files; name it NAME.npz")
    if plot is not None and plot.suffix.lower() != ".png":
        raise DnanetError(f"{plot}: --plot writes a PNG; name it .png")
    if records is not None and plot is None:
        raise DnanetError("--records chooses the records --plot draws; give --plot too")
    if plot is not None and launched_processes() > 1:
        raise DnanetError(
            "--plot is drawn by one process: run it without torchrun (or with --shard K/N)"
        )
    return parse_region(region)


def parse_region(region) -> Optional[tuple[int, int]]:
    """``"START:END"`` or ``(start, end)`` -> (start, end), 0-based half-open, 0 <= start < end;
    None stays None."""
    if region is None:
        return None
    text = region if isinstance(region, str) else ":".join(str(value) for value in region)
    match = re.fullmatch(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*", text)
    if not match or int(match[1]) >= int(match[2]):
        raise DnanetError(
            f"--region '{text}': expected START:END with 0 <= START < END (0-based, END excluded), "
            "e.g. 40:60"
        )
    return int(match[1]), int(match[2])


def attribute_arrays(
    run: Run,
    items: list,
    *,
    method: str = "saliency",
    target: Optional[str] = None,
    profile: bool = False,
    region=None,
    batch_size: int = 128,
    references: int = 20,
    seed: int = 0,
    settings: Optional[GenomeSettings] = None,
    reporter: Optional[Reporter] = None,
) -> RecordAttributions:
    """Attributions of every record of `items` toward output `target` of `run` (default: a binary
    run's positive class, or a single regression target or track), as `dnanet attribute` writes
    them (`RecordAttributions`; `method`: one of `dnanet.interpret.attribution.METHODS`; a signal
    run's output is the track's predicted log counts, or with `profile` its predicted profile
    (`dnanet.interpret.attribution.profile_output`); `region`: ``"START:END"`` or a pair, only
    those columns attributed; `references`, `seed`: the dinucleotide-shuffled references of
    deepliftshap and integrated_gradients, whose summation check goes to `reporter`). `items`:
    resolved inputs (`LabelledInput`s with a source) or FASTA paths (none: the bundled held-out
    example); `settings` reads BED inputs.
    Memory holds the arrays, about 4 x 4 x N x L x (2, 3 for ISM) bytes."""
    reporter = reporter or Reporter()
    first_note = len(reporter.notes)
    span = parse_region(region)
    setting = _prepared(run, items, method, (target, profile), span, settings, reporter)
    layout = setting.layout
    rows = range(len(layout.ids))
    job = _job(run, setting, method, span, batch_size, rows, reporter, (references, seed))
    arrays = job.fill(None, reporter)
    for note in setting.notes:
        reporter.note(note)
    return RecordAttributions(
        list(layout.ids),
        layout.lengths,
        arrays.arrays[ATTRIBUTIONS_KEY],
        arrays.arrays["sequences"],
        arrays.reference,
        arrays.arrays.get("deltas"),
        method,
        setting.target,
        setting.output,
        setting.strands,
        span or (0, layout.longest),
        reporter.texts()[first_note:],
        arrays.scalars.get("baseline"),
        arrays.scalars.get("summation_error"),
    )


def attribute_to_file(
    run: Run | Path | str,
    inputs: list,
    out: Path,
    *,
    method: str = "saliency",
    target: Optional[str] = None,
    profile: bool = False,
    region=None,
    plot: Optional[Path] = None,
    records=None,
    batch_size: int = 128,
    references: int = 20,
    seed: int = 0,
    shard: Optional[Shard] = None,
    settings: Optional[GenomeSettings] = None,
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    processes: Optional[Processes] = None,
    reporter: Optional[Reporter] = None,
) -> AttributionFile:
    """`dnanet attribute`: the arrays of `attribute_arrays` written to `out` (NAME.npz) and
    NAME.ohe.npz, each atomically, and with `plot` a PNG of attribution logos of `records` (ids,
    as a list or "ID,ID"; default: the first few). `run`: a loaded `Run`, or a run folder loaded on
    `device` once the outputs are claimed. `shard`: only that block of the records, padded to the
    longest of all. Under torchrun (`processes`) the processes split the records and rank 0 writes
    the one file. `target` and `profile` choose the output as for `attribute_arrays`."""
    out, plot = Path(out), Path(plot) if plot is not None else None
    processes = processes or Processes()
    reporter = (reporter or Reporter()) if processes.is_main else Reporter()  # rank 0 speaks
    first_note = len(reporter.notes)
    span = check_attribute_request(out, plot, records, region)
    with ExitStack() as claims:
        claimed_outputs = {
            path: claims.enter_context(claimed(path, overwrite, reporter=reporter))
            for path in (out, sequences_path(out), plot)
            if path is not None and processes.is_main
        }  # refused at once if it exists (without overwrite) or another process writes it
        loaded = run if isinstance(run, Run) else load_run(run, device)
        setting = _prepared(loaded, inputs, method, (target, profile), span, settings, reporter)
        layout = setting.layout
        rows = (shard or processes.shard).records(len(layout.ids))
        drawn = plotted_records(records, layout, span, rows) if plot is not None else []
        check_disk(out, len(rows), layout.longest, method == "ism")
        job = _job(loaded, setting, method, span, batch_size, rows, reporter, (references, seed))
        written = range(len(layout.ids)) if processes.distributed else rows  # the file's records
        metadata = _metadata(setting, written, method, span)
        if method in REFERENCE_METHODS:
            metadata.update(references=np.array(references), seed=np.array(seed))
        if processes.distributed:
            job.in_parts(claimed_outputs, out, processes, metadata)
        else:
            output = setting.output.replace("_", " ")
            title = f"{loaded.folder.name}: {method} toward {setting.target} ({output})"
            job.write(claimed_outputs, out, metadata, plot, drawn, title)
    for note in setting.notes:
        reporter.note(note)
    return AttributionFile(
        out,
        sequences_path(out),
        len(written),
        method,
        setting.target,
        setting.output,
        setting.strands,
        plot if drawn else None,
        processes.world_size,
        reporter.texts()[first_note:],
    )


def _prepared(
    run: Run,
    inputs: list,
    method: str,
    output: tuple[Optional[str], bool],
    span: Optional[tuple[int, int]],
    settings: Optional[GenomeSettings],
    reporter: Reporter,
) -> _Setting:
    """Check the method and the output (`output`: the target's name or None, and whether the
    profile is explained) against the run, warn if it did not learn, resolve the inputs and read
    their layout (every record checked, the region against the shortest)."""
    task: Task = run.task
    target, profile = output
    attribution.check_method(run.model, method)
    target_index = attribution.resolve_target(task, target)
    objective = attribution.explained_output(task, target_index, profile)
    warning = not_learned(run.record, str(run.folder))
    if warning:
        reporter.note(warning + NOT_MEANINGFUL, "warning")
    items = _attribution_inputs(inputs, settings, run, reporter)
    layout = read_layout(items)
    notes = input_notes(items)  # of the full reading (a shard's stops at its last record)
    check_region(layout, span)
    check_profile_width(layout, task.width if task.kind == "profile" else 0)
    return _Setting(
        items,
        layout,
        objective,
        task.names[target_index],
        attribution.output_name(task, profile),
        2 if run.reverse_complement_average else 1,
        notes,
    )


def _attribution_inputs(
    inputs: list, settings: Optional[GenomeSettings], run: Run, reporter: Reporter
) -> list:
    """FASTA (or BED) paths or `LabelledInput`s, each its own input without a class (none: the
    bundled held-out files, which `reporter` is told of) -> resolved inputs; BED intervals are
    read at the run's training window unless `settings` names one."""
    if not inputs:
        inputs = [item.path for item in parse_inputs([], heldout_inputs, reporter)]
    items = [
        item if isinstance(item, LabelledInput) else LabelledInput(None, Path(item))
        for item in inputs
    ]
    settings = replace(settings or GenomeSettings(), trained_window=run.input_width)
    resolved = resolve_inputs(items, settings)
    check_settings_used(resolved, settings)
    return resolved


def _job(
    run: Run,
    setting: _Setting,
    method: str,
    span: Optional[tuple[int, int]],
    batch_size: int,
    rows: range,
    reporter: Reporter,
    references: tuple[int, int],
) -> AttributionJob:
    return AttributionJob(
        run.model,
        setting.items,
        method,
        setting.objective,
        setting.strands,
        span,
        batch_size,
        setting.layout.longest,
        rows,
        reporter,
        references,
        ids=list(setting.layout.ids),
    )


def _metadata(
    setting: _Setting, written: range, method: str, span: Optional[tuple[int, int]]
) -> dict[str, np.ndarray]:
    """The .npz members besides the arrays (`dnanet.interpret.attribution_files`), for the records
    `written`."""
    layout = setting.layout
    return {
        "ids": np.array(layout.ids[written.start : written.stop], dtype=str),
        "lengths": layout.lengths[written.start : written.stop],
        "method": np.array(method),
        "target": np.array(setting.target),
        "output": np.array(setting.output),
        "strands": np.array(setting.strands),
        "region": np.array(span or (0, layout.longest)),
    }


def plotted_records(
    records, layout: Layout, span: Optional[tuple[int, int]], rows: range
) -> list[tuple[str, int, int, int]]:
    """(id, row, start, end) of each record to draw (row: its place among `rows`, the records this
    run writes): those `records` names (a list, or comma-separated), else the first few; the
    stretch drawn is `span`, else the whole record (checked up front)."""
    if records is None:
        chosen = list(rows[:PLOTTED_RECORDS])
    else:
        given = records.split(",") if isinstance(records, str) else records
        names = [name.strip() for name in given if name.strip()]
        index = {
            identifier: i for i, identifier in reversed(list(enumerate(layout.ids))) if i in rows
        }  # first
        missing = [name for name in names if name not in index]
        if missing or not names:
            shard = "" if len(rows) == len(layout.ids) else " of this shard"
            raise DnanetError(
                f"--records: no record named {', '.join(missing) or '(none given)'} in the "
                f"input{shard}"
            )
        chosen = [index[name] for name in names]
    drawn = [
        (layout.ids[i], i - rows.start, *(span or (0, int(layout.lengths[i])))) for i in chosen
    ]
    for identifier, _, start, end in drawn:
        if end - start > MAX_PLOTTED_BASES:
            raise DnanetError(
                f"--plot: record {identifier} has {end - start:,} bases to draw, more than "
                f"{MAX_PLOTTED_BASES:,}; choose a stretch with --region"
            )
    return drawn
