"""Recover a known truth with every model family: synthetic coverage whose rates planted CTCF
sites set (`dnanet.synthetic.coverage`), a profile model per family trained with chr2 held out,
scored against the rates the generator knows (`dnanet.synthetic.signal_truth`).

    python scripts/signal_truth.py --out signal-truth [--models cnn lstm transformer]
        [--peaks 600] [--epochs 15] [--json results.json]

Prints a Markdown table: Pearson of predicted log counts with the true rates and the noise
ceiling (the observed reads' own Pearson with the rates), with the observed reads, the median
distance in bases of the predicted profile's peak from the planted site, the share within 10
bases, the mean predicted log2 fold change when the site's six central bases are complemented
(and the share of sites it lowers), the same change half a window away, and seconds per epoch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = (
    ("model", "model", "{}"),
    ("test_windows", "test windows", "{}"),
    ("pearson_truth", "Pearson with rates", "{:.3f}"),
    ("ceiling", "noise ceiling", "{:.3f}"),
    ("pearson_observed", "Pearson with reads", "{:.3f}"),
    ("peak_offset_median", "peak offset (bp, median)", "{:.1f}"),
    ("peak_within_10", "peaks within 10 bp", "{:.2f}"),
    ("variant_lfc_mean", "site variant log2FC", "{:.2f}"),
    ("variant_lower", "sites lowered", "{:.2f}"),
    ("control_lfc_mean", "variant away log2FC", "{:.2f}"),
    ("seconds_per_epoch", "s/epoch", "{:.1f}"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the data and runs")
    parser.add_argument("--models", nargs="+", default=["cnn", "lstm", "transformer"])
    parser.add_argument("--peaks", type=int, default=600, help="planted sites (peaks)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the scores here")
    arguments = parser.parse_args()
    from dnanet.synthetic.signal_truth import check_signal_truth

    scores = [
        check_signal_truth(
            arguments.out,
            model,
            peaks=arguments.peaks,
            epochs=arguments.epochs,
            seed=arguments.seed,
        ).to_dict()
        for model in arguments.models
    ]
    print("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in scores:
        print("| " + " | ".join(form.format(row[key]) for key, _, form in COLUMNS) + " |")
    if arguments.json:
        arguments.json.write_text(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
