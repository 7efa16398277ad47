"""Shared pieces of the `dnanet` command line: the Typer app, error handling, input parsing.

Every user error becomes a one-line message on stderr and exit code 1, with no output left
behind; set DNANET_DEBUG=1 to see a traceback for unexpected errors.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Callable, Iterator, Optional

import typer
from rich.markup import escape

from dnanet.cli.group import EverydayFirst
from dnanet.cli.outputs import (  # noqa: F401 (OverwriteOption, claim_output: re-exported)
    OverwriteOption,
    Terminated,
    _command_scope,
    claim_output,
    sigterm_as_interrupt,
)
from dnanet.cli.report import (  # noqa: F401 (re-exported: the commands print through these)
    ConsoleReporter,
    err,
    out_console,
    print_error,
)
from dnanet.errors import DnanetError
from dnanet.version import __version__

app = typer.Typer(
    help="Deep learning on DNA sequences: train, evaluate and predict from FASTA files, embed "
    "sequences and find the motifs a model uses.\n\n"
    "Try it on the bundled CTCF example (used when no FASTA is given):\n\n"
    "  dnanet train --out runs/ctcf\n\n"
    "  dnanet evaluate runs/ctcf --out runs/ctcf/heldout_metrics.json\n\n"
    "  dnanet predict runs/ctcf --out runs/ctcf/predictions.tsv",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=EverydayFirst,  # --help: the everyday commands first, the research commands apart
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    add_completion=True,
)
INPUTS_HELP = (
    "FASTA files (plain or .gz), one per class: the class is the file name without "
    ".fa/.fasta/.fna/.txt/.gz, or name it as CLASS=PATH. Default: the bundled CTCF example."
)


def user_errors(command: Callable) -> Callable:
    """Turn DnanetError, OS errors and Ctrl-C into one-line messages and non-zero exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with sigterm_as_interrupt(), contextlib.ExitStack() as scope:
                # outputs claimed by the command are released at its end
                token = _command_scope.set(scope)
                try:
                    return command(*args, **kwargs)
                finally:
                    _command_scope.reset(token)
        except DnanetError as error:
            print_error("error", str(error))
        except typer.Exit:  # a command's own exit code
            raise
        except Terminated:
            err.print("terminated (SIGTERM); no output was written, temporary files removed")
            raise typer.Exit(143)
        except KeyboardInterrupt:
            err.print("interrupted; no output was written")
            raise typer.Exit(130)
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            print_error("error", f"{where}{error.strerror or error}")
        except Exception as error:  # a bug: still one line unless asked for the traceback
            if os.environ.get("DNANET_DEBUG"):
                raise
            print_error(
                "internal error",
                f"{type(error).__name__}: {error} (set DNANET_DEBUG=1 for the traceback)",
            )
        raise typer.Exit(1)

    return wrapper


def warn_if_not_learned(description: dict, what: str, advice: str = "") -> str:
    """Print `dnanet.runs.load.not_learned` (plus `advice`) as one warning line; return the
    warning ('' if none)."""
    from dnanet.runs.load import not_learned

    warning = not_learned(description, what)
    if warning:
        warning += advice
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    return warning


def parse_inputs(arguments: list[str], default: Callable[[], list]) -> list:
    """CLI input strings -> LabelledInput list (`dnanet.inputs.sources.parse_inputs`); the note
    that the bundled example is used goes to stderr."""
    from dnanet.inputs.sources import parse_inputs as parse

    return parse(arguments, default, ConsoleReporter())


def setup_torch(threads: Optional[int], device: str, inference: bool = True):
    """`dnanet.runtime.device.prepare_device` (threads, allocator, device) for a command."""
    from dnanet.runtime.device import prepare_device

    return prepare_device(threads, device, inference)


def shard_option(merging: str) -> typer.models.OptionInfo:
    """--shard K/N, with how the format's shards are put back together (`merging`)."""
    return typer.Option(
        None,
        "--shard",
        metavar="K/N",
        show_default=False,
        help=(
            "Compute only shard K of N (K from 1), for job arrays without torchrun (e.g. --shard "
            "$SLURM_ARRAY_TASK_ID/10 with --array 1-10): the K-th of N contiguous blocks of the "
            "records, numbered across all FASTA files in input order (blocks differ by at most one "
            "record). "
            + merging
            + " Under torchrun, leave it out: the processes split the input themselves and rank 0 "
            "writes one output."
        ),
    )


def inference_shard(text: Optional[str]):
    """`--shard K/N` -> its `dnanet.data.streaming.Shard` (None without the option). Refused under
    torchrun, whose processes split the input themselves."""
    from dnanet.runtime.distributed import launched_processes
    from dnanet.runtime.shards import Shard

    if text is None:
        return None
    shard = Shard.parse(text)
    if launched_processes() > 1:
        raise DnanetError(
            f"--shard {text}: under torchrun the processes split the input themselves (each takes "
            "its rank's shard and rank 0 writes one output); drop --shard"
        )
    return shard


@contextlib.contextmanager
def record_progress(
    what: str, quiet: bool, unit: str = "records"
) -> Iterator[Callable[[int], None]]:
    """A spinner on stderr reading 'WHAT: N records' (or N `unit`); yields the function to call with
    N."""
    with ConsoleReporter(quiet).counter(what, None, unit) as update:
        yield update


RunArgument = typer.Argument(..., help="A run folder made by `dnanet train`.")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress display.")
StrictLengthsOption = typer.Option(
    False,
    "--strict-lengths",
    help="Refuse a record shorter or longer than every training record (the lengths model.json "
    "keeps) instead of warning: the model never saw such lengths, so its outputs there are "
    "extrapolations.",
)
ThreadsOption = typer.Option(
    None, "--threads", help="CPU threads for torch (default: torch's choice)."
)
DeviceOption = typer.Option(
    "auto", "--device", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N."
)


LabelsOption = typer.Option(
    None,
    "--labels",
    help="TSV/CSV table with an id column and label column(s), instead of one FASTA per class.",
)
IdColumnOption = typer.Option("id", help="Record-id column of --labels.")
LabelColumnOption = typer.Option(
    ["label"],
    "--label-column",
    help="Label column of --labels; repeat for several "
    "(multilabel 0/1 columns, or several regression targets).",
)


def _version(value: bool) -> None:
    if value:
        print(f"dnanet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
):
    """dnanet: deep learning on DNA sequences (see --help of each command)."""
