"""A track's windows through the shared path equal the per-window path on a trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnanet.examples import __file__ as examples_init
from dnanet.inference.windows import sharing_reason, window_predictor
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.runs.load import load_run


def example_stretch() -> np.ndarray:
    """The bundled CTCF example's bound sequences end to end, as codes: a stretch with sites."""
    text = (Path(examples_init).parent / "ctcf" / "heldout_bound.fa").read_bytes()
    bases = b"".join(line for line in text.splitlines()[:80] if not line.startswith(b">"))
    return np.frombuffer(bases.translate(BYTE_TO_CODE), dtype=np.uint8)


def test_shared_windows_equal_per_window_outputs(trained_run):
    run = load_run(trained_run)
    assert sharing_reason(run) == ""  # the shipped CNN shares
    codes = example_stretch()
    width = 200  # the example's record length
    for step in (1, 13):
        starts = np.arange(0, len(codes) - width + 1, step)
        shared = window_predictor(run, width, 256)(codes, starts)
        alone = window_predictor(run, width, 256, shared=False)(codes, starts)
        assert shared.shape == alone.shape == (len(starts), len(run.task.names))
        assert np.abs(shared - alone).max() < 1e-5


def test_families_that_cannot_share_say_why():
    from types import SimpleNamespace

    from dnanet.models.cnn import CNN
    from dnanet.models.lstm import LSTM

    assert sharing_reason(SimpleNamespace(model=CNN(2))) == ""
    said = sharing_reason(SimpleNamespace(model=LSTM(2)))
    assert said.startswith("an LSTM sees the whole window") and "one by one" in said
    assert "k-mers" in sharing_reason(SimpleNamespace(model=CNN(2, encoder="kmer", k=3)))
