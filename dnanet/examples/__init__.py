"""The bundled example: CTCF ChIP-seq bound vs GC-matched background, 101 bp (DNABERT sample
data, Apache-2.0; see examples/ctcf/SOURCE.txt). It is the default input of the quick start and
of `dnanet train/evaluate/predict` when no FASTA is given."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

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
