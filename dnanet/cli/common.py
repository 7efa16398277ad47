"""Shared pieces of the `dnanet` command line: the Typer app, error handling, input parsing.

Every user error becomes a one-line message on stderr and exit code 1, with no output left
behind; set DNANET_DEBUG=1 to see a traceback for unexpected errors.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.markup import escape

from dnanet import __version__
from dnanet.cli.group import EverydayFirst
from dnanet.cli.report import (  # noqa: F401 (re-exported: the commands print through these)
    ConsoleReporter,
    err,
    out_console,
    print_error,
)
from dnanet.cli.outputs import (  # noqa: F401 (OverwriteOption, claim_output: re-exported)
    OverwriteOption,
    Terminated,
    _command_scope,
    claim_output,
    sigterm_as_interrupt,
)
from dnanet.errors import DnanetError

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


def not_learned(description: dict, what: str) -> str:
    """'WHAT: the model did not learn: REASON' for a run whose model.json says so
    (`dnanet.training.learning_check`), else ''."""
    if description.get("learned", True) is not False:
        return ""
    return (
        f"{what}: the model did not learn: {(description.get('learning') or {}).get('message', '')}"
    )


def warn_if_not_learned(description: dict, what: str, advice: str = "") -> str:
    """Print `not_learned` (plus `advice`) as one warning line; return the warning ('' if none)."""
    warning = not_learned(description, what)
    if warning:
        warning += advice
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    return warning


def parse_inputs(arguments: list[str], default: Callable[[], list]) -> list:
    """CLI input strings -> LabelledInput list; CLASS=PATH names the class, else the file name
    does."""
    from dnanet.inputs.read import class_name_from_path
    from dnanet.inputs.sources import LabelledInput

    if not arguments:
        inputs = default()
        names = ", ".join(f"{label}={path.name}" for label, path in inputs)
        err.print(
            f"no FASTA given: using the bundled CTCF example files {escape(names)}", highlight=False
        )
        return [LabelledInput(label, path) for label, path in inputs]
    parsed = []
    for argument in arguments:
        label, sep, path = argument.partition("=")
        if not sep or Path(argument).exists():
            label, path = class_name_from_path(argument), argument
        if not label:
            raise DnanetError(f"{argument}: empty class name before '='")
        parsed.append(LabelledInput(label, Path(path)))
    return parsed


def setup_torch(threads: Optional[int], device: str, inference: bool = True):
    """Threads, the allocator (`keep_freed_memory`, for `inference` commands) and the device for a
    command that runs a model; returns the device."""
    import torch

    from dnanet.inference.predict import resolve_device
    from dnanet.runtime.threads import use_threads

    if inference:
        keep_freed_memory()
    use_threads(threads)
    try:
        resolved = resolve_device(device)
    except RuntimeError as error:
        raise DnanetError(f"--device {device}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DnanetError(f"--device {device}: CUDA is not available on this machine")
    return resolved


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed blocks of up to 32 MiB for reuse instead of returning them to
    the system: a model's activations are allocated and freed every batch, and with glibc's
    defaults each time costs fresh pages. Measured predicting 4,000 x 1 kbp (CNN, batches capped
    at `dnanet.data.loaders.BATCH_BASES`): 2.9 s of kernel time with glibc's defaults, 0.3 s with these;
    memory stayed flat over 240,000 records. Inference commands only: in `train` the same
    settings let anonymous memory grow through every validation pass (1.0-1.5 GB after 100,000
    validation records, 0.44 GB without). The same as MALLOC_MMAP_THRESHOLD_=33554432 and
    MALLOC_TRIM_THRESHOLD_=134217728 in the environment, which win when set. No-op off glibc."""
    import ctypes
    import os
    import platform

    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(m_mmap_threshold, 32 << 20)
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        libc.mallopt(m_trim_threshold, 128 << 20)


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
    from dnanet.data.streaming import Shard

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
