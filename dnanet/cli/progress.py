"""Progress on stderr: the one bar layout every long command uses, built in one place.

A bar reads ``description  ━━━━━━  done/total UNIT  time``: the time left, or the time so far for
work whose pace changes along the way (``elapsed``). Work without a known total gets a spinner
and its description instead (``unit=None``)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(
    console: Console,
    quiet: bool = False,
    unit: str | None = "",
    elapsed: bool = False,
    transient: bool = False,
    status: bool = False,
) -> Progress:
    """A rich `Progress` on `console` in the layout above; `status` adds the task's ``status``
    field at the end, `quiet` hides the bar, `transient` clears it when it stops."""
    if unit is None:
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
    else:
        count = "{task.completed:,}/{task.total:,}" + (f" {unit}" if unit else "")
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn(count),
            TimeElapsedColumn() if elapsed else TimeRemainingColumn(),
        ]
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(*columns, console=console, disable=quiet, transient=transient)


@contextlib.contextmanager
def counting_bar(
    console: Console, what: str, total: int, unit: str, quiet: bool
) -> Iterator[Callable[[int], None]]:
    """A `progress_bar` over `total` `unit` (records, bases); yields the function to call with
    the number done so far."""
    with progress_bar(console, quiet, unit) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, completed=done)
