"""dnanet: deep learning on DNA sequences, from FASTA to trained model, metrics and predictions."""

from dnanet.version import __version__  # noqa: F401
