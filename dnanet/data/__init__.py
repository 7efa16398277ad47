"""Labelled sequences as the models see them: read once, split, batched.

- `labelled`: a command's labelled inputs (FASTA per class, a label table, BED, backgrounds) ->
  records, in memory or through the on-disk `store` (memory-mapped codes, offsets, ids, labels).
- `sets`: `SequenceSet`, the in-memory flat layout; `tasks`: what a label is (binary, multiclass,
  multilabel, regression), its targets, loss and outputs.
- `splits`: train / validation / test; `leakage`: exact duplicates across the parts;
  `strand`: is the set strand-symmetric?
- `loaders`: training and prediction batches of a set; `streaming`: batches streamed record by
  record from input files, and shards.
"""
