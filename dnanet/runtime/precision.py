"""Numeric precision per device: float32 on the CPU, automatic mixed precision on CUDA.

On a CUDA GPU the forward pass and the loss run under ``torch.autocast``: matrix products and
convolutions in 16-bit floats, reductions, norms and softmax in float32; the weights, AdamW's
state and the gradients stay float32. ``bf16`` (bfloat16) where the GPU has it natively (Ampere
and later): float32's exponent range, so small gradients do not underflow and no loss scaling is
needed. Other GPUs get ``fp16``, whose narrow range flushes small gradients to zero unless the
loss is scaled up first: a `torch.amp.GradScaler` does that and skips a step whose gradients
overflowed. (PyTorch runs cuDNN's LSTM in fp16 under either autocast; its states are bounded by
tanh.) On the CPU everything stays float32 and nothing is wrapped, so CPU results are
bit-identical to what they were before AMP existed (seeded runs, resumes, batch-size invariance).

``train.precision`` (configs/*.yaml) picks: ``auto`` (the above), ``fp32`` (no autocast, also on
CUDA), ``bf16`` (also on the CPU, where torch's autocast supports it) or ``fp16`` (CUDA only).
Inference (`dnanet.inference.predict.predict_batch`, `dnanet.inference.embed`) takes the ``auto``
choice of its device.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager

import torch

from dnanet.errors import DnanetError

SETTINGS = ("auto", "fp32", "bf16", "fp16")

# The most a probability (or an activated output) computed on CUDA at this precision may differ
# from the CPU's float32 one for the same weights and sequences (scripts/gpu_check.py checks it).
# bf16 keeps 8 significant bits, fp16 11; "fp32" on CUDA still runs convolutions in TF32 (cuDNN's
# default, 11 bits), hence the same bound as fp16.
TOLERANCE = {"fp32": 1e-2, "fp16": 1e-2, "bf16": 2e-2}

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """The precision a model runs at: ``name`` fp32, bf16 or fp16, on ``device_type`` cpu or
    cuda."""

    name: str = "fp32"
    device_type: str = "cpu"

    @property
    def scaled(self) -> bool:
        """Whether training scales the loss (fp16: its gradients would underflow otherwise)."""
        return self.name == "fp16"

    def autocast(self) -> ContextManager:
        """A context that runs the forward pass at this precision (fp32: a no-op context)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=_DTYPES[self.name])

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16: disabled, its scale/step/update are plain
        backward/step calls (the CPU's arithmetic is unchanged)."""
        if not hasattr(
            torch.amp, "GradScaler"
        ):  # torch < 2.3: only CUDA's (fp16 is CUDA-only here)
            return torch.cuda.amp.GradScaler(enabled=self.scaled)
        return torch.amp.GradScaler(self.device_type, enabled=self.scaled)


def choose_precision(device_type: str, bf16_supported: bool, setting: str = "auto") -> str:
    """The precision name (fp32, bf16, fp16) for a device type ("cpu", "cuda", ...), whether
    that device has native bfloat16, and a ``train.precision`` setting (see `SETTINGS`)."""
    if setting not in SETTINGS:
        raise DnanetError(f"unknown train.precision '{setting}'; valid: {', '.join(SETTINGS)}")
    if device_type != "cuda":
        if setting == "fp16":
            raise DnanetError("train.precision fp16 needs a CUDA GPU (on the CPU use fp32 or bf16)")
        return "bf16" if setting == "bf16" else "fp32"
    if setting == "auto":
        return "bf16" if bf16_supported else "fp16"
    if setting == "bf16" and not bf16_supported:
        raise DnanetError(
            "train.precision bf16: this GPU has no native bfloat16 (it needs compute capability "
            "8.0, Ampere, or later); use fp16 or auto"
        )
    return setting


def precision_for(device: torch.device, setting: str = "auto") -> Precision:
    """The `Precision` of `device` under a ``train.precision`` setting."""
    bf16 = device.type == "cuda" and _native_bf16(device)
    return Precision(choose_precision(device.type, bf16, setting), device.type)


def _native_bf16(device: torch.device) -> bool:
    """Whether a CUDA device computes in bfloat16 natively (not emulated, which is slow)."""
    with torch.cuda.device(device):
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4 has no emulation flag: its answer is the native one
            return torch.cuda.is_bf16_supported()
