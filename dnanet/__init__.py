"""dnanet: deep learning on DNA sequences, from FASTA to trained model, metrics and predictions.

The Python API (`dnanet.api`): ``dnanet.train(inputs, out=..., config=..., **options) -> Run``,
``dnanet.load_run(path) -> Run``, then ``run.predict / embed / attribute / evaluate / variants``;
every error a user can fix is a ``dnanet.DnanetError``. The command line (`dnanet --help`) runs on
the same library.
"""

from dnanet.errors import DnanetError
from dnanet.version import __version__

__all__ = ["DnanetError", "Run", "__version__", "load_run", "train"]
_API = {"Run", "load_run", "train"}


def __getattr__(name: str):
    """The API's names, imported on first use: `import dnanet` (and `dnanet --help`) stays light,
    without torch, until one is used."""
    if name in _API:
        from dnanet import api

        return getattr(api, name)
    raise AttributeError(f"module 'dnanet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
