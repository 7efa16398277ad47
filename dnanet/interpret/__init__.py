"""Why a model predicts what it does: per-base attributions (`attribution` and its files,
job and plots; `attribution_workflow`: `dnanet attribute` as library calls, in memory or to
files), variant effects (`variants`, `variant_pairs`, `variant_plots`) and motifs (`motifs/`)."""
