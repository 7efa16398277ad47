"""`dnanet attribute`: per-base attributions of a run's output, in TF-MoDISco's array layout."""

from __future__ import annotations

import contextlib
import re
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import numpy as np
import typer

from dnanet.cli.common import (DeviceOption, ThreadsOption, app, err, parse_inputs, setup_torch,
                               sigterm_as_interrupt, user_errors, warn_if_not_learned)
from dnanet.errors import DnanetError

PLOTTED_RECORDS = 3


@app.command()
@user_errors
def attribute(
    run: Path = typer.Argument(..., help="A run folder made by `dnanet train`."),
    fasta: List[Path] = typer.Argument(None, help="FASTA files (plain or .gz). Default: the bundled CTCF held-out "
                                       "files.", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Attributions file to write, NAME.npz: arr_0 = attributions "
                             "(N, 4, L) float32, plus ids, lengths, reference, and deltas for ism; the one-hot "
                             "sequences (N, 4, L) go to NAME.ohe.npz (arr_0). Records shorter than the longest (L) "
                             "are padded with zero columns."),
    method: str = typer.Option("saliency", help="ism: exact in-silico mutagenesis (every other base at every "
                               "position predicted; 3 passes per base, 6 with strand averaging: slow, limit it with "
                               "--region), arr_0 = the deltas centred over A C G T at each position; saliency: the "
                               "gradient of the output w.r.t. the one-hot input, centred over A C G T; grad_x_input: "
                               "saliency at each record's own base, 0 at the others."),
    target: Optional[str] = typer.Option(None, help="The output explained: a class (log-odds log(p/(1-p)) of its "
                                         "probability) or a regression target (its value). Default: a binary run's "
                                         "first (positive) class or a single regression target; other runs must "
                                         "name one."),
    region: Optional[str] = typer.Option(None, metavar="START:END", help="Attribute only positions START to END-1 "
                                         "(0-based, half-open) of every record (other columns are 0); every record "
                                         "must be at least END long. Cuts ism's cost to 3 x (END-START) passes."),
    plot: Optional[Path] = typer.Option(None, help="Also draw a PNG: attribution logos (each base's letter scaled by "
                                        f"its attribution) of the --records (default: the first {PLOTTED_RECORDS})."),
    records: Optional[str] = typer.Option(None, metavar="ID,ID", help="Record ids to draw with --plot."),
    batch_size: int = typer.Option(128, min=1, help="Sequences per forward pass: records (saliency, grad_x_input) "
                                   "or mutated copies (ism); at most 65,536 padded bases. Values do not depend on it."),
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Write per-base attributions of every record toward one output of the run.

    The output is what `dnanet predict` reports for --target, as log-odds (classification,
    multilabel) or value (regression). When the run averages both strands (model.json
    reverse_complement_average), the attributions explain that strand-averaged output: mutants are
    predicted on both strands, and gradients flow through both back to the forward bases. Runs in
    float32 on every device. The files load into TF-MoDISco (modisco-lite) as they are:

      dnanet attribute runs/ctcf bound.fa --method ism --out attr.npz --plot attr.png

      modisco motifs -s attr.ohe.npz -a attr.npz -n 2000 -w 101
    """
    from dnanet import attribution
    from dnanet.attribution_files import (AttributionArrays, attribute_records, check_disk, check_region,
                                          read_layout, sequences_path)
    from dnanet.examples import heldout_inputs
    from dnanet.runs import atomic_file, load_run
    from dnanet.tasks import Task

    if out.suffix.lower() != ".npz":
        raise DnanetError(f"{out}: --out writes NumPy .npz files; name it NAME.npz")
    if plot is not None and plot.suffix.lower() != ".png":
        raise DnanetError(f"{plot}: --plot writes a PNG; name it .png")
    if records is not None and plot is None:
        raise DnanetError("--records chooses the records --plot draws; give --plot too")
    span = _parse_region(region)
    model, description = load_run(run, setup_torch(threads, device))
    task = Task.from_dict(description["task"])
    attribution.check_method(model, method)
    target_index = attribution.resolve_target(task, target)
    warn_if_not_learned(description, str(run), advice="; its attributions are not meaningful")
    paths = list(fasta) if fasta else [item.path for item in parse_inputs([], heldout_inputs)]
    layout = read_layout(paths)
    check_region(layout, span)
    drawn = _plotted(records, layout, span) if plot is not None else []
    check_disk(out, len(layout.ids), layout.longest, method == "ism")
    strands = 2 if description["reverse_complement_average"] else 1
    target_name, output = task.names[target_index], "value" if task.kind == "regression" else "log_odds"
    with sigterm_as_interrupt(), ExitStack() as stack:
        temporary = stack.enter_context(atomic_file(out))
        sequences_temporary = stack.enter_context(atomic_file(sequences_path(out)))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent)))
        arrays = AttributionArrays(folder, len(layout.ids), layout.longest, deltas=method == "ism")
        with _bar(f"attributing ({method})", len(layout.ids), quiet) as progress:
            count = attribute_records(arrays, model, paths, method, attribution.target_output(task, target_index),
                                      strands, span, batch_size, progress)
        if drawn:
            _draw(stack.enter_context(atomic_file(plot)), arrays, drawn, f"{run.name}: {method} toward {target_name}")
        arrays.save(temporary, sequences_temporary, {
            "ids": np.array(layout.ids, dtype=str), "lengths": layout.lengths, "method": np.array(method),
            "target": np.array(target_name), "output": np.array(output), "strands": np.array(strands),
            "region": np.array(span or (0, layout.longest))})
    err.print(f"{count:,} records: {method} attributions toward {target_name} ({output.replace('_', '-')}"
              f"{', both strands averaged' if strands == 2 else ''}) written to {out}, one-hot sequences to "
              f"{sequences_path(out)}" + (f"; logos in {plot}" if drawn else ""), highlight=False, soft_wrap=True)


def _parse_region(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"START:END"`` -> (start, end), 0-based half-open, start < end."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*", text)
    if not match or int(match[1]) >= int(match[2]):
        raise DnanetError(f"--region '{text}': expected START:END with 0 <= START < END (0-based, END excluded), "
                          "e.g. 40:60")
    return int(match[1]), int(match[2])


def _plotted(records: Optional[str], layout, span: Optional[tuple[int, int]]) -> list[tuple[str, int, int, int]]:
    """(id, index, start, end) of each record to draw: those `records` names (comma-separated),
    else the first few; the stretch drawn is `span`, else the whole record (checked up front)."""
    from dnanet.attribution_plots import MAX_PLOTTED_BASES

    if records is None:
        chosen = list(range(min(PLOTTED_RECORDS, len(layout.ids))))
    else:
        names = [name.strip() for name in records.split(",") if name.strip()]
        index = {identifier: i for i, identifier in reversed(list(enumerate(layout.ids)))}  # an id's first record
        missing = [name for name in names if name not in index]
        if missing or not names:
            raise DnanetError(f"--records: no record named {', '.join(missing) or '(none given)'} in the FASTA input")
        chosen = [index[name] for name in names]
    drawn = [(layout.ids[i], i, *(span or (0, int(layout.lengths[i])))) for i in chosen]
    for identifier, _, start, end in drawn:
        if end - start > MAX_PLOTTED_BASES:
            raise DnanetError(f"--plot: record {identifier} has {end - start:,} bases to draw, more than "
                              f"{MAX_PLOTTED_BASES:,}; choose a stretch with --region")
    return drawn


def _draw(path: Path, arrays, drawn: list[tuple[str, int, int, int]], title: str) -> None:
    from dnanet.attribution_plots import plot_attribution_logos

    values, one_hot = arrays.rows([index for _, index, _, _ in drawn])
    plot_attribution_logos(path, values, one_hot, [identifier for identifier, *_ in drawn],
                           [(start, end) for *_, start, end in drawn], title)


@contextlib.contextmanager
def _bar(what: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (records done of `total`, time left); yields the function to call
    with the records done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("records"),
               TimeRemainingColumn())
    with Progress(*columns, console=err, disable=quiet) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, completed=done)
