"""Attributing one process's block of records: the (N, 4, L) arrays filled in memory-mapped
scratch files (or in memory) with a progress count, then written atomically as one file (with the
--plot logos) or, under torchrun, as per-rank parts that rank 0 merges. The workflow around it
(options, checks, choice of records) is `dnanet.interpret.attribution_workflow`."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

from dnanet.interpret.attribution_files import (
    AttributionArrays,
    array_names,
    attribute_records,
    merge_parts,
    scalar_names,
    sequences_path,
)
from dnanet.interpret.deeplift import REFERENCE_METHODS, summation_line
from dnanet.progress import Reporter
from dnanet.runtime.distributed import Processes, write_in_parts


class AttributionJob:
    """The attribution of one process's block of records (`rows`), written as one file or as a
    part."""

    def __init__(
        self,
        model,
        inputs: list,
        method: str,
        objective,
        strands: int,
        span,
        batch_size: int,
        longest: int,
        rows: range,
        reporter: Reporter,
        references: tuple[int, int] = (20, 0),
        ids: Optional[list[str]] = None,
    ):
        """`references`: (count, seed) of the shuffled references of deepliftshap and
        integrated_gradients; `ids`: every record's id (the summation check names records)."""
        self.model, self.inputs, self.method, self.objective = model, inputs, method, objective
        self.strands, self.span, self.batch_size, self.longest, self.rows = (
            strands,
            span,
            batch_size,
            longest,
            rows,
        )
        self.reporter, self.references, self.ids = reporter, references, ids

    def fill(self, folder: Optional[Path], reporter: Reporter) -> AttributionArrays:
        """The block's arrays (`dnanet.interpret.attribution_files.AttributionArrays`) filled in
        `folder` (None: in memory); the records done go to `reporter`."""
        arrays = AttributionArrays(
            folder,
            len(self.rows),
            self.longest,
            deltas=self.method == "ism",
            checked=self.method in REFERENCE_METHODS,
        )
        what = f"attributing ({self.method})"
        with reporter.counter(what, len(self.rows), "records") as progress:
            attribute_records(
                arrays,
                self.model,
                self.inputs,
                self.method,
                self.objective,
                self.strands,
                self.span,
                self.batch_size,
                progress,
                records=self.rows,
                references=self.references[0],
                seed=self.references[1],
            )
        if self.method in REFERENCE_METHODS:
            scalars = arrays.scalars
            ids = list(self.ids[self.rows.start : self.rows.stop]) if self.ids else []
            reporter.note(
                summation_line(
                    self.method,
                    scalars["summation_error"],
                    scalars["reference"] - scalars["baseline"],
                    ids or [str(row) for row in self.rows],
                )
            )
        return arrays

    def write(
        self,
        claimed: dict,
        out: Path,
        metadata: dict,
        plot: Optional[Path],
        drawn: list,
        title: str,
    ) -> None:
        """One process: the file (and the logos of `drawn`), each written atomically through its
        claimed output (`claimed`: path -> `dnanet.files.outputs.Output`)."""
        with ExitStack() as stack:
            temporary = stack.enter_context(claimed[out].writing())
            sequences_temporary = stack.enter_context(claimed[sequences_path(out)].writing())
            folder = claimed[
                out
            ].scratch_folder()  # the (N, 4, L) memory-mapped arrays while they fill
            stack.callback(shutil.rmtree, folder, True)
            arrays = self.fill(folder, self.reporter)
            if drawn:
                _draw(stack.enter_context(claimed[plot].writing()), arrays, drawn, title)
            arrays.save(temporary, sequences_temporary, metadata)

    def in_parts(self, claimed: dict, out: Path, processes: Processes, metadata: dict) -> None:
        """Under torchrun: each process fills its block in a part folder; rank 0 packs the parts,
        in rank order, into the one file (`dnanet.interpret.attribution_files.merge_parts`)."""
        speaker = self.reporter if processes.is_main else Reporter()  # rank 0 shows progress

        def write_part(stem: Path) -> None:
            stem.mkdir()
            self.fill(stem, speaker).flush()

        def merge(stems: list[Path]) -> None:
            names = array_names(self.method == "ism")
            names += scalar_names(self.method in REFERENCE_METHODS)
            with (
                claimed[out].writing() as temporary,
                claimed[sequences_path(out)].writing() as sequences_temporary,
            ):
                merge_parts(stems, names, temporary, sequences_temporary, metadata)

        write_in_parts(out, processes, write_part, merge)


def _draw(path: Path, arrays, drawn: list[tuple[str, int, int, int]], title: str) -> None:
    """The logos of the `drawn` records (id, row, start, end) into `path`."""
    from dnanet.interpret.attribution_plots import plot_attribution_logos  # matplotlib: if drawn

    values, one_hot = arrays.rows([index for _, index, _, _ in drawn])
    plot_attribution_logos(
        path,
        values,
        one_hot,
        [identifier for identifier, *_ in drawn],
        [(start, end) for *_, start, end in drawn],
        title,
    )
