"""Figures of the `dnanet.bottleneck` experiment (matplotlib, drawn offline to PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.bottleneck.experiment import CellResult, h1_bound


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_capacity(results: list[CellResult], path: Path, subtitle: str) -> None:
    """Accuracy against N (log axis), one line per hidden size H (mean over seeds; dots: each seed),
    with the one-unit bound 2/(N-1) dashed. Saved as a PNG to `path`."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.8), dpi=120)
    ns = sorted({r.n for r in results})
    for hidden in sorted({r.hidden for r in results}):
        cells = [r for r in results if r.hidden == hidden]
        sizes = sorted({r.n for r in cells})
        means = [np.mean([r.accuracy for r in cells if r.n == n]) for n in sizes]
        (line,) = axes.plot(sizes, means, marker="o", label=f"H = {hidden}")
        axes.scatter(
            [r.n for r in cells],
            [r.accuracy for r in cells],
            s=10,
            alpha=0.5,
            color=line.get_color(),
        )
    bound = [n for n in ns if n >= 4]
    if bound:
        axes.plot(bound, [h1_bound(n) for n in bound], "k--", lw=1, label="2/(N-1): H = 1 bound")
    axes.set_xscale("log")
    axes.set_xlabel("N tokens (N - 1 training pairs n -> n + 1)")
    axes.set_ylabel("training accuracy")
    axes.set_ylim(-0.02, 1.05)
    axes.set_title(f"What H tanh units can hold\n{subtitle}", fontsize="medium")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def plot_network(cell: CellResult, path: Path) -> None:
    """A learned H = 2 network: left, the graph (edge colour = sign, width = |weight|, input ->
    hidden weights written at the inputs, hidden -> output weights at the outputs); right, each
    input's hidden activation in the tanh square with the output weight vectors (output m wins
    where its vector has the largest projection, plus its bias). Saved as a PNG to `path`."""
    plt = _pyplot()
    n, hidden = cell.w1.shape
    figure, (graph, plane) = plt.subplots(
        1, 2, figsize=(12, max(5.0, 0.28 * n)), dpi=110, gridspec_kw={"width_ratios": [1.3, 1]}
    )
    ys = np.linspace(1, 0, n)
    hy = np.linspace(0.65, 0.35, hidden)
    scale = max(np.abs(cell.w1).max(), np.abs(cell.w2).max(), 1e-9)
    for i in range(n):
        for h in range(hidden):
            for x0, y0, x1, y1, w in (
                (0, ys[i], 1, hy[h], cell.w1[i, h]),
                (1, hy[h], 2, ys[i], cell.w2[h, i]),
            ):
                graph.plot(
                    [x0, x1],
                    [y0, y1],
                    color="tab:red" if w > 0 else "tab:blue",
                    lw=0.3 + 2.5 * abs(w) / scale,
                    alpha=0.6,
                )
        graph.text(
            -0.05,
            ys[i],
            f"{i}  " + " ".join(f"{w:+.1f}" for w in cell.w1[i]),
            ha="right",
            va="center",
            fontsize=7,
        )
        graph.text(
            2.05,
            ys[i],
            " ".join(f"{w:+.1f}" for w in cell.w2[:, i]) + f"  {i}",
            ha="left",
            va="center",
            fontsize=7,
        )
    graph.scatter(
        [0] * n + [1] * hidden + [2] * n, list(ys) + list(hy) + list(ys), s=25, color="k", zorder=3
    )
    graph.set_xlim(-1.1, 3.1)
    graph.axis("off")
    graph.set_title(
        f"H = 2, N = {cell.n}, seed {cell.seed}: accuracy {cell.accuracy:.3f}\n"
        "inputs (w1) -> tanh -> outputs (w2); red +, blue -",
        fontsize="medium",
    )
    points = np.tanh(cell.w1 + cell.b1)  # (n, 2)
    plane.scatter(points[:-1, 0], points[:-1, 1], s=15, color="k")
    for i, (x, y) in enumerate(points[:-1]):
        plane.annotate(str(i), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    directions = cell.w2.T / max(np.linalg.norm(cell.w2.T, axis=1).max(), 1e-9)  # (n, 2)
    for m, (dx, dy) in enumerate(directions):
        plane.plot([0, dx], [0, dy], color="tab:orange", lw=0.8, alpha=0.7)
        plane.annotate(str(m), (dx, dy), fontsize=7, color="tab:orange")
    plane.set_xlim(-1.15, 1.15)
    plane.set_ylim(-1.15, 1.15)
    plane.set_aspect("equal")
    plane.set_xlabel("hidden unit 1 (tanh)")
    plane.set_ylabel("hidden unit 2 (tanh)")
    plane.set_title(
        "inputs' hidden values (black, input n)\nand output weight directions (orange, output m)",
        fontsize="medium",
    )
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
