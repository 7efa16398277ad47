"""Motifs from a trained model: which sequence drives its predictions.

One module per stage, data flowing one way:

- `scores`: a score per nucleotide ``(N, L)`` for one class — gradient × input or in-silico
  mutagenesis (every family), or attention mapped back to bases (transformer).
- `shuffle`: dinucleotide-preserving shuffles (the background when there is no other class).
- `seqlets`: high-scoring windows of each class's sequences.
- `cluster`: seqlets -> position weight matrices, reverse complements merged (k-mer seed,
  then PWM refinement).
- `enrich`: scan class vs background sequences with each PWM (memelite FIMO), Fisher's exact
  test, Benjamini-Hochberg q-values; faithfulness (probability drop when sites are shuffled).
- `compare`: TomTom (memelite) against JASPAR (pyjaspar's bundled SQLite) or a MEME file.
- `write`: motifs.meme, motifs.tsv, sites.tsv, logos, summary.html.
- `pipeline`: the stages joined, for `dnanet motifs`.
"""
