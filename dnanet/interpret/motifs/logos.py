"""Sequence logos of `dnanet motifs` (logomaker, offline PNG): logos/<motif>.png for each motif
and logos/<motif>_match.png for its best known motif, drawn in the orientation TomTom matched
it and numbered so that aligned columns share a position (the learned motif is 1..W). Letters
are the inputs' (A C G U for RNA) and the database's; x-axes show whole positions only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.interpret.motifs.alphabet import consensus
from dnanet.interpret.motifs.select import FoundMotif


def draw_logo(
    path: Path, pwm: np.ndarray, title: str, letters: str = "ACGT", first: int = 1
) -> None:
    """An information-content logo of `pwm` ``(4, W)`` (rows in `letters` order) as PNG, its
    columns numbered from `first`, with whole-number ticks."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    frame = pd.DataFrame(pwm.T, columns=list(letters), index=np.arange(first, first + pwm.shape[1]))
    information = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    figure, axis = plt.subplots(figsize=(max(3.0, 0.4 * pwm.shape[1]), 1.8))
    logomaker.Logo(information, ax=axis, color_scheme="classic")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(pwm.shape[1], 12)))
    axis.set_ylim(0, 2)
    axis.set_ylabel("bits")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def match_logo_name(motif: FoundMotif) -> str:
    """File name (under logos/) of the logo of `motif`'s best known motif."""
    return f"{motif.id}_match.png"


def write_logos(folder: Path, motifs: list[FoundMotif], letters: str = "ACGT") -> None:
    """logos/<id>.png for each motif and logos/<id>_match.png for each best known motif."""
    (folder / "logos").mkdir(exist_ok=True)
    for m in motifs:
        draw_logo(
            folder / "logos" / f"{m.id}.png", m.pwm, f"{m.id}  {consensus(m.pwm, letters)}", letters
        )
        match = m.match
        if match is not None and match.pwm is not None:
            strand = " (reverse complement)" if match.strand == "-" else ""
            draw_logo(
                folder / "logos" / match_logo_name(m),
                match.pwm,
                f"{match.name} {match.id}{strand}  q={match.q:.2g}",
                match.letters,
                1 - match.offset,
            )
