"""How much a tiny tanh layer can hold: the chain n -> n + 1 (Skarupke 2016), for
`dnanet bottleneck`.

- `experiment`: the chains (integers, k-mers along a de Bruijn sequence), training every
  (hidden, chain, seed) cell batched, the one-unit bound, the largest chain each size learns.
- `plots`: accuracy against N per hidden size, and a two-unit network drawn.
- `pipeline`: the experiment run and written (capacity.tsv, capacity.png, network_h2.png).
"""

from dnanet.bottleneck.experiment import (
    OPTIMIZERS,
    CellResult,
    Chain,
    chain_accuracy,
    de_bruijn,
    h1_bound,
    integer_chain,
    kmer_chain,
    largest_learned,
    train_cells,
    train_grid,
)

__all__ = [
    "OPTIMIZERS",
    "CellResult",
    "Chain",
    "chain_accuracy",
    "de_bruijn",
    "h1_bound",
    "integer_chain",
    "kmer_chain",
    "largest_learned",
    "train_cells",
    "train_grid",
]
