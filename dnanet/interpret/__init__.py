"""Why a model predicts what it does: per-base attributions (`attribution` and its files, job and
plots; `attribution_workflow`: `dnanet attribute` as library calls, in memory or to files),
variant effects (`variants`, `variant_pairs`, `variant_plots`; the workflow of `dnanet variants`
and its DataFrame: `variant_job`) and motifs (`motifs/`)."""
