"""The bundled example: CTCF ChIP-seq bound vs GC-matched background, 101 bp (DNABERT sample
data, Apache-2.0; see examples/ctcf/SOURCE.txt). It is the default input of the quick start and
of `dnanet train/evaluate/predict` when no FASTA is given."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

from dnanet.files.outputs import claimed
from dnanet.progress import Reporter

CLASSES = ("bound", "background")


def example_path(name: str) -> Path:
    """Path of a bundled file, e.g. ``example_path("bound.fa")``."""
    return Path(str(resources.files("dnanet.examples") / "ctcf" / name))


def training_inputs() -> list[tuple[str, Path]]:
    """(class, FASTA) pairs of the example's training files (425 records per class)."""
    return [(name, example_path(f"{name}.fa")) for name in CLASSES]


def heldout_inputs() -> list[tuple[str, Path]]:
    """(class, FASTA) pairs of the example's held-out files (75 records per class)."""
    return [(name, example_path(f"heldout_{name}.fa")) for name in CLASSES]


def copy_example(
    out: Path, overwrite: bool = False, reporter: Reporter | None = None
) -> list[Path]:
    """`dnanet example`: copy the example's FASTA files (training and held-out) and SOURCE.txt
    into the folder `out` (other files in it are left alone). Every file is claimed before the
    first is copied (one that exists is refused unless `overwrite`; what the claims cleaned up goes
    to `reporter`) and written atomically (`dnanet.files.outputs`). Returns the files written."""
    sources = [path for _, path in [*training_inputs(), *heldout_inputs()]]
    sources.append(example_path("SOURCE.txt"))
    with ExitStack() as stack:
        outputs = [
            stack.enter_context(claimed(Path(out) / source.name, overwrite, reporter=reporter))
            for source in sources
        ]
        for source, output in zip(sources, outputs):
            with output.writing() as temporary:
                shutil.copyfile(source, temporary)
    return [output.path for output in outputs]
