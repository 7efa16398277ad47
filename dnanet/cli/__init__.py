"""The `dnanet` command line: a thin Typer layer over the library (see `dnanet --help`).

`common.py` holds the app, error handling and input parsing; each other module adds commands.
"""

from dnanet.cli import bottleneck  # noqa: F401
from dnanet.cli import crn  # noqa: F401
from dnanet.cli import train  # noqa: F401  (train first: the everyday commands' order in --help)
from dnanet.cli import attribute, core, embed, genome, motifs, variants  # noqa: F401  (modules register their commands on the app)
from dnanet.cli import tune  # noqa: F401  (dnanet tune: hyperparameter search)
from dnanet.cli.common import app

__all__ = ["app"]
