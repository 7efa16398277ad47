"""Experiments on a trained model with motifs in hand (what people run once `dnanet motifs` has
named them): a motif written into backgrounds and the outputs' shift measured, per position and
strand, and two motifs against their spacing (`marginalize*`, `dnanet marginalize`); sequences
rewritten base by base to raise an output (`design*`, `dnanet design`). `insertions` reads the
motif and makes the backgrounds; `output_scores` scores every output on the scale `dnanet
attribute` explains."""
