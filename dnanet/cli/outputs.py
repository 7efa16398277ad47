"""The command side of `dnanet.files.outputs`: SIGTERM handled like Ctrl-C, and outputs claimed for
the running command (checked and locked before its long work, released when it ends).

`dnanet.cli.common.user_errors` runs every command inside `sigterm_as_interrupt` and an
`ExitStack` (`_command_scope`) that `claim_output` registers each output's release with.
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
from pathlib import Path
from typing import Iterator, Optional

import typer

from dnanet.cli.report import print_note
from dnanet.files.outputs import claimed


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system pre-empting the job, `kill`): handled like Ctrl-C, exit code 143."""


def _terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


_command_scope: contextvars.ContextVar[Optional[contextlib.ExitStack]] = contextvars.ContextVar(
    "scope", default=None
)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM acts like Ctrl-C (`Terminated`): the command's temporaries are
    removed on the way out. A second SIGTERM during that cleanup is ignored. Every command gets
    this from `user_errors`; a no-op outside the main thread (signals go to the main thread
    only)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is _terminate
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def claim_output(path: Path, overwrite: bool, folder: bool = False, min_free: Optional[int] = None):
    """Check, lock and prepare an output of the running command
    (`dnanet.files.outputs.Output.claim`): call it before the long work, so a wrong or busy --out
    fails at once. Its lock is released when the command ends; stale temporaries it cleaned up are
    printed as notes."""
    scope = _command_scope.get()
    if scope is None:
        raise RuntimeError("claim_output outside a @user_errors command")
    output = scope.enter_context(claimed(path, overwrite, folder, min_free))
    for note in output.notes:
        print_note(note)
    return output


OverwriteOption = typer.Option(
    False,
    "--overwrite",
    help="Replace --out if it exists (the new output is swapped in "
    "only once complete, so a failure or kill keeps the old one).",
)
