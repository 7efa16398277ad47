"""A trained model applied to sequences: the one batched prediction path (`predict`), a run's
predictions as a TSV or a DataFrame (`predictions`: `dnanet predict`), embeddings (`embed`,
`embed_plots`; `embed_files`: `dnanet embed` as library calls, in memory or to a file), and tracks
slid along a genome (`tracks`); `jobs` holds what these workflows share (a run folder or a loaded
run, the not-learned warning, a call's notes)."""
