"""Many processes on PyTorch's own engine: `torchrun --nproc-per-node N -m dnanet train ...`.

torchrun starts N processes and tells each its RANK, LOCAL_RANK and WORLD_SIZE; `start` joins
them into one process group (NCCL on CUDA, gloo on the CPU; multi-node through torchrun's
rendezvous), each process trains a `DistributedDataParallel` copy of the model on its shard of
every epoch (`torch.utils.data.DistributedSampler`), gradients are averaged across processes,
and rank 0 alone prints and writes. Without torchrun (WORLD_SIZE unset or 1) nothing changes.

Inference (`predict`, `embed`, `variants`, `attribute`) splits the input instead: rank r of N
takes `dnanet.runtime.shards.Shard` r of N (a contiguous block of the records), writes its part of
the output to a hidden folder beside it, and rank 0 streams the parts in rank order into the one
output (`write_in_parts`; a TSV's parts with `write_tsv_in_parts`): memory stays flat however
large the input, and the output is the records in input order.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO

import torch

from dnanet.errors import DnanetError
from dnanet.runtime.shards import Shard


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

    @property
    def shard(self) -> Shard:
        """The block of the input records this process predicts: shard `rank` of `world_size`."""
        return Shard(self.rank, self.world_size)


def launched_processes() -> int:
    """How many processes torchrun started (its WORLD_SIZE; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_rank() -> int:
    """This process's rank among torchrun's processes (its RANK; 0 without torchrun), known before
    `start`: a command quietens its console on every rank but 0."""
    return int(os.environ.get("RANK", "0")) if launched_processes() > 1 else 0


def start(device: torch.device) -> tuple[Processes, torch.device]:
    """Join torchrun's process group when launched by it; return this process's place and the
    device it uses (``cuda:LOCAL_RANK`` on a GPU machine)."""
    world_size = launched_processes()
    if world_size <= 1:
        return Processes(), device
    if not torch.distributed.is_available():
        raise DnanetError("this torch build has no torch.distributed: run without torchrun")
    processes = Processes(
        int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0"))
    )
    if device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return processes, device


_KEEPING = [0]  # open `kept_group` blocks: stop() leaves the group to the outermost one


def stop() -> None:
    """Leave the process group (no-op when there is none, or inside `kept_group`)."""
    if _KEEPING[0]:
        return
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@contextmanager
def kept_group() -> Iterator[None]:
    """Keep one process group through several runs (an ensemble's members trained one after
    another): torchrun's store does not take a second default group in the same processes, so
    the group is left once, at the end of the block."""
    _KEEPING[0] += 1
    try:
        yield
    finally:
        _KEEPING[0] -= 1
        stop()


def per_process_batch(batch_size: int, processes: Processes) -> int:
    """The batch each process takes so that the global batch (all processes together) is
    `batch_size`."""
    if batch_size % processes.world_size:
        raise DnanetError(
            f"train.batch_size {batch_size} must be a multiple of the {processes.world_size} "
            "processes (the global batch is split evenly)"
        )
    return batch_size // processes.world_size


def write_in_parts(
    near: Path,
    processes: Processes,
    write_part: Callable[[Path], None],
    merge: Callable[[list[Path]], None],
) -> None:
    """Write one output from all processes without holding it in memory; every process calls this.

    Each process writes its part with `write_part(stem)` (files named `stem` plus suffixes of its
    choosing, in a hidden folder that rank 0 makes beside `near`: on several machines that folder
    must be on a file system they share). Once every process has finished, rank 0 alone calls
    `merge(stems)` with all stems in rank order, to stream the parts into the output. If any
    process fails, nothing is merged and every process raises (rank 0 with the failed process's
    message, for rank 0 alone prints); rank 0 removes the folder whatever happens.
    """
    from dnanet.files.outputs import parent_folders

    with parent_folders(near) if processes.is_main else nullcontext():
        folder = _shared_folder(near, processes)
        try:
            failure = _attempt(lambda: _write_part(folder, processes.rank, write_part))
            messages = _all_texts("" if failure is None else _describe(failure))
            if failure is not None:
                raise failure
            for rank, message in enumerate(messages):
                if message:
                    raise DnanetError(
                        f"process {rank} of {processes.world_size} failed, "
                        "so no output was written: "
                        f"{message}"
                    )
            if processes.is_main:
                merge([_stem(folder, rank) for rank in range(processes.world_size)])
        finally:
            if processes.is_main:
                shutil.rmtree(folder, ignore_errors=True)


def write_tsv_in_parts(
    near: Path,
    processes: Processes,
    write_rows: Callable[[TextIO], dict[str, int]],
    open_target: Callable[[], AbstractContextManager[BinaryIO]],
) -> dict[str, int]:
    """One TSV from all processes (`write_in_parts`); every process calls this.

    Each process writes its rows with ``write_rows(handle)`` into a text part (rank 0's part alone
    should begin with the header row, so the parts laid end to end are the table) and returns its
    counts (e.g. ``{"records": n}``, or rows per status), kept beside the part as JSON. Rank 0 then
    opens the output with ``open_target()`` (a context manager yielding a binary handle: an
    `dnanet.files.outputs.Output`'s temporary, or standard output), copies the parts into it in
    rank order, and adds up the counts key by key. Returns the counts of all processes on rank 0,
    this process's own elsewhere."""
    totals: dict[str, int] = {}

    def write_part(stem: Path) -> None:
        with open(stem.with_suffix(".tsv"), "w", newline="") as handle:
            counts = write_rows(handle)
        stem.with_suffix(".json").write_text(json.dumps(counts))
        totals.update(counts)

    def merge(stems: list[Path]) -> None:
        with open_target() as target:
            concatenate([stem.with_suffix(".tsv") for stem in stems], target)
        parts = [json.loads(stem.with_suffix(".json").read_text()) for stem in stems]
        totals.update({key: sum(part[key] for part in parts) for key in parts[0]})

    write_in_parts(near, processes, write_part, merge)
    return totals


def concatenate(parts: Iterable[Path], target: BinaryIO) -> None:
    """Copy the files `parts` into `target` one after another, in blocks (memory stays flat)."""
    for part in parts:
        with open(part, "rb") as source:
            shutil.copyfileobj(source, target, 1 << 20)


def _stem(folder: Path, rank: int) -> Path:
    return folder / f"part-{rank:05d}"


def _write_part(folder: Path, rank: int, write_part: Callable[[Path], None]) -> None:
    if not folder.is_dir():
        raise DnanetError(
            f"{folder}: made by process 0 but not seen by process {rank}; with several machines, "
            "write the output to a file system they share"
        )
    write_part(_stem(folder, rank))


def _shared_folder(near: Path, processes: Processes) -> Path:
    """A new hidden folder beside `near` (``.NAME.PID-XXXX.parts``,
    `dnanet.files.outputs.temporary_prefix`: the next run on `near` removes it if this one is
    killed), made by rank 0; every process gets its path."""
    from dnanet.files.outputs import temporary_prefix

    name, failure = "", None
    if processes.is_main:
        try:
            name = tempfile.mkdtemp(
                prefix=temporary_prefix(near), suffix=".parts", dir=near.absolute().parent
            )
        except OSError as error:
            failure = error
    name = _all_texts(name)[0]
    if failure is not None:
        raise failure
    if not name:
        raise DnanetError(
            f"{near}: process 0 could not make a folder beside it for the processes' parts"
        )
    return Path(name)


def _attempt(action: Callable[[], None]) -> BaseException | None:
    """Run `action`; return what it raised (Ctrl-C and SIGTERM included), so that every process
    still reaches the next collective call instead of leaving the others waiting in it."""
    try:
        action()
    except (Exception, KeyboardInterrupt) as error:
        return error
    return None


def _describe(failure: BaseException) -> str:
    """One line for another process to report."""
    if isinstance(failure, KeyboardInterrupt):
        return "interrupted"
    if isinstance(failure, DnanetError):
        return str(failure)
    if isinstance(failure, OSError):
        return f"{failure.filename + ': ' if failure.filename else ''}{failure.strerror or failure}"
    return f"{type(failure).__name__}: {failure}"


def _all_texts(text: str) -> list[str]:
    """Every process's `text`, in rank order: UTF-8 bytes through two all_gathers (sizes, then the
    bytes padded to the longest), so nothing is pickled."""
    world_size = torch.distributed.get_world_size()
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if torch.distributed.get_backend() == "nccl"
        else torch.device("cpu")
    )
    data = torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    torch.distributed.all_gather(sizes, size)
    padded = torch.zeros(max(1, *(int(s) for s in sizes)), dtype=torch.uint8)
    padded[: len(data)] = data
    padded = padded.to(device)
    gathered = [torch.zeros_like(padded) for _ in range(world_size)]
    torch.distributed.all_gather(gathered, padded)
    return [
        bytes(part[: int(s)].cpu().tolist()).decode("utf-8") for part, s in zip(gathered, sizes)
    ]
