"""What `dnanet tune` writes from a study: the best config (YAML for `dnanet train -c`), the
trials table (TSV), the parameter importances (TSV) and the plots (`dnanet.tune.plots`).

Each file is written to a temporary name and renamed, so a file is whole or absent; they are
rewritten from the database after every search, also after an interrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from dnanet.tune.plots import plot_history, plot_importances
from dnanet.tune.search_space import SearchSpace, apply_params, config_yaml
from dnanet.tune.study import best_trial

BEST_CONFIG = "best_config.yaml"
TRIALS_TABLE = "trials.tsv"
IMPORTANCES_TABLE = "importances.tsv"
HISTORY_PLOT = "history.png"
IMPORTANCES_PLOT = "importances.png"


def write_report(
    study: optuna.Study,
    base,
    space: SearchSpace,
    out: Path,
    threads: int | None = None,
    full_epochs: int | None = None,
) -> dict:
    """Write the study's files into `out`; returns {"best": FrozenTrial or None, "files": [names],
    "notes": [why a file was not written]}. `threads`: the torch threads each trial ran with, when
    set (floating-point sums depend on it, so the retraining command names it). `full_epochs`:
    the base config's ``train.epochs`` when ``--epochs`` cut the trials short: best_config.yaml
    gets it back (trained as written, the short search budget gave AUROC 0.890 where the full
    one gave 0.987), and says so; a searched ``train.epochs`` stays as the best trial had it."""
    trials = study.get_trials(deepcopy=False)
    written, notes = [], []
    _atomic(
        out / TRIALS_TABLE,
        lambda path: trials_table(trials, space).to_csv(path, sep="\t", index=False),
    )
    written.append(TRIALS_TABLE)
    if trials:
        _atomic(out / HISTORY_PLOT, lambda path: plot_history(trials, path))
        written.append(HISTORY_PLOT)
    best = best_trial(study)
    if best is None:
        notes.append("no trial completed: no best config")
    else:
        header = (
            f"dnanet tune: the best of {_count(trials, TrialState.COMPLETE)} complete trials "
            f"of study '{study.study_name}':\n"
            f"trial #{best.number}, validation loss {best.value:.6g} at epoch "
            f"{best.user_attrs.get('best_epoch')}. "
            "Train it on the same inputs (same split, same seed):\n"
            f"  dnanet train CLASS=FASTA ... -c {out / BEST_CONFIG} --out RUN"
            + (f" --threads {threads}" if threads else "")
        )
        params = dict(best.params)
        if full_epochs is not None and "train.epochs" not in params:
            params["train.epochs"] = full_epochs
            header += (
                f"\ntrain.epochs is {full_epochs}, the base config's: trials ran at most "
                f"{base.train.epochs} epoch{'s' if base.train.epochs != 1 else ''} (--epochs) to "
                "search quickly; early stopping "
                f"(patience {base.train.patience}) keeps the best epoch of the full run"
            )
        config = apply_params(base, params, f"trial {best.number}")
        _atomic(
            out / BEST_CONFIG,
            lambda path: Path(path).write_text(config_yaml(config, header), encoding="utf-8"),
        )
        written.append(BEST_CONFIG)
    importances = parameter_importances(study)
    if importances is None:
        notes.append("parameter importances need at least 2 complete trials that differ")
    else:
        table = pd.DataFrame(
            {"parameter": list(importances), "importance": list(importances.values())}
        )
        _atomic(out / IMPORTANCES_TABLE, lambda path: table.to_csv(path, sep="\t", index=False))
        _atomic(out / IMPORTANCES_PLOT, lambda path: plot_importances(importances, path))
        written += [IMPORTANCES_TABLE, IMPORTANCES_PLOT]
    return {"best": best, "files": written, "notes": notes}


def trials_table(trials: list[FrozenTrial], space: SearchSpace) -> pd.DataFrame:
    """One row per trial: number, state, val_loss (best epoch; empty unless complete), best_epoch,
    epochs trained, seconds, the other validation metrics at the best epoch, each parameter, then
    base_config (true for the trial that ran the base config as it is) and error."""
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        row = {
            "trial": trial.number,
            "state": trial.state.name.lower(),
            "val_loss": trial.value if trial.state == TrialState.COMPLETE else None,
            "best_epoch": attrs.get("best_epoch"),
            "epochs": attrs.get("epochs"),
            "seconds": round(trial.duration.total_seconds(), 1) if trial.duration else None,
        }
        row.update({key: value for key, value in attrs.items() if key.startswith("val_")})
        row.update(
            {parameter.path: trial.params.get(parameter.path) for parameter in space.parameters}
        )
        row["base_config"] = bool(attrs.get("base_config"))
        row["error"] = attrs.get("error", "")
        rows.append(row)
    columns = ["trial", "state", "val_loss", "best_epoch", "epochs", "seconds"]
    frame = pd.DataFrame(
        rows,
        columns=None
        if rows
        else columns + [p.path for p in space.parameters] + ["base_config", "error"],
    )
    return frame.astype({"best_epoch": "Int64", "epochs": "Int64"})


def parameter_importances(study: optuna.Study) -> dict[str, float] | None:
    """{parameter: importance} (Optuna's fANOVA, most important first), or None with fewer than
    two complete trials or when they cannot be told apart."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return None
    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return None
    return importances or None


def _count(trials: list[FrozenTrial], state: TrialState) -> int:
    return sum(trial.state == state for trial in trials)


def _atomic(path: Path, write) -> None:
    """Run `write(temporary path)`, then rename it to `path`."""
    temporary = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
