"""Running `dnanet attribute` on one process's block of records: the (N, 4, L) arrays filled in
memory-mapped scratch files with a progress bar, then written atomically as one file (with the
--plot logos) or, under torchrun, as per-rank parts that rank 0 merges. Apart from
`attribute.py`, which holds the command: its options, checks and choice of records."""

from __future__ import annotations

import contextlib
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator, Optional

from dnanet.cli.common import err


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
        quiet: bool,
    ):
        self.model, self.inputs, self.method, self.objective = model, inputs, method, objective
        self.strands, self.span, self.batch_size, self.longest, self.rows = (
            strands,
            span,
            batch_size,
            longest,
            rows,
        )
        self.quiet = quiet

    def fill(self, folder: Path, quiet: bool):
        """The block's arrays (`dnanet.interpret.attribution_files.AttributionArrays`) filled in `folder`."""
        from dnanet.interpret.attribution_files import AttributionArrays, attribute_records

        arrays = AttributionArrays(
            folder, len(self.rows), self.longest, deltas=self.method == "ism"
        )
        with _bar(f"attributing ({self.method})", len(self.rows), quiet) as progress:
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
        from dnanet.interpret.attribution_files import sequences_path

        with ExitStack() as stack:
            temporary = stack.enter_context(claimed[out].writing())
            sequences_temporary = stack.enter_context(claimed[sequences_path(out)].writing())
            folder = claimed[
                out
            ].scratch_folder()  # the (N, 4, L) memory-mapped arrays while they fill
            stack.callback(shutil.rmtree, folder, True)
            arrays = self.fill(folder, self.quiet)
            if drawn:
                _draw(stack.enter_context(claimed[plot].writing()), arrays, drawn, title)
            arrays.save(temporary, sequences_temporary, metadata)

    def in_parts(self, claimed: dict, out: Path, processes, metadata: dict) -> None:
        """Under torchrun: each process fills its block in a part folder; rank 0 packs the parts,
        in rank order, into the one file (`dnanet.interpret.attribution_files.merge_parts`)."""
        from dnanet.interpret.attribution_files import ATTRIBUTIONS_KEY, merge_parts, sequences_path
        from dnanet.runtime.distributed import write_in_parts

        def write_part(stem: Path) -> None:
            stem.mkdir()
            self.fill(stem, self.quiet or not processes.is_main).flush()

        def merge(stems: list[Path]) -> None:
            names = [ATTRIBUTIONS_KEY, "sequences"] + (["deltas"] if self.method == "ism" else [])
            with (
                claimed[out].writing() as temporary,
                claimed[sequences_path(out)].writing() as sequences_temporary,
            ):
                merge_parts(stems, names, temporary, sequences_temporary, metadata)

        write_in_parts(out, processes, write_part, merge)


def _draw(path: Path, arrays, drawn: list[tuple[str, int, int, int]], title: str) -> None:
    from dnanet.interpret.attribution_plots import plot_attribution_logos

    values, one_hot = arrays.rows([index for _, index, _, _ in drawn])
    plot_attribution_logos(
        path,
        values,
        one_hot,
        [identifier for identifier, *_ in drawn],
        [(start, end) for *_, start, end in drawn],
        title,
    )


@contextlib.contextmanager
def _bar(what: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (records done of `total`, time left); yields the function to call
    with the records done."""
    from dnanet.cli.progress import counting_bar

    with counting_bar(err, what, total, "records", quiet) as update:
        yield update
