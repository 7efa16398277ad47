"""Training a model: one run end to end as `dnanet train` runs it (`workflow`: `train_run`,
`resume_run`), the model trained and its run folder written (`experiment`), the loop (`loop`),
checkpoints and `--resume` (`checkpoint`, `resume`), metrics for every task (`metrics`), and the
check that the model learned more than the class prior (`learning_check`)."""
