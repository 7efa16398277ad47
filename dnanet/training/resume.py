"""`dnanet train --resume`: what a run saves with its checkpoint so that `--resume OUT` needs
nothing else (inputs, labels, task, config, store, genome, each input's SHA-256), and the checks
that a resumed run is given nothing more and reads the same inputs. Apart from `train.py`, which
holds the command and its training flow."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from dnanet.errors import DnanetError


def unfinished_run(out: Path, given: list[str]):
    """`--resume OUT`: (its checkpoint, the invocation saved with it); nothing else may be given."""
    from dnanet.training.checkpoint import Checkpoint, checkpoint_folder

    if given:
        raise DnanetError(
            f"--resume takes its inputs and settings from the checkpoint; drop {', '.join(given)}"
        )
    checkpoint = Checkpoint(checkpoint_folder(out))
    if not checkpoint.exists():
        raise DnanetError(
            f"{out}: no unfinished run to resume (no checkpoint in {checkpoint.folder})"
        )
    return checkpoint, checkpoint.read_invocation()


def run_invocation(
    records,
    labels: Optional[Path],
    id_column: str,
    label_column: List[str],
    task: str,
    cfg,
    cache: Path,
    genome,
) -> dict:
    """How a run was started, saved with its checkpoint so that `--resume OUT` needs nothing else:
    the inputs (absolute paths, with their classes), label-table options, task, full config, the
    store folder, the genome settings, and each input's SHA-256 (`records.provenance`)."""
    from dnanet.inputs.sources import input_argument

    training = [
        item
        for item, entry in zip(records.inputs, records.provenance)
        if entry.get("part", "train") == "train"
    ]  # --val and --test files are saved apart
    return {
        "inputs": [input_argument(item) for item in training],
        "genome": genome.to_dict(),
        "labels": str(labels.resolve()) if labels is not None else None,
        "id_column": id_column,
        "label_column": list(label_column),
        "task": task,
        "config": cfg.to_dict(),
        "cache": str(cache.resolve()),
        "provenance": records.provenance,
    }


def absolute_input(argument: str) -> str:
    """A --val/--test argument (CLASS=PATH or PATH) with its path made absolute, for --resume (a
    generated background, CLASS=gc-matched, stays as it is)."""
    from dnanet.inputs.sources import BACKGROUND_KINDS

    label, sep, path = argument.partition("=")
    if not sep or Path(argument).exists():
        return str(Path(argument).resolve())
    return f"{label}={path if path in BACKGROUND_KINDS else Path(path).resolve()}"


def check_unchanged(saved: list[dict], now: list[dict]) -> None:
    """A resumed run must read the same inputs: compare each file's SHA-256 (and genome) with the
    checkpoint's."""
    for before, after in zip(saved, now):
        if before.get("sha256") != after.get("sha256"):
            raise DnanetError(
                f"{after.get('path')}: changed since the run was started (SHA-256 differs); "
                "train afresh with --overwrite"
            )
        if before.get("genome") != after.get("genome"):
            raise DnanetError(
                f"{(after.get('genome') or {}).get('path')}: the genome changed since the run was "
                "started (size, time or index differ); train afresh with --overwrite"
            )
