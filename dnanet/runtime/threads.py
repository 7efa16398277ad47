"""CPU threads: the one place a ``--threads`` choice (or a search's ``threads``) reaches torch."""

from __future__ import annotations


def use_threads(threads: int | None) -> None:
    """Run torch's CPU operations on `threads` threads; ``None`` or 0 keeps torch's default (one
    per core). Several processes sharing a machine (tuning jobs, array jobs) each take a share."""
    if threads:
        import torch

        torch.set_num_threads(threads)
