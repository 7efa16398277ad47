"""Many processes on PyTorch's own engine: `torchrun --nproc-per-node N -m dnanet train ...`.

torchrun starts N processes and tells each its RANK, LOCAL_RANK and WORLD_SIZE; `start` joins
them into one process group (NCCL on CUDA, gloo on the CPU; multi-node through torchrun's
rendezvous), each process trains a `DistributedDataParallel` copy of the model on its shard of
every epoch (`torch.utils.data.DistributedSampler`), gradients are averaged across processes,
and rank 0 alone prints and writes. Without torchrun (WORLD_SIZE unset or 1) nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from dnanet.errors import DnanetError


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (rank 0 of 1 when alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def start(device: torch.device) -> tuple[Processes, torch.device]:
    """Join torchrun's process group when launched by it; return this process's place and the
    device it uses (``cuda:LOCAL_RANK`` on a GPU machine)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Processes(), device
    if not torch.distributed.is_available():
        raise DnanetError("this torch build has no torch.distributed: run without torchrun")
    processes = Processes(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return processes, device


def stop() -> None:
    """Leave the process group (no-op when there is none)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def per_process_batch(batch_size: int, processes: Processes) -> int:
    """The batch each process takes so that the global batch (all processes together) is `batch_size`."""
    if batch_size % processes.world_size:
        raise DnanetError(f"train.batch_size {batch_size} must be a multiple of the {processes.world_size} "
                          "processes (the global batch is split evenly)")
    return batch_size // processes.world_size
