"""The version of dnanet (also `dnanet --version`, and every run's model.json)."""

__version__ = "0.1.0"
