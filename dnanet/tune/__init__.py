"""Hyperparameter search (`dnanet tune`): the search space (`search_space`), the Optuna study
(`study`), and what a study writes (`report`, `plots`)."""
