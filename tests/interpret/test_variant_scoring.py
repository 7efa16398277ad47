"""Variant windows scored with shared computation (repeated windows once, SNVs as mutants of
their reference) equal every window predicted in full, on a trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.examples import __file__ as examples_init
from dnanet.inputs.read import read_fasta
from dnanet.interpret.variant_scoring import pair_scorer
from dnanet.runs.load import load_run


def test_shared_pairs_equal_full_predictions(trained_run):
    run = load_run(trained_run)
    path = Path(examples_init).parent / "ctcf" / "heldout_bound.fa"
    windows = [record.sequence.upper() for _, record in zip(range(6), read_fasta(path))]

    def snv(window: bytes, at: int) -> bytes:
        base = b"A" if window[at : at + 1] != b"A" else b"G"
        return window[:at] + base + window[at + 1 :]

    refs = [windows[0], windows[0], windows[1], windows[2], windows[3], windows[4]]
    alts = [
        snv(windows[0], 100),  # a SNV at a site's centre
        snv(windows[0], 0),  # the same reference window again, its first base changed
        snv(windows[1], len(windows[1]) - 1),  # the last base
        windows[2][:99] + b"T" + windows[2][101:],  # a deletion: predicted in full
        windows[5],  # many differences: predicted in full
        snv(windows[4], 57),
    ]
    score = pair_scorer(run.model, run.record, run.task, 64)
    ref, alt = score(refs, alts)
    full_ref, full_alt = pair_scorer(run.model, run.record, run.task, 64, shared=False)(refs, alts)
    assert ref.shape == alt.shape == (1, len(refs), len(run.task.names))
    assert np.abs(ref - full_ref).max() < 1e-5 and np.abs(alt - full_alt).max() < 1e-5
    assert np.array_equal(ref[0, 0], ref[0, 1])  # a repeated window is one prediction
    assert np.abs(alt - ref).max() > 0.01  # the variants move the outputs: not a test of zeros
