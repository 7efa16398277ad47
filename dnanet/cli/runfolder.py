"""`dnanet check-run` and `dnanet export`: a run folder checked against the answers it saved
(`dnanet.inference.run_check`) and written for other tools (`dnanet.inference.export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dnanet.cli import choices
from dnanet.cli.common import (
    OverwriteOption,
    RunArgument,
    ThreadsOption,
    app,
    err,
    out_console,
    setup_torch,
    user_errors,
)
from dnanet.errors import DnanetError


@app.command("check-run")
@user_errors
def check_run(run: Path = RunArgument, threads: Optional[int] = ThreadsOption):
    """Check that this dnanet and torch still compute what the run computed when it was saved.

    Training keeps 8 records (test records, or training records without a test part) and the
    model's outputs for them in RUN/check.safetensors. check-run predicts them again on the CPU
    and compares: every logit and output within 1e-4 + 1e-4 x |value| passes (exit 0); a
    difference beyond that, a run without check.safetensors (written by an older dnanet) or a run
    that does not load is an error (exit 1). An ensemble is checked member by member.

      dnanet check-run runs/ctcf
    """
    from dnanet.inference.run_check import check_run as check

    setup_torch(threads, "cpu")
    checked = check(run)
    failure = checked.failure()
    if failure is not None:
        raise DnanetError(failure)
    for line in checked.lines():
        out_console.print(line, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def export(
    run: Path = RunArgument,
    out: Path = typer.Option(..., "--out", "-o", help="The file to write (e.g. model.onnx)."),
    fmt: str = typer.Option(
        "onnx", "--format", help="The model format.", autocompletion=choices.EXPORT_FORMATS
    ),
    length: Optional[int] = typer.Option(
        None,
        "--length",
        min=1,
        show_default=False,
        help="Bases per record the exported model reads (default: the run's BED window or signal "
        "input width, or the one length of its training records).",
    ),
    overwrite: bool = OverwriteOption,
):
    """Write a run as an ONNX model whose outputs are what dnanet predict computes.

    Input 'codes': uint8 (batch, LENGTH), A=0 C=1 G=2 T=3, 4 for N; output 'outputs': float32
    (batch, outputs), the probabilities (or values, or a signal run's log(1 + reads) and profile
    probabilities), averaged over both strands where the run averages them, and over an
    ensemble's members. Every model family exports; the batch is dynamic, the length fixed.
    Needs the onnx package: pip install 'dnanet\\[export]'. See docs/run-folder.md.

      dnanet export runs/ctcf --format onnx --out ctcf.onnx
    """
    from dnanet.inference.export import export_run

    exported = export_run(run, out, fmt, length, overwrite)
    err.print(exported.summary(), highlight=False, soft_wrap=True)
