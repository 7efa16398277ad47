"""Data with a known truth: planted-motif sets (`planted`), a small genome with planted sites and
its peaks (`genome`), and ChIP-like signal and control coverage on it (`coverage`). A number is
trusted only when the same code recovers these."""
