"""What the command line prints: the two consoles (results on stdout, everything else on stderr),
one-line errors, and the `Reporter` that shows a library call's notes and progress on stderr."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape

from dnanet.cli.progress import progress_bar
from dnanet.errors import shorten_words
from dnanet.progress import Reporter

err = Console(stderr=True)
out_console = Console()

_STYLES = {"note": "[yellow]note:[/yellow] ", "warning": "[yellow]warning:[/yellow] ", "info": ""}


def print_error(kind: str, message: str) -> None:
    """One line on stderr; the message is printed verbatim (file names may contain [brackets]),
    over-long words cut (`dnanet.errors.shorten_words`)."""
    text = shorten_words(" ".join(message.split()))
    err.print(f"[red]{kind}:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def print_note(text: str, kind: str = "note") -> None:
    """One note on stderr: 'note: ...', 'warning: ...' (yellow), or the plain line for "info"."""
    err.print(f"{_STYLES[kind]}{escape(text)}", highlight=False, soft_wrap=True)


class ConsoleReporter(Reporter):
    """Notes printed on stderr as they come; progress as a spinner reading 'WHAT: N records' (no
    total) or a bar (a total), hidden with `quiet`."""

    def __init__(self, quiet: bool = False) -> None:
        super().__init__()
        self.quiet = quiet

    def say(self, text: str, kind: str) -> None:
        print_note(text, kind)

    @contextlib.contextmanager
    def counter(
        self, what: str, total: int | None = None, unit: str = "records"
    ) -> Iterator[Callable[[int], None]]:
        if total is not None:
            with progress_bar(err, self.quiet, unit) as bar:
                task = bar.add_task(what, total=total)
                yield lambda done: bar.update(task, completed=done)
            return
        with progress_bar(err, self.quiet, unit=None) as bar:
            counter = bar.add_task(f"{what}: 0 {unit}")
            try:
                yield lambda done: bar.update(counter, description=f"{what}: {done:,} {unit}")
            except BaseException:  # on an error the one-line message is all that is printed
                bar.live.transient = True
                bar.live.stop()
                bar.disable = True  # (Progress.stop would end a log's spinner line with a blank)
                raise
