"""Hyperparameter search (`dnanet tune`): one search end to end (`workflow`: `run_search`), the
search space (`search_space`), the Optuna study and its trials (`study`), and what a study writes
(`report`, `plots`)."""
