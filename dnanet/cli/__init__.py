"""The `dnanet` command line: a thin Typer layer over the library (see `dnanet --help`).

`common.py` holds the app, error handling and input parsing; each other module adds commands.
"""

from dnanet.cli import (  # noqa: F401  (modules register their commands on the app)
    attribute,
    bottleneck,  # noqa: F401
    calibrate,  # noqa: F401  (dnanet calibrate; --conformal)
    core,
    crn,  # noqa: F401
    design,  # noqa: F401  (dnanet marginalize, dnanet design)
    embed,
    genome,
    motifs,
    predict,
    runfolder,  # noqa: F401  (dnanet check-run, dnanet export)
    train,  # noqa: F401  (train first: the everyday commands' order in --help)
    tune,  # noqa: F401  (dnanet tune: hyperparameter search)
    variants,
)
from dnanet.cli.common import app

__all__ = ["app"]
