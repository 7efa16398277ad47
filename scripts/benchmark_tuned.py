"""The tuned columns of scripts/benchmark.py (``--tuned``): each family searched per data set and
seed with a fixed trial budget, then retrained with the best values and scored on the same test
set as its shipped-default column.

A tuned cell (task, ``<family>+tuned``, seed) runs `dnanet.tune.study`'s search exactly as
``dnanet tune --model <family> --trials N`` would on the task's training files: the family's
shipped config with this seed as the base (so the same split as the default cell), the shipped
search space (configs/search/<family>.yaml), TPE + median pruner, trials scored on the validation
part only. The best config is then trained once more (same seed and split, so the same model as
the best trial) and scored like a default cell. Its time is the search plus that training.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from dnanet.config.run_config import Config, load_config
from dnanet.progress import Reporter
from dnanet.tune.search_space import apply_params, load_space
from dnanet.tune.study import Search, TuneData, best_trial, run_trials

TUNED = "+tuned"  # suffix of a tuned family's model name in the JSON and the page
DEFAULT_TRIALS = 20


class TrialLines(Reporter):
    """Each finished trial's line on stdout, indented under its cell."""

    def say(self, text: str, kind: str) -> None:
        print(f"  {text}", flush=True)


def tuned_name(family: str) -> str:
    return family + TUNED


def family_of(model: str) -> str:
    """'cnn+tuned' (or 'cnn+ens5') -> 'cnn'; a default family's name as it is."""
    return model.split("+", 1)[0]


def search_best_config(
    task_data, base: Config, trials: int, device: torch.device
) -> tuple[Config, dict]:
    """Search `trials` trials over the family's shipped space on the task's training files
    (validation part only); the base config with the best values and what the page keeps of it."""
    space = load_space(None, base)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dnanet-benchmark-tune-") as folder:
        search = Search(
            base, space, f"sqlite:///{Path(folder) / 'study.db'}", "benchmark", trials, str(device)
        )
        data = TuneData(task_data.train, task_data.task, task_data.provenance)
        study = run_trials(search, data, None, TrialLines())
        best = best_trial(study)
        states = [trial.state.name.lower() for trial in study.trials]
    if best is None:
        raise RuntimeError(f"no trial of the {base.model['name']} search completed")
    summary = {
        "trials": trials,
        "complete": states.count("complete"),
        "pruned": states.count("pruned"),
        "best_trial": best.number,
        "best_is_base": bool(best.user_attrs.get("base_config")),  # trial 0: the shipped config
        "val_loss": best.value,
        "params": best.params,
        "search_seconds": round(time.perf_counter() - start, 1),
    }
    return apply_params(base, best.params, "benchmark tuned"), summary


def run_tuned(
    task_data,
    model: str,
    seed: int,
    quick: bool,
    quick_epochs: int,
    trials: int,
    device: torch.device,
    run_model,
) -> dict:
    """One tuned cell: search, retrain the best config, score it with `run_model` (the default
    cells' scorer, given the config)."""
    family = family_of(model)
    base = load_config(model=family, seed=seed)
    if quick:
        base = load_config(model=family, seed=seed, epochs=min(quick_epochs, base.train.epochs))
    config, summary = search_best_config(task_data, base, trials, device)
    cell = run_model(task_data, family, seed, quick, device, config=config)
    return {**cell, "tuned": summary}


def tuning_lines(results: list[dict], families: list[str]) -> list[str]:
    """The page's section on the tuned columns ([] without any): the budget, and per task and
    family the mean search time and the trials that were pruned."""
    tuned = [r for r in results if "tuned" in r]
    if not tuned:
        return []
    budgets = sorted({r["tuned"]["trials"] for r in tuned})
    lines = [
        "## Tuned columns",
        "",
        (
            "`<family>+tuned`: the family searched per data set and seed with "
            f"{', '.join(map(str, budgets))} trials "
            "of `dnanet tune` (the shipped space configs/search/<family>.yaml, "
            "TPE sampler seeded by the seed, "
            "median pruner, trials scored on the validation part only; "
            "the first trial is the shipped config itself), "
            "the best config retrained on the same "
            "split and scored on the same test set as the default column. "
            "Search time per cell (mean over seeds), pruned trials, and the cells whose best "
            "trial was the shipped config (their numbers equal the default's):"
        ),
        "",
        "| task | " + " | ".join(f for f in families if f.endswith(TUNED)) + " |",
        "|---|" + "---|" * sum(f.endswith(TUNED) for f in families),
    ]
    for task in dict.fromkeys(r["task"] for r in tuned):
        cells = []
        for model in (f for f in families if f.endswith(TUNED)):
            runs = [r["tuned"] for r in tuned if r["task"] == task and r["model"] == model]
            cells.append(
                "—"
                if not runs
                else f"{sum(r['search_seconds'] for r in runs) / len(runs) / 60:.1f} min "
                f"({sum(r['pruned'] for r in runs) / len(runs):.0f} of {runs[0]['trials']} pruned"
                + (
                    f"; best = shipped in {sum(bool(r.get('best_is_base')) for r in runs)}"
                    f" of {len(runs)})"
                    if any("best_is_base" in r for r in runs)
                    else ")"
                )
            )
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return [*lines, ""]
