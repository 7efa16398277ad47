"""A trained model applied to sequences: the one batched prediction path (`predict`),
embeddings (`embed`, `embed_plots`; `embed_files`: `dnanet embed` as library calls, in memory or
to a file), and tracks slid along a genome (`tracks`)."""
