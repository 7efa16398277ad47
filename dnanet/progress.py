"""What a long library call tells its caller while it runs: notes, and progress counts.

Every workflow of the library (`dnanet.train`, a run's predictions, embeddings, attributions,
motifs, variants, a search) takes a `Reporter`. The default one is silent and keeps the notes, so a
notebook gets them back with the results (``result.notes``); the command line passes one that
prints each note as a one-line message and draws a progress bar (`dnanet.cli.report`).

- ``reporter.note(text, kind)``: a line worth telling: ``"note"`` (something the user may want to
  know: skipped intervals, a stale temporary removed), ``"warning"`` (something to act on: the
  model did not learn) or ``"info"`` (a plain statement: "1,000 sequences read").
- ``with reporter.counter(what, total, unit) as update: ... update(done)``: progress of work
  counted in records, variants or bases (``total`` None: not known ahead).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

NOTE_KINDS = ("note", "warning", "info")


class Reporter:
    """Silent: notes are kept in `notes` (``(kind, text)`` pairs, in order), progress is dropped.
    Subclass it (override `say` and `counter`) to show either as it happens."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []

    def note(self, text: str, kind: str = "note") -> None:
        """Keep one line (and `say` it)."""
        if kind not in NOTE_KINDS:
            raise ValueError(f"note kind {kind!r}: one of {', '.join(NOTE_KINDS)}")
        self.notes.append((kind, text))
        self.say(text, kind)

    def say(self, text: str, kind: str) -> None:
        """Show one note as it happens: nothing here."""

    @contextlib.contextmanager
    def counter(
        self, what: str, total: int | None = None, unit: str = "records"
    ) -> Iterator[Callable[[int], None]]:
        """Progress of `what`: yields the function to call with the number done so far."""
        yield lambda done: None

    def texts(self, kind: str | None = None) -> list[str]:
        """The notes' texts, of one `kind` or all."""
        return [text for note_kind, text in self.notes if kind is None or note_kind == kind]
