"""Shards: one contiguous block of a stream of records, for job arrays (``--shard K/N``) and for
the ranks of torchrun (each takes its rank's shard)."""

from __future__ import annotations

import re
from typing import NamedTuple

from dnanet.errors import DnanetError


class Shard(NamedTuple):
    """Shard `index` (0-based) of `count`: one contiguous block of the input records, numbered
    0.. across all input files in order. Of T records, shard k holds numbers
    ``k * T // count`` up to (not including) ``(k + 1) * T // count``: blocks differ by at most
    one record, and the shards' outputs laid end to end in shard order are the records in input
    order (so a job array's outputs concatenate with `cat`). Written ``K/N`` with K from 1."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"K/N"`` (1 <= K <= N, e.g. ``"3/10"``, or ``$SLURM_ARRAY_TASK_ID/10`` with an array
        1-10)."""
        match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise DnanetError(
                f"--shard '{text}': expected K/N with 1 <= K <= N, e.g. 3/10 for the third of "
                "ten shards"
            )
        return cls(int(match[1]) - 1, int(match[2]))

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    @property
    def first(self) -> bool:
        return self.index == 0

    def records(self, total: int) -> range:
        """The record numbers of this shard among `total` records."""
        return range(self.index * total // self.count, (self.index + 1) * total // self.count)
