"""`dnanet train --folds K`: K member runs on K folds, and the ensemble folder that lists them.

OUT holds ``fold_0`` .. ``fold_{K-1}`` (each a complete run folder, trained by
`dnanet.training.workflow.train_run` with ``data.folds = K``, ``data.fold = k``:
`dnanet.data.folds` says how the parts are cut), ``folds.json`` (how the members are trained, so
that the same command, or ``--resume OUT``, continues an unfinished ensemble: finished members are
kept, a member with a checkpoint resumes, the others start), and once every member is done:

- ``model.json`` (format ``dnanet-ensemble``, `dnanet.runs.ensemble`): the members with their
  files' SHA-256, and the members left out with the reason;
- ``metrics.json``: the ensemble's test metrics (the mean of its members' test outputs, on the
  test part they all share) and each member's under ``members``;
- ``folds.tsv``: the fold table (per member: its validation records and, for a chromosome split,
  its validation chromosomes).

A member whose model did not learn (`dnanet.training.learning_check`) or whose training failed
after the first member trained is named and left out; ``require_all`` refuses it instead. ``fold``
trains one member only (members of one ensemble can run as separate jobs, each under torchrun);
the ensemble is written when the last member is done.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnanet.errors import DnanetError
from dnanet.files.json_files import parse_json, read_regular_file
from dnanet.inference.calibration import CALIBRATION_FILE, fit_calibration, write_calibration
from dnanet.progress import Reporter
from dnanet.runs.ensemble import ensemble_record, member_entry
from dnanet.runs.load import load_run
from dnanet.runs.save import write_json
from dnanet.runtime import distributed
from dnanet.training.checkpoint import Checkpoint, checkpoint_folder
from dnanet.training.experiment import HELD_OUT_OUTPUTS
from dnanet.training.metrics import task_metrics
from dnanet.training.resume import given_with_resume
from dnanet.training.workflow import resume_run, train_run

FOLDS_PLAN = "folds.json"
PLAN_LIMIT = 1 << 20


@dataclass(frozen=True)
class EnsembleOutcome:
    """A `train_folds` call: the ensemble folder, its test metrics (empty until every member is
    done), the closing lines (``(kind, text)``) and whether this process wrote anything."""

    out: Path
    metrics: dict
    summary: tuple[tuple[str, str], ...] = ()
    written: bool = True
    complete: bool = True


def member_folder(out: Path, fold: int) -> Path:
    return out / f"fold_{fold}"


def is_unfinished_ensemble(out: Path) -> bool:
    """Whether `out` is an ensemble folder whose training was started (it has folds.json)."""
    return (Path(out) / FOLDS_PLAN).is_file()


def train_folds(
    inputs,
    out: Path | str | None,
    *,
    folds: int,
    fold: int | None = None,
    require_all: bool = False,
    overwrite: bool = False,
    reporter: Reporter | None = None,
    **options: Any,
) -> EnsembleOutcome:
    """Train (or continue) the K-fold ensemble `out` (see the module docstring); `options` are
    `train_run`'s other keywords, the same for every member."""
    if out is None:
        raise DnanetError("--out is required (the ensemble folder to create)")
    out, reporter = Path(out), reporter if reporter is not None else Reporter()
    if not 2 <= folds <= 50:
        raise DnanetError(f"--folds {folds}: an ensemble has 2 to 50 members")
    if fold is not None and not 0 <= fold < folds:
        raise DnanetError(f"--fold {fold}: the members are numbered 0 to {folds - 1}")
    plan = {"folds": folds, "options": _plain(options, inputs)}
    _start(out, plan, overwrite)
    return _train_members(out, plan, inputs, options, fold, reporter, require_all)


def resume_folds(
    out: Path | str,
    *,
    given: dict | None = None,
    require_all: bool = False,
    reporter: Reporter | None = None,
    **run: Any,
) -> EnsembleOutcome:
    """``dnanet train --resume OUT`` for an ensemble folder: the members and options its
    folds.json names (`run`: device, threads, monitor, write_report, tracking; `given`: the
    options the command line got, none of which may be set)."""
    out = Path(out)
    named = given_with_resume(given or {})
    if named:
        raise DnanetError(
            f"--resume takes the ensemble's inputs and settings from {out / FOLDS_PLAN}; drop "
            f"{', '.join(named)}"
        )
    path = out / FOLDS_PLAN
    plan = parse_json(read_regular_file(path, PLAN_LIMIT), path)
    options = dict(plan["options"])
    inputs = options.pop("inputs")
    reporter = reporter or Reporter()
    return _train_members(out, plan, inputs, {**options, **run}, None, reporter, require_all)


def _start(out: Path, plan: dict, overwrite: bool) -> None:
    """Create `out` with its folds.json, or check that an unfinished `out` was started with the
    same plan (then it continues)."""
    path = out / FOLDS_PLAN
    taken = out.exists() and (not out.is_dir() or any(out.iterdir()))  # an empty folder will do
    if taken and not path.is_file():
        raise DnanetError(
            f"{out} exists and is not a dnanet ensemble folder; choose another --out"
            if not (out / "model.json").exists()
            else f"{out} is a single run folder; choose another --out for the ensemble"
        )
    if path.is_file() and not overwrite:
        started = parse_json(read_regular_file(path, PLAN_LIMIT), path)
        if started != plan:
            raise DnanetError(
                f"{out} holds an ensemble started with other inputs or options; continue it with "
                f"dnanet train --resume {out}, or pass --overwrite to start afresh"
            )
        return
    if not _main_process():  # under torchrun rank 0 alone writes
        out.mkdir(parents=True, exist_ok=True)
        return
    if path.is_file():  # --overwrite: the old ensemble goes, members and all
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, plan)


def _train_members(out, plan, inputs, options, only, reporter, require_all) -> EnsembleOutcome:
    """Train the members not yet finished (`only`: that member alone), then, once every member
    is finished, write the ensemble (`_assemble`). Under torchrun the members share one process
    group, and rank 0 alone writes."""
    folds = plan["folds"]
    members = range(folds) if only is None else [only]
    with distributed.kept_group():
        written = _train_each(out, members, folds, inputs, options, reporter)
    if not (written and _main_process()):  # a torchrun process other than rank 0
        return EnsembleOutcome(out, {}, written=False)
    missing = [f for f in range(folds) if not _finished(member_folder(out, f))]
    if missing:
        text = (
            f"{folds - len(missing)} of {folds} members done; the ensemble is written when all are"
        )
        return EnsembleOutcome(out, {}, (("info", text),), complete=False)
    return _assemble(out, folds, require_all)


def _train_each(out, members, folds, inputs, options, reporter) -> bool:
    """Train or resume each of `members` not yet finished; False when this process wrote
    nothing (a torchrun process other than rank 0)."""
    written = True
    for fold in members:
        folder = member_folder(out, fold)
        if (folder / "model.json").is_file():
            reporter.note(f"{folder}: finished member kept", "info")
            continue
        reporter.note(f"member {fold + 1} of {folds}: {folder}", "info")
        member = _member_options(options, out, fold)
        try:
            if Checkpoint(checkpoint_folder(folder)).exists():
                outcome = resume_run(folder, reporter=reporter, **_run_keywords(member))
            else:
                outcome = train_run(
                    inputs, folder, folds=folds, fold=fold, reporter=reporter, **member
                )
        except DnanetError as error:
            if not any((member_folder(out, f) / "model.json").is_file() for f in range(folds)):
                raise  # nothing trained yet: the inputs or options are wrong for every member
            reporter.note(f"{folder}: member failed: {error}", "warning")
            if _main_process():
                _write_failure(folder, str(error))
            continue
        written = written and outcome.written
    return written


def _member_options(options: dict, out: Path, fold: int) -> dict:
    """`train_run`'s keywords for member `fold`: its own tracking (TensorBoard in DIR/fold_I, its
    W&B run in the ensemble's group; `dnanet.training.tracking.Tracking.for_member`)."""
    tracking = options.get("tracking")
    if tracking is None:
        return options
    return {**options, "tracking": tracking.for_member(out, fold)}


def _run_keywords(options: dict) -> dict:
    """The keywords of `resume_run` among `train_run`'s."""
    keys = ("device", "threads", "monitor", "write_report", "tracking")
    return {key: options[key] for key in keys if key in options}


def _finished(folder: Path) -> bool:
    return (folder / "model.json").is_file() or (folder / "failed.txt").is_file()


def _write_failure(folder: Path, message: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "failed.txt").write_text(message + "\n", encoding="utf-8")


def _assemble(out: Path, folds: int, require_all: bool) -> EnsembleOutcome:
    """Write model.json, metrics.json and folds.tsv of a finished ensemble."""
    kept, left_out = [], []
    for fold in range(folds):
        folder = member_folder(out, fold)
        reason = _left_out_reason(folder)
        if reason is None:
            kept.append(member_entry(out, folder, fold, _member_facts(folder)))
        else:
            left_out.append({"path": folder.name, "fold": fold, "reason": reason})
    if left_out and require_all:
        named = "; ".join(f"{entry['path']}: {entry['reason']}" for entry in left_out)
        raise DnanetError(
            f"{out}: --require-all-folds, and {len(left_out)} member(s) are not usable: {named}"
        )
    if not kept:
        raise DnanetError(
            f"{out}: no member is usable ({left_out[0]['path']}: {left_out[0]['reason']}); train "
            "again with other settings and --overwrite"
        )
    _write_atomically(out / "model.json", ensemble_record(kept, left_out, folds=folds))
    ensemble = load_run(out)
    metrics = ensemble_metrics(out, ensemble, kept)
    _write_atomically(out / "metrics.json", metrics)
    _calibrate(out, ensemble, kept)
    _write_fold_table(out / "folds.tsv", kept, left_out)
    summary = [("warning", f"{entry['path']} left out: {entry['reason']}") for entry in left_out]
    summary.append(("info", f"ensemble of {len(kept)} members written to {out}"))
    return EnsembleOutcome(out, metrics, tuple(summary))


def _left_out_reason(folder: Path) -> str | None:
    if (folder / "failed.txt").is_file():
        return "training failed: " + (folder / "failed.txt").read_text(encoding="utf-8").strip()
    description = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    if description.get("learned", True) is False:
        return "did not learn: " + (description.get("learning") or {}).get("message", "")
    return None


def _member_facts(folder: Path) -> dict:
    """What the ensemble's model.json says of a member: its split and validation chromosomes."""
    description = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    split = description.get("split", {})
    facts = {
        "learned": description.get("learned", True),
        "train_records": split.get("train"),
        "validation_records": split.get("validation"),
    }
    if "chromosomes" in split:
        facts["validation_chromosomes"] = split["chromosomes"].get("validation", [])
    return facts


def ensemble_metrics(out: Path, ensemble, kept: list[dict]) -> dict:
    """The ensemble's test metrics from its members' test outputs (their mean: what the
    ensemble predicts) and each member's metrics.json under ``members``."""
    members = {}
    for entry in kept:
        path = out / entry["path"] / "metrics.json"
        members[entry["path"]] = parse_json(read_regular_file(path, PLAN_LIMIT), path)
    stacked = [_held_out(out / entry["path"], "test") for entry in kept]
    if any(part is None for part in stacked):
        return {"members": members, "note": "no test outputs (a profile run): use dnanet evaluate"}
    indices, targets, _ = stacked[0]
    for (other, _, _), entry in zip(stacked, kept):
        if not np.array_equal(other, indices):
            raise DnanetError(
                f"{out / entry['path']}: tested on other records than {kept[0]['path']}; the "
                "members of an ensemble share their test part"
            )
    outputs = np.mean([part[2] for part in stacked], axis=0)
    metrics = task_metrics(ensemble.task, targets, outputs)
    member_outputs = np.stack([part[2] for part in stacked])
    metrics["member_sd"] = float(member_outputs.std(0).mean())
    return {**metrics, "members": members}


def _held_out(folder: Path, part: str):
    """(indices, targets, outputs) of a member's test or validation part, or None (a profile
    run)."""
    from safetensors.numpy import load_file

    path = folder / HELD_OUT_OUTPUTS
    if not path.is_file():
        return None
    arrays = load_file(str(path))
    return arrays[f"{part}_indices"], arrays[f"{part}_targets"], arrays[f"{part}_outputs"]


def _calibrate(out: Path, ensemble, kept: list[dict]) -> None:
    """OUT/calibration.json from the members' validation outputs pooled: each record outside
    the test part scored by the member that did not train on it (out-of-fold; cross-conformal,
    about 1 - alpha in practice; `dnanet calibrate OUT held-out inputs` fits it on new data)."""
    parts = [_held_out(out / entry["path"], "validation") for entry in kept]
    if any(part is None for part in parts) or ensemble.task.kind == "profile":
        return
    targets = np.concatenate([part[1] for part in parts])
    outputs = np.concatenate([part[2] for part in parts])
    calibration = fit_calibration(ensemble.task, outputs, targets, source="out-of-fold validation")
    temporary = out / f".{CALIBRATION_FILE}.partial"
    write_calibration(temporary, calibration)
    os.replace(temporary, out / CALIBRATION_FILE)


def _write_fold_table(path: Path, kept: list[dict], left_out: list[dict]) -> None:
    rows = sorted(
        [{**entry, "status": "member"} for entry in kept]
        + [{**entry, "status": "left out"} for entry in left_out],
        key=lambda entry: entry["fold"],
    )
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(
            [
                "fold",
                "path",
                "status",
                "train_records",
                "validation_records",
                "validation_chromosomes",
            ]
        )
        for row in rows:
            writer.writerow(
                [
                    row["fold"],
                    row["path"],
                    row["status"],
                    row.get("train_records", ""),
                    row.get("validation_records", ""),
                    ",".join(row.get("validation_chromosomes", [])),
                ]
            )


def _write_atomically(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    write_json(temporary, data)
    os.replace(temporary, path)


def _main_process() -> bool:
    """Whether this process writes: not a torchrun process other than rank 0."""
    return os.environ.get("RANK", "0") == "0"


def _plain(options: dict, inputs) -> dict:
    """The options as JSON values (paths as strings), with the inputs: what folds.json keeps."""
    keep = {key: value for key, value in options.items() if key not in _NOT_SAVED}
    return json.loads(json.dumps({"inputs": inputs, **keep}, default=str))


_NOT_SAVED = ("device", "threads", "monitor", "write_report", "reporter", "tracking")
