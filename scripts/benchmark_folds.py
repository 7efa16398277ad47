"""The benchmark's ensemble columns (``scripts/benchmark.py --folds K``): ``<family>+ens<K>``.

A cell trains K members of the family's shipped config with ``data.folds = K`` (`dnanet.data.folds`:
the same seeded test part as the family's own column, the rest cut into K folds, member k
validating on fold k), averages their probabilities on the test set (the fixed test files, or the
internal test part all members share) and scores that mean, as `dnanet train --folds K` does. The
cell also keeps each member's metrics, so the page can say what averaging adds. The planted task's
rows gain each column's fraction of the Bayes-optimal accuracy (`bayes_lines`).
"""

from __future__ import annotations

import numpy as np

from dnanet.config.run_config import load_config
from dnanet.inference.predict import predict
from dnanet.training.experiment import train_model
from dnanet.training.metrics import classification_metrics

ENSEMBLE = "+ens"


def ensemble_name(family: str, folds: int) -> str:
    return f"{family}{ENSEMBLE}{folds}"


def folds_of(model: str) -> int | None:
    """'cnn+ens5' -> 5; None for another column."""
    return int(model.rsplit(ENSEMBLE, 1)[1]) if ENSEMBLE in model else None


def run_ensemble(
    task_data, model: str, seed: int, quick_epochs: int | None, device, batches, summarise
):
    """One ensemble cell: K members trained and their mean scored (see the module docstring).
    `batches(set, batch_size)`: a set's (codes, lengths) batches; `summarise`: the kept metrics."""
    family, folds = model.split("+", 1)[0], folds_of(model)
    outputs, members, histories = [], [], []
    for fold in range(folds):
        config = load_config(
            model=family, seed=seed, data={"folds": folds, "fold": fold}, epochs=quick_epochs
        )
        result = train_model(config, task_data.train, task_data.task, task_data.provenance, device)
        if task_data.test is not None:
            targets = task_data.test.targets
            probabilities = predict(
                result.model,
                batches(task_data.test, config.train.batch_size),
                reverse_complement_average=result.description["reverse_complement_average"],
                activate=task_data.task.activate,
            )
        else:
            targets, probabilities = result.test_targets, result.test_outputs
        outputs.append(probabilities)
        members.append(
            summarise(classification_metrics(targets, probabilities, task_data.task.names))
        )
        histories.append(result.history)
    mean = np.mean(outputs, axis=0)
    epoch_seconds = [record["seconds"] for history in histories for record in history]
    return {
        "metrics": summarise(classification_metrics(targets, mean, task_data.task.names)),
        "members": members,
        "member_sd": float(np.std(outputs, axis=0).mean()),
        "epochs": int(np.mean([len(history) for history in histories])),
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
    }


def bayes_lines(tasks, results: list[dict], families: list[str], values_of) -> list[str]:
    """A section: for each planted task with a Bayes-optimal accuracy, each column's mean test
    accuracy as a fraction of it, and the distance to it."""
    lines = []
    for task in tasks.values():
        if task.planted is None:
            continue
        bayes = _bayes_of(task)
        if bayes is None:
            continue
        cells = [
            (model, float(np.mean(values)))
            for model in families
            if (values := values_of(results, task.name, model, "accuracy"))
        ]
        if not cells:
            continue
        lines += [
            f"| {task.name}: Bayes-optimal accuracy {bayes:.3f} | "
            + " | ".join(m for m, _ in cells)
            + " |",
            "|---|" + "---|" * len(cells),
            "| fraction of Bayes-optimal | "
            + " | ".join(f"{v / bayes:.3f}" for _, v in cells)
            + " |",
            "| distance to it | " + " | ".join(f"{bayes - v:.3f}" for _, v in cells) + " |",
            "",
        ]
    if not lines:
        return []
    return ["## The planted task against its Bayes-optimal accuracy", "", *lines]


def _bayes_of(task) -> float | None:
    for metric in task.metrics:
        if metric.key == "accuracy" and metric.reference.startswith("Bayes-optimal "):
            return float(metric.reference.split()[1])
    return None


def ensemble_lines(results: list[dict], families: list[str]) -> list[str]:
    """A section: per ensemble cell, the ensemble's score beside its members' mean and best."""
    rows = []
    for model in (f for f in families if ENSEMBLE in f):
        for cell in (r for r in results if r["model"] == model):
            for key in ("auroc", "accuracy"):
                members = [m[key] for m in cell["members"] if m.get(key) is not None]
                if cell["metrics"].get(key) is None or not members:
                    continue
                rows.append(
                    f"| {cell['task']} | {model} | {cell['seed']} | {key} | "
                    f"{cell['metrics'][key]:.3f} | {np.mean(members):.3f} | {max(members):.3f} |"
                )
    if not rows:
        return []
    return [
        "## Ensemble columns: the ensemble against its own members",
        "",
        "Each `+ensK` cell trains K members of the shipped config on K folds of the training part "
        "(same seed and test part as the family's column) and scores the mean of their "
        "probabilities (`dnanet train --folds K`).",
        "",
        "| task | column | seed | metric | ensemble | members' mean | best member |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
