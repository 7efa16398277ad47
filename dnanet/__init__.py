"""dnanet: deep learning on DNA sequences, from FASTA to trained model, metrics and predictions."""

__version__ = "0.1.0"
