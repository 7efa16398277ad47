"""Shared CNN computation (dnanet.models.sharing) gives the model's own outputs: mutants and
track windows against full passes, over the shapes a CNN config can take."""

from __future__ import annotations

import pytest
import torch

from dnanet.models.cnn import CNN
from dnanet.models.lstm import LSTM
from dnanet.models.sharing import (
    mutant_logits,
    phase_period,
    shares_computation,
    window_logits,
)
from dnanet.models.sharing import windows as shared_windows

SHAPES = [
    {},  # the shipped shape without position bins
    {"position_bins": 8},  # the shipped CNN config
    {"first_kernel": 14, "kernel": 4, "layers": 4, "pool": 3, "position_bins": 3},
    {"layers": 1, "position_bins": 5},
    {"first_kernel": 1, "kernel": 1, "position_bins": 2},
]


def trained_looking(arguments: dict) -> CNN:
    """A CNN in eval mode whose batch norms hold non-trivial statistics, as after training."""
    torch.manual_seed(0)
    model = CNN(3, channels=32, hidden=16, **arguments).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("arguments", SHAPES)
@pytest.mark.parametrize("length", [200, 37])
def test_mutants_equal_full_passes(arguments, length):
    model = trained_looking(arguments)
    generator = torch.Generator().manual_seed(length)
    codes = torch.randint(0, 5, (3, length), generator=generator, dtype=torch.uint8)  # N too
    sources = torch.arange(3).repeat_interleave(length)
    positions = torch.arange(length).repeat(3)  # every position, the ends included
    bases = torch.randint(0, 4, (3 * length,), generator=generator)
    mutants = codes[sources].clone()
    mutants[torch.arange(len(sources)), positions] = bases.to(torch.uint8)
    with torch.no_grad():
        expected, own = model(mutants), model(codes)
        found, found_own = mutant_logits(model, codes, sources, positions, bases)
    assert torch.allclose(found, expected, atol=1e-5, rtol=0)
    assert torch.allclose(found_own, own, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arguments", SHAPES)
@pytest.mark.parametrize(("width", "step"), [(200, 1), (200, 7), (37, 3), (61, 50)])
def test_windows_equal_full_passes(arguments, width, step, monkeypatch):
    monkeypatch.setattr(shared_windows, "STRETCH_BASES", 400)  # several sources per phase
    model = trained_looking(arguments)
    stretch = torch.randint(0, 5, (1500,), generator=torch.Generator().manual_seed(width))
    stretch = stretch.to(torch.uint8)
    starts = torch.arange(0, len(stretch) - width + 1, step)
    starts = starts[torch.rand(len(starts), generator=torch.Generator().manual_seed(1)) > 0.1]
    windows = torch.stack([stretch[start : start + width] for start in starts.tolist()])
    with torch.no_grad():
        expected = model(windows)
        found = window_logits(model, stretch, starts, width)
    assert torch.allclose(found, expected, atol=1e-5, rtol=0)


def test_only_one_hot_cnns_share():
    assert shares_computation(CNN(2)) and phase_period(CNN(2, layers=3, pool=2)) == 4
    assert not shares_computation(CNN(2, encoder="kmer", k=3))
    assert not shares_computation(LSTM(2))
