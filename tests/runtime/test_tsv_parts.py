"""`dnanet.runtime.distributed.write_tsv_in_parts`, the one part-writer of predict and variants
under torchrun, with two real processes (gloo on the CPU): rank 0 puts the parts together in rank
order and adds up their counts; a failure in one process leaves no output and no parts."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from dnanet.runtime.distributed import Processes, write_tsv_in_parts

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)


def _process(rank: int, folder: str, fail_on: int | None) -> None:
    """One of two processes: rows ``rank r row i`` (rank 0's after the header), counts per rank;
    what it returned or raised goes to ``result.RANK.json``."""
    folder = Path(folder)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank, world_size=2
    )
    out = folder / "out" / "table.tsv"

    def rows(handle) -> dict[str, int]:
        if rank == fail_on:
            raise ValueError("no rows here")
        if rank == 0:
            handle.write("name\tvalue\n")
        for i in range(rank + 2):
            handle.write(f"rank {rank} row {i}\t{i}\n")
        return {"rows": rank + 2, "ranks": 1}

    @contextlib.contextmanager
    def target():
        out.parent.mkdir(exist_ok=True)
        with open(out, "wb") as handle:
            yield handle

    try:
        result = {"counts": write_tsv_in_parts(out, Processes(rank, 2), rows, target)}
    except Exception as error:  # reported to the test
        result = {"error": f"{type(error).__name__}: {error}"}
    finally:
        torch.distributed.destroy_process_group()
    (folder / f"result.{rank}.json").write_text(json.dumps(result))


def _run(folder: Path, fail_on: int | None = None) -> list[dict]:
    mp.spawn(_process, args=(str(folder), fail_on), nprocs=2, join=True)
    return [json.loads((folder / f"result.{rank}.json").read_text()) for rank in (0, 1)]


def test_rank_0_puts_the_parts_together_in_rank_order_and_adds_up_the_counts(tmp_path):
    zero, one = _run(tmp_path)
    assert zero == {"counts": {"rows": 5, "ranks": 2}}  # every process's
    assert one == {"counts": {"rows": 3, "ranks": 1}}  # its own
    assert (tmp_path / "out" / "table.tsv").read_text() == (
        "name\tvalue\nrank 0 row 0\t0\nrank 0 row 1\t1\n"
        "rank 1 row 0\t0\nrank 1 row 1\t1\nrank 1 row 2\t2\n"
    )
    assert not list((tmp_path / "out").glob(".*parts"))


def test_a_failure_in_one_process_writes_nothing_and_every_process_raises(tmp_path):
    (tmp_path / "out").mkdir()
    zero, one = _run(tmp_path, fail_on=1)
    assert zero["error"] == (
        "DnanetError: process 1 of 2 failed, so no output was written: ValueError: no rows here"
    )
    assert one["error"] == "ValueError: no rows here"
    assert list((tmp_path / "out").iterdir()) == []  # no output, no parts folder
