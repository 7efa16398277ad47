"""Figures (matplotlib, drawn offline to PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_projection(vectors: np.ndarray, groups: list[str], path: Path, title: str) -> None:
    """Scatter the first two principal components of `vectors` ``(n, D)``, one colour per group
    (e.g. input file or class), and save a PNG to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    components = min(2, vectors.shape[1], len(vectors))
    pca = PCA(n_components=components, random_state=0)
    points = pca.fit_transform(vectors.astype(np.float64))
    if components < 2:
        points = np.pad(points, ((0, 0), (0, 2 - components)))
    figure, axes = plt.subplots(figsize=(6.5, 5.5), dpi=120)
    for group in dict.fromkeys(groups):
        chosen = np.array([g == group for g in groups])
        axes.scatter(
            points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, label=f"{group} ({chosen.sum()})"
        )
    explained = [f"{100 * v:.1f}%" for v in pca.explained_variance_ratio_] + ["0%"] * (
        2 - components
    )
    axes.set_xlabel(f"PC1 ({explained[0]} of variance)")
    axes.set_ylabel(f"PC2 ({explained[1]} of variance)")
    axes.set_title(title)
    axes.legend(markerscale=3, fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
