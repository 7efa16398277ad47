"""`python -m dnanet ...` (and `torchrun -m dnanet ...`): the same as the `dnanet` command."""

from dnanet.cli import app

app(prog_name="dnanet")
