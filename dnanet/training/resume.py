"""`dnanet train --resume`: what a run saves with its checkpoint so that `--resume OUT` needs
nothing else (inputs, labels, task, config, store, genome, each input's SHA-256), and the checks
that a resumed run is given nothing more and reads the same inputs. The run itself is
`dnanet.training.workflow` (`resume_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Mapping, Optional

from dnanet.errors import DnanetError
from dnanet.inputs.sources import input_argument
from dnanet.training.checkpoint import Checkpoint, checkpoint_folder

# The options of a new run, as `dnanet train` names them: a resumed run takes them all from its
# checkpoint, so none may be given with --resume.
NEW_RUN_OPTIONS = (
    ("inputs", "FASTA inputs"),
    ("out", "--out"),
    ("labels", "--labels"),
    ("config", "--config"),
    ("model", "--model"),
    ("epochs", "--epochs"),
    ("seed", "--seed"),
    ("batch_size", "--batch-size"),
    ("lr", "--lr"),
    ("cache", "--cache"),
    ("precision", "--precision"),
    ("split", "--split"),
    ("val_chroms", "--val-chroms"),
    ("test_chroms", "--test-chroms"),
    ("val", "--val"),
    ("test", "--test"),
    ("keep_duplicates", "--keep-duplicates"),
    ("genome", "--genome"),
    ("window", "--window"),
    ("background_ratio", "--background-ratio"),
)


def given_with_resume(options: Mapping[str, object]) -> list[str]:
    """The new-run options set in `options` (name: value, as `dnanet train` got them), by their
    command-line names, in `NEW_RUN_OPTIONS` order; --background-ratio counts when it is not 1."""
    return [
        flag
        for name, flag in NEW_RUN_OPTIONS
        if (options.get(name, 1) != 1 if name == "background_ratio" else options.get(name))
    ]


def unfinished_run(out: Path, given: list[str]):
    """`--resume OUT`: (its checkpoint, the invocation saved with it); nothing else may be given
    (`given`: the options' command-line names, `given_with_resume`)."""
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
    signal=None,
) -> dict:
    """How a run was started, saved with its checkpoint so that `--resume OUT` needs nothing else:
    the inputs (absolute paths, with their classes; --val and --test files apart), label-table
    options, task, full config, the store folder, the genome and signal settings, and each
    input's SHA-256 (`records.provenance`)."""

    def arguments(part: str) -> list[str]:
        return [
            input_argument(item)
            for item, entry in zip(records.inputs, records.provenance)
            if entry.get("part", "train") == part
        ]

    return {
        "inputs": arguments("train"),
        "genome": genome.to_dict(),
        "labels": str(labels.resolve()) if labels is not None else None,
        "id_column": id_column,
        "label_column": list(label_column),
        "task": task,
        "config": cfg.to_dict(),
        "cache": str(cache.resolve()),
        "provenance": records.provenance,
        "val": arguments("validation"),
        "test": arguments("test"),
        "signal": signal.to_dict() if signal is not None else None,
    }


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
