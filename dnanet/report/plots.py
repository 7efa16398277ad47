"""The figures of a report (`dnanet.report.page`), drawn offline to PNG with matplotlib (Agg) from
scikit-learn's curves: training history, ROC, precision-recall, confusion matrices, calibration
and predicted vs true (signal profiles of example windows: `dnanet.report.signal_plots`).

Curve figures take one-vs-rest columns: `truth` bool ``(N, K)`` and `scores` ``(N, K)`` (the
probabilities of the K classes or labels drawn, `names` ``K``). A column whose records are all
positive or all negative has no ROC or calibration curve (and no PR curve without positives); it
is named in the legend as such rather than drawn, so every class the report promises is
accounted for on the figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

CALIBRATION_BINS = 10
MAX_LABELLED_CELLS = 400  # a confusion matrix with more cells is drawn without numbers (unreadable)


def pyplot():
    """matplotlib's pyplot, drawing offline (Agg): no display is needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> None:
    """`figure` laid out, written to `path` as PNG (120 dpi) and closed (its memory freed)."""
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot().close(figure)


def _legend(axes, count: int) -> None:
    """A legend that stays readable with many classes: smaller and outside the axes past 8."""
    if count > 8:
        axes.legend(
            fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1), ncol=1 + count // 25
        )
    else:
        axes.legend(fontsize="small", loc="best")


def colours(count: int) -> list:
    """`count` distinct colours (tab10, or tab20 past 10; repeating past 20)."""
    cmap = pyplot().get_cmap("tab10" if count <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(count)]


def plot_history(
    history: list[dict],
    best_epoch: int,
    path: Path,
    metric_labels: dict[str, str] | None = None,
    baseline_loss: float | None = None,
) -> None:
    """Training and validation loss per epoch, then one panel per validation metric recorded
    (the ``val_*`` keys of `dnanet.training.loop.fit`'s records present, e.g. val_accuracy and
    val_auroc, or val_pearson and val_jsd), with the kept epoch (lowest validation loss) marked by
    a dashed line. `metric_labels`: a y-axis label per metric name (the key without ``val_``;
    default the name); `baseline_loss`: the validation loss of predicting the training split's
    prior (`dnanet.training.learning_check`), dotted on the loss panel."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    labels = metric_labels or {}
    epochs = [record["epoch"] for record in history]
    metric_keys = [key for key in history[0] if key.startswith("val_") and key != "val_loss"]
    figure, panels = plt.subplots(
        1, 1 + len(metric_keys), figsize=(4.2 * (1 + len(metric_keys)), 3.6), squeeze=False
    )
    loss = panels[0, 0]
    loss.plot(epochs, [r["train_loss"] for r in history], marker="o", ms=3, label="training")
    loss.plot(epochs, [r["val_loss"] for r in history], marker="o", ms=3, label="validation")
    if baseline_loss is not None:
        loss.axhline(
            baseline_loss, color="black", linestyle=":", linewidth=1, label="baseline (prior)"
        )
    loss.set_ylabel("loss")
    for axes, key in zip(panels[0, 1:], metric_keys):
        values = [np.nan if r[key] is None or r[key] == "" else float(r[key]) for r in history]
        axes.plot(epochs, values, marker="o", ms=3, color="tab:green")
        name = key.removeprefix("val_")
        axes.set_ylabel("validation " + labels.get(name, name))
    for axes in panels[0]:
        axes.axvline(
            best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept epoch {best_epoch}"
        )
        axes.set_xlabel("epoch")
        # whole epochs only, even for a run of one or two (MaxNLocator's integer ticks need
        # min_n_ticks integers in view, 2 by default, else it labels 0.96, 0.98, ...)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    loss.legend(fontsize="small")
    figure.suptitle(
        f"Training history (kept epoch {best_epoch}, lowest validation loss)", fontsize="medium"
    )
    save_figure(figure, path)


def _drawable(truth: np.ndarray, need_negatives: bool = True) -> str | None:
    """Why a one-vs-rest column has no curve, or None when it has one."""
    positives = int(truth.sum())
    if positives == 0:
        return "no positive records"
    if need_negatives and positives == len(truth):
        return "no negative records"
    return None


def plot_roc(
    truth: np.ndarray, scores: np.ndarray, names: list[str], path: Path, title: str
) -> None:
    """ROC curve per column (scikit-learn `roc_curve`), with its AUROC in the legend and the
    chance diagonal."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.4 if len(names) > 8 else 5.2, 4.8))
    for i, (name, colour) in enumerate(zip(names, colours(len(names)))):
        reason = _drawable(truth[:, i])
        if reason:
            axes.plot([], [], color=colour, label=f"{name}: {reason}")
            continue
        fpr, tpr, _ = skm.roc_curve(truth[:, i], scores[:, i])
        axes.plot(fpr, tpr, color=colour, label=f"{name} (AUROC {skm.auc(fpr, tpr):.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=title,
    )
    _legend(axes, len(names) + 1)
    save_figure(figure, path)


def plot_precision_recall(
    truth: np.ndarray, scores: np.ndarray, names: list[str], path: Path, title: str
) -> None:
    """Precision-recall curve per column (scikit-learn `precision_recall_curve`), with its
    average precision (AUPRC) and, dotted, the share of positives (a random model's precision)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.4 if len(names) > 8 else 5.2, 4.8))
    for i, (name, colour) in enumerate(zip(names, colours(len(names)))):
        reason = _drawable(truth[:, i], need_negatives=False)
        if reason:
            axes.plot([], [], color=colour, label=f"{name}: {reason}")
            continue
        precision, recall, _ = skm.precision_recall_curve(truth[:, i], scores[:, i])
        average = skm.average_precision_score(truth[:, i], scores[:, i])
        axes.step(
            recall, precision, where="post", color=colour, label=f"{name} (AUPRC {average:.3f})"
        )
        axes.axhline(truth[:, i].mean(), color=colour, linestyle=":", linewidth=0.8)
    axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision", title=title)
    _legend(axes, len(names))
    save_figure(figure, path)


def plot_calibration(
    truth: np.ndarray, scores: np.ndarray, names: list[str], path: Path, title: str
) -> None:
    """Reliability curve per column (scikit-learn `calibration_curve`, `CALIBRATION_BINS`
    equal-width bins of predicted probability): the observed share of positives against the mean
    predicted probability; a calibrated model lies on the diagonal. Below, how many records fall
    in each bin."""
    plt = pyplot()
    figure, (axes, counts) = plt.subplots(
        2,
        1,
        figsize=(6.4 if len(names) > 8 else 5.2, 6.0),
        gridspec_kw={"height_ratios": [3, 1]},
        sharex=True,
    )
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    for i, (name, colour) in enumerate(zip(names, colours(len(names)))):
        reason = _drawable(truth[:, i])
        if reason:
            axes.plot([], [], color=colour, label=f"{name}: {reason}")
            continue
        observed, predicted = calibration_curve(
            truth[:, i], np.clip(scores[:, i], 0, 1), n_bins=CALIBRATION_BINS
        )
        axes.plot(predicted, observed, marker="o", ms=3, color=colour, label=name)
        counts.stairs(np.histogram(np.clip(scores[:, i], 0, 1), edges)[0], edges, color=colour)
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="calibrated")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), ylabel="observed share of positives", title=title)
    counts.set(xlabel="predicted probability", ylabel="records")
    _legend(axes, len(names) + 1)
    save_figure(figure, path)


def plot_confusion(
    labels: np.ndarray, predicted: np.ndarray, names: list[str], path: Path, title: str
) -> None:
    """Confusion matrix of true class (rows) against predicted class (columns), counts of
    records (scikit-learn `confusion_matrix`); numbers are written in the cells unless there are
    more than `MAX_LABELLED_CELLS`."""
    plt = pyplot()
    matrix = skm.confusion_matrix(labels, predicted, labels=list(range(len(names))))
    side = min(4.0 + 0.45 * len(names), 16.0)
    figure, axes = plt.subplots(figsize=(side + 1.0, side))
    display = skm.ConfusionMatrixDisplay(matrix, display_labels=names)
    display.plot(
        ax=axes,
        cmap="Blues",
        colorbar=False,
        values_format="d",
        include_values=matrix.size <= MAX_LABELLED_CELLS,
        xticks_rotation="vertical" if len(names) > 4 else "horizontal",
    )
    figure.colorbar(display.im_, ax=axes, shrink=0.8, label="records")
    axes.set(xlabel="predicted class", ylabel="true class", title=title)
    save_figure(figure, path)


def plot_label_confusions(
    truth: np.ndarray, predicted: np.ndarray, names: list[str], path: Path, title: str
) -> None:
    """Multilabel: one 2 x 2 confusion matrix per label (scikit-learn
    `multilabel_confusion_matrix`; threshold 0.5), true (rows) against predicted (columns)."""
    plt = pyplot()
    matrices = skm.multilabel_confusion_matrix(truth, predicted)
    columns = min(4, len(names))
    rows = math.ceil(len(names) / columns)
    figure, panels = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.9 * rows), squeeze=False)
    for axes, name, matrix in zip(panels.flat, names, matrices):
        skm.ConfusionMatrixDisplay(matrix, display_labels=["no", "yes"]).plot(
            ax=axes, cmap="Blues", colorbar=False, values_format="d"
        )
        axes.set_title(name, fontsize="medium")
        axes.set(xlabel="predicted", ylabel="true")
    for axes in list(panels.flat)[len(names) :]:
        axes.set_visible(False)
    figure.suptitle(title, fontsize="medium")
    save_figure(figure, path)


def plot_predicted_vs_true(
    targets: np.ndarray,
    values: np.ndarray,
    names: list[str],
    path: Path,
    title: str,
    quantity: str = "",
    baseline: list[float] | None = None,
) -> None:
    """Regression (and signal counts): one scatter panel per target ``(N, T)``, predicted against
    true value, with the identity line and the Pearson r and MSE in the panel title. `quantity`
    names what the values are on the axes, then 'observed' against 'predicted' (e.g. 'log(1 +
    reads)'; default: 'true' against 'predicted' in the data's units);
    `baseline` ``(T,)``: a constant prediction (the training mean), dashed, that the points must
    beat."""
    plt = pyplot()
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    size = (max(4.4 * columns, 6.0), 4.2 * rows)  # one panel: room for the figure's title
    figure, panels = plt.subplots(rows, columns, figsize=size, squeeze=False)
    alpha = float(np.clip(300 / max(len(targets), 1), 0.05, 0.8))
    observed, predicted = ("true ", "predicted ")
    if quantity:
        observed, predicted = f"observed {quantity}, ", f"predicted {quantity}, "
    for i, (axes, name) in enumerate(zip(panels.flat, names)):
        truth, guess = targets[:, i].astype(np.float64), values[:, i].astype(np.float64)
        axes.scatter(truth, guess, s=6, alpha=alpha, linewidths=0, rasterized=True)
        low, high = np.nanmin([truth.min(), guess.min()]), np.nanmax([truth.max(), guess.max()])
        axes.plot([low, high], [low, high], color="grey", linestyle=":", linewidth=1)
        if baseline is not None:
            axes.axhline(
                baseline[i],
                color="tab:red",
                linestyle="--",
                linewidth=1,
                label=f"baseline: training mean {baseline[i]:.3g}",
            )
            axes.legend(fontsize="small", loc="upper left")
        varied = len(truth) > 1 and truth.std() > 0 and guess.std() > 0
        r = f"r {np.corrcoef(truth, guess)[0, 1]:.3f}" if varied else "r undefined"
        axes.set(
            xlabel=observed + name,
            ylabel=predicted + name,
            title=f"{name}: {r}, MSE {np.mean((truth - guess) ** 2):.4g}, n {len(truth)}",
        )
        axes.title.set_fontsize("medium")
    for axes in list(panels.flat)[len(names) :]:
        axes.set_visible(False)
    figure.suptitle(title, fontsize="medium")
    save_figure(figure, path)
