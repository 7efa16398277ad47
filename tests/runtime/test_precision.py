"""dnanet.runtime.precision: the arithmetic each device gets (float32 on the CPU unless asked, bf16
or fp16 autocast on CUDA), and the settings no device can run."""

from __future__ import annotations

import pytest
import torch

from dnanet.errors import DnanetError
from dnanet.runtime.precision import Precision, choose_precision, precision_for

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "device_type, bf16, setting, expected",
    [
        (
            "cpu",
            True,
            "auto",
            "fp32",
        ),  # the CPU stays float32 unless asked: its results are unchanged
        ("cpu", False, "fp32", "fp32"),
        ("cpu", False, "bf16", "bf16"),
        ("cuda", True, "auto", "bf16"),  # Ampere and later: no loss scaling needed
        ("cuda", False, "auto", "fp16"),  # older GPUs: fp16 with a GradScaler
        ("cuda", True, "fp32", "fp32"),
        ("cuda", True, "fp16", "fp16"),
    ],
)
def test_precision_choice_per_device(device_type, bf16, setting, expected):
    assert choose_precision(device_type, bf16, setting) == expected
    assert Precision(expected, device_type).scaled == (expected == "fp16")


@pytest.mark.parametrize(
    "device_type, bf16, setting, message",
    [
        ("cpu", True, "fp16", "fp16 needs a CUDA GPU"),
        ("cuda", False, "bf16", "no native bfloat16"),
        ("cuda", True, "half", "unknown train.precision 'half'; valid: auto, fp32, bf16, fp16"),
    ],
)
def test_impossible_precisions_are_refused(device_type, bf16, setting, message):
    with pytest.raises(DnanetError, match=message):
        choose_precision(device_type, bf16, setting)


def test_precision_for_a_cpu_device():
    assert (
        precision_for(CPU) == Precision("fp32", "cpu") and precision_for(CPU, "bf16").name == "bf16"
    )
    assert not Precision().grad_scaler().is_enabled()
