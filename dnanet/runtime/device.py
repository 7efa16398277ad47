"""The device a command runs on: CUDA when present (or the one named), CPU threads, and for
inference the allocator setting that keeps a model's per-batch activations cheap."""

from __future__ import annotations

import ctypes
import os
import platform

import torch

from dnanet.errors import DnanetError
from dnanet.runtime.threads import use_threads


def resolve_device(name: str | None = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when present, else CPU; otherwise the named device."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def prepare_device(threads: int | None, device: str, inference: bool = True) -> torch.device:
    """Threads, the allocator (`keep_freed_memory`, for `inference` work) and the device for work
    that runs a model; returns the device. A device that does not exist here is a DnanetError
    naming ``--device``."""
    if inference:
        keep_freed_memory()
    use_threads(threads)
    try:
        resolved = resolve_device(device)
    except RuntimeError as error:
        raise DnanetError(f"--device {device}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DnanetError(f"--device {device}: CUDA is not available on this machine")
    return resolved


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed blocks of up to 32 MiB for reuse instead of returning them to
    the system: a model's activations are allocated and freed every batch, and with glibc's
    defaults each time costs fresh pages. Measured predicting 4,000 x 1 kbp (CNN, batches capped
    at `dnanet.data.loaders.BATCH_BASES`): 2.9 s of kernel time with glibc's defaults, 0.3 s with
    these; memory stayed flat over 240,000 records. Inference commands only: in `train` the same
    settings let anonymous memory grow through every validation pass (1.0-1.5 GB after 100,000
    validation records, 0.44 GB without). The same as MALLOC_MMAP_THRESHOLD_=33554432 and
    MALLOC_TRIM_THRESHOLD_=134217728 in the environment, which win when set. No-op off glibc."""
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(m_mmap_threshold, 32 << 20)
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        libc.mallopt(m_trim_threshold, 128 << 20)
