"""Motifs from a trained model: which sequence drives its predictions.

One module per stage, data flowing one way:

- `scores`: a score per nucleotide ``(N, L)`` for one class — gradient × input or in-silico
  mutagenesis (every family; computed by `dnanet.interpret.attribution`, the code of `dnanet
  attribute`), or attention mapped back to bases and weighted by the class's gradient × input
  (transformer).
- `dnanet.inputs.shuffle`: dinucleotide-preserving shuffles (the background when there is no
  other class).
- `seqlets`: high-scoring windows of each class's sequences.
- `cluster`: seqlets -> position weight matrices, reverse complements merged (k-mer seed,
  then PWM refinement).
- `enrich`: scan class vs background sequences with each PWM (memelite FIMO), Fisher's exact
  test, Benjamini-Hochberg q-values; faithfulness (probability drop when sites are shuffled).
- `modisco`: the second engine (``--engine modisco``): TF-MoDISco (modisco-lite) patterns of each
  class's hypothetical attributions -> candidate PWMs, in place of `seqlets` and `cluster`.
- `select`: candidate PWMs -> reported motifs (tested, distinct sites, q cut, ranked, named),
  with a per-class report of seqlets, candidates and dropped motifs (classes.tsv).
- `baseline`: the model-free baseline: k-mer-seeded PWMs of each class's whole sequences
  against the background, tested on a held-out half.
- `compare`: TomTom (memelite) against JASPAR (pyjaspar's bundled SQLite) or a MEME file; the
  top 3 matches of each motif.
- `alphabet`: DNA or RNA letters, from the FASTA inputs (U and no T: RNA); IUPAC consensus.
- `write`: motifs.meme, motifs.tsv, sites.tsv, classes.tsv, baseline.meme, baseline.tsv;
  `logos`: logos/<motif>.png and the best known motif's logo; `summary`: summary.html.
- `kernels`: memelite's numba kernels: compiled yet? (the first-use note), and the warm-up
  `scripts/setup.sh` runs.

A run trained on the forward strand only (RNA, promoters) gets forward-strand seqlet PWMs,
enrichment and sites (`MotifOptions.both_strands`); both-strand runs merge reverse complements.
- `pipeline`: the stages joined.
- `job`: `dnanet motifs` as one call, `find_motifs`: run and inputs read, the search, the baseline,
  every file written atomically; notes and progress go to a `dnanet.progress.Reporter`.
"""
