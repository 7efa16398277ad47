"""A trained ternary MLP as a chemical reaction network, for `dnanet crn export|simulate|verify`.

- `compile`: the model -> its full network, the reduced network, the text form, and the input
  amounts of a sequence (the network's ``features`` entry).
- `kinetics`: firing reactions to completion in order; mass-action ODEs to a steady state.
- `checks`: structure (reactants, consumers, counts) and weights read back from the reactions.
- `verify`: every check against the model on real records, as one report.
- `plots`: output trajectories (PNG).
- `files`: run folder -> model, network JSON read/checked/written, FASTA -> input amounts,
  outputs.tsv.
- `pipeline`: each command end to end (claim the output, read, run, write atomically), notes and
  progress to a `dnanet.progress.Reporter`; `results`: what each returns, and its terminal lines.
"""

from dnanet.crn.compile import (
    compile_network,
    layer_weights,
    network_features,
    network_text,
    reduce_network,
)
from dnanet.crn.files import load_network

__all__ = [
    "compile_network",
    "layer_weights",
    "load_network",
    "network_features",
    "network_text",
    "reduce_network",
]
