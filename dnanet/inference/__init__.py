"""A trained model applied to sequences: the one batched prediction path (`predict`),
embeddings (`embed`, `embed_plots`), and tracks slid along a genome (`tracks`)."""
