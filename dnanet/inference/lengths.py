"""Records whose length the model never saw in training.

A CNN trained on 200-base windows takes a 30-base or a 5,000-base record without complaint, and
its output there is an extrapolation: the same CTCF site scored anywhere from 0.72 to 0.998 as the
record around it grew. A run records the shortest and longest of its training records
(model.json ``training_lengths``); `LengthWatch` sees every batch a command predicts and, at the
end, says how many records fell outside that range and what the model saw, or, with
``strict`` (``--strict-lengths``), refuses the first such record before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from dnanet.errors import DnanetError
from dnanet.runs.load import Run


@dataclass
class LengthWatch:
    """Counts the records outside ``[shortest, longest]`` bases over the batches it is shown."""

    run: str
    shortest: int
    longest: int
    strict: bool = False
    seen: int = 0
    outside: int = 0
    low: int | None = None  # the shortest and longest record outside the range
    high: int | None = None
    first: str = ""  # the first such record's id

    @classmethod
    def for_run(cls, run: Run, strict: bool = False) -> "LengthWatch | None":
        """The watch of `run`'s training lengths (None for a run made before they were kept)."""
        lengths = run.training_lengths
        if lengths is None:
            return None
        return cls(str(run.folder), lengths[0], lengths[1], strict)

    def trained_on(self) -> str:
        if self.shortest == self.longest:
            return f"records of {self.shortest:,} bases"
        return f"records of {self.shortest:,} to {self.longest:,} bases"

    def observe(
        self, ids: Sequence[str], lengths: np.ndarray, files: Sequence[str] | None = None
    ) -> None:
        """Count one batch: record ids and lengths int ``(B,)``; `files`: each record's input
        file, for the message. With `strict`, the first record outside the range is a
        `DnanetError`."""
        lengths = np.asarray(lengths)
        outside = (lengths < self.shortest) | (lengths > self.longest)
        self.seen += len(lengths)
        if not outside.any():
            return
        index = int(np.flatnonzero(outside)[0])
        if self.strict:
            raise DnanetError(
                f"{files[index] + ': ' if files else ''}record '{ids[index]}' has "
                f"{int(lengths[index]):,} bases; {self.run} was trained on {self.trained_on()} "
                "(--strict-lengths refuses others; cut or pad records to that length, or drop "
                "the option to predict anyway)"
            )
        wrong = lengths[outside]
        self.low = int(wrong.min()) if self.low is None else min(self.low, int(wrong.min()))
        self.high = int(wrong.max()) if self.high is None else max(self.high, int(wrong.max()))
        self.first = self.first or str(ids[index])
        self.outside += int(outside.sum())

    def observe_batch(self, batch, items: Sequence) -> None:
        """Count one `dnanet.data.streaming.Batch` of `items` (resolved inputs: the files named
        in the message)."""
        self.observe(batch.ids, batch.lengths, [str(items[s].path) for s in batch.sources])

    def batch_observer(self, items: Sequence, then: Callable | None = None) -> Callable:
        """An ``observe(batch, outputs)`` hook (`dnanet.inference.predict.write_predictions`) that
        counts each `dnanet.data.streaming.Batch` of `items` (resolved inputs), then calls
        `then`."""

        def observe(batch, outputs) -> None:
            self.observe_batch(batch, items)
            if then is not None:
                then(batch, outputs)

        return observe

    def note(self) -> str | None:
        """The warning for the records seen (None when all were within the range)."""
        if not self.outside:
            return None
        span = f"{self.low:,}" if self.low == self.high else f"{self.low:,} to {self.high:,}"
        return (
            f"{self.outside:,} of {self.seen:,} records have lengths the model never saw "
            f"({span} bases; first: '{self.first}'): {self.run} was trained on "
            f"{self.trained_on()}, so its outputs for them are extrapolations "
            "(--strict-lengths refuses such records)"
        )
