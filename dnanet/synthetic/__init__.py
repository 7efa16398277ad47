"""Data with a known truth: planted-motif sets (`planted`) and a small genome with planted
sites and its peaks (`genome`). A number is trusted only when the same code recovers these."""
