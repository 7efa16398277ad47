"""How much a tiny tanh layer can hold (M. Skarupke, "Neural Networks Are Impressively Good At
Compression", 2016).

The task: N tokens, one-hot inputs, N softmax outputs, the chain map ``n -> n + 1`` (N - 1
training pairs, token N - 1 is never an input, token 0 never a target). The network is
``one-hot (N) -> H tanh units -> N logits``, biases optional, trained full batch on the mean
cross-entropy. Accuracy is the share of the N - 1 inputs whose largest logit is the successor.

With H = 1 and no biases the hidden value is one number ``h`` and the logits are ``w2 * h``: for
``h > 0`` the largest ``w2`` wins, for ``h < 0`` the smallest, for ``h = 0`` all tie (argmax picks
token 0, never a target). So at most two outputs can ever be predicted and accuracy is at most
``2 / (N - 1)`` for N >= 4 (`h1_bound`); training reaches the bound.

Cells are trained together: every (N, seed) of one H is one slice of a batch, padded to the
largest N. Padded inputs carry no loss and padded outputs are masked to -inf, so each slice's
gradients are exactly those of its own network; each cell's initial weights come from its own
generator seeded by (hidden, n, seed), so a cell's result does not depend on the rest of the grid.

The DNA flavour (`kmer_chain`): the tokens are the 4**K k-mers, and each k-mer's successor is the
next window of a fixed de Bruijn sequence B(4, K) (the lexicographically least one, from Lyndon
words): the successor is the k-mer shifted left by one base with one base appended, as when a
window slides along DNA. The de Bruijn sequence holds every k-mer exactly once as a window, so
"next window" is a bijection from all k-mers but the last window onto all k-mers but the first:
4**K - 1 training pairs, a relabelling of the integer chain with N = 4**K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from dnanet.errors import DnanetError
from dnanet.inputs.encode import kmer_ids

OPTIMIZERS = ("sgd", "adam")
DTYPE = torch.float32


@dataclass(frozen=True)
class Chain:
    """One task: ``inputs`` int64 ``(P,)`` token ids mapped to ``targets`` int64 ``(P,)``, over
    ``n`` tokens."""

    n: int
    inputs: torch.Tensor
    targets: torch.Tensor


@dataclass
class CellResult:
    """One trained network: accuracy over its pairs, and its weights ``w1 (n, H)``, ``w2 (H, n)``,
    biases ``b1 (H,)``, ``b2 (n,)`` (zeros without biases)."""

    hidden: int
    n: int
    seed: int
    accuracy: float
    w1: np.ndarray
    w2: np.ndarray
    b1: np.ndarray
    b2: np.ndarray


def integer_chain(n: int) -> Chain:
    """The chain ``0 -> 1 -> ... -> n - 1`` over n tokens (n - 1 pairs)."""
    if n < 3:
        raise DnanetError(f"n = {n}: the chain needs at least 3 tokens (2 training pairs)")
    return Chain(n, torch.arange(n - 1), torch.arange(1, n))


def de_bruijn(k: int, alphabet: int = 4) -> list[int]:
    """The lexicographically least de Bruijn cycle B(alphabet, k) as a list of ``alphabet**k``
    digits (Fredricksen-Kessler-Maiorana: concatenated Lyndon words whose length divides k)."""
    digits, sequence = [0] * (k + 1), []

    def lyndon(t: int, p: int) -> None:
        if t > k:
            if k % p == 0:
                sequence.extend(digits[1 : p + 1])
            return
        digits[t] = digits[t - p]
        lyndon(t + 1, p)
        for value in range(digits[t - p] + 1, alphabet):
            digits[t] = value
            lyndon(t + 1, t)

    lyndon(1, 1)
    return sequence


def kmer_chain(k: int) -> Chain:
    """k-mer ids (base-4, AA..A = 0, as `dnanet.inputs.encode.kmer_ids`) chained along the linear de
    Bruijn sequence: window i -> window i + 1, 4**k - 1 pairs (see the module docstring)."""
    if not 1 <= k <= 6:
        raise DnanetError(f"--kmer {k}: choose K from 1 to 6 (4**K tokens)")
    cycle = de_bruijn(k)
    linear = cycle + cycle[: k - 1]  # every k-mer exactly once as a window
    order = kmer_ids(torch.tensor([linear]), k)[0]  # (4**k,) the ids of its windows in order
    return Chain(4**k, order[:-1], order[1:])


def h1_bound(n: int) -> float:
    """Best accuracy of one hidden unit without biases on the chain of n >= 4 tokens:
    2 / (n - 1)."""
    return 2 / (n - 1)


def chain_accuracy(
    w1: torch.Tensor, w2: torch.Tensor, chain: Chain, b1=None, b2=None
) -> torch.Tensor:
    """Accuracy of networks ``w1 (B, n, H)``, ``w2 (B, H, n)`` (biases ``(B, H)``, ``(B, n)``) on
    `chain`: float ``(B,)``, the share of inputs whose argmax logit is the target."""
    hidden = w1[:, chain.inputs]  # (B, P, H)
    if b1 is not None:
        hidden = hidden + b1[:, None]
    logits = torch.bmm(torch.tanh(hidden), w2)  # (B, P, n)
    if b2 is not None:
        logits = logits + b2[:, None]
    return (logits.argmax(-1) == chain.targets).double().mean(-1)


def _init(hidden: int, n: int, seed: int, bias: bool) -> list[torch.Tensor]:
    """Initial (w1 (n, H), w2 (H, n), b1 (H,), b2 (n,)) of one cell, as `nn.Linear`:
    U(±1/sqrt(fan_in))."""
    generator = torch.Generator().manual_seed(1_000_003 * seed + 1009 * hidden + n)

    def uniform(shape, fan_in):
        return (torch.rand(shape, generator=generator, dtype=DTYPE) * 2 - 1) / math.sqrt(fan_in)

    w1, w2 = uniform((n, hidden), n), uniform((hidden, n), hidden)
    b1, b2 = uniform((hidden,), n), uniform((n,), hidden)
    return [w1, w2, b1 * bias, b2 * bias]


def train_cells(
    hidden: int,
    chains: list[Chain],
    seeds: list[int],
    optimizer: str = "sgd",
    lr: float = 1.0,
    steps: int = 20_000,
    bias: bool = False,
    on_step: Optional[Callable[[int], None]] = None,
) -> list[CellResult]:
    """Train one network per (chain, seed) with `hidden` tanh units, all at once (float64, full
    batch).

    Batch layout: B = len(chains) * len(seeds) slices, chain-major; tokens padded to the largest n.
    Returns one `CellResult` per slice in that order. `on_step(done)` is called every 500 steps.
    """
    if hidden < 1:
        raise DnanetError(f"hidden = {hidden}: need at least one hidden unit")
    if optimizer not in OPTIMIZERS:
        raise DnanetError(f"optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    if not (lr > 0 and math.isfinite(lr)) or steps < 0:
        raise DnanetError(f"lr = {lr}, steps = {steps}: need lr > 0 and steps >= 0")
    cells = [(chain, seed) for chain in chains for seed in seeds]
    n_max, p_max = max(c.n for c in chains), max(len(c.inputs) for c in chains)
    params = [
        torch.zeros(len(cells), *shape, dtype=DTYPE)
        for shape in ((n_max, hidden), (hidden, n_max), (hidden,), (n_max,))
    ]
    inputs = torch.zeros(len(cells), p_max, dtype=torch.long)  # (B, P), padding points at token 0
    targets = torch.zeros(len(cells), p_max, dtype=torch.long)
    weight = torch.zeros(len(cells), p_max, dtype=DTYPE)  # (B, P): 1 / pairs, 0 on padding
    valid = torch.zeros(len(cells), n_max, dtype=torch.bool)  # (B, n_max) real output tokens
    for b, (chain, seed) in enumerate(cells):
        w1, w2, b1, b2 = _init(hidden, chain.n, seed, bias)
        (
            params[0][b, : chain.n],
            params[1][b, :, : chain.n],
            params[2][b],
            params[3][b, : chain.n],
        ) = w1, w2, b1, b2
        pairs = len(chain.inputs)
        inputs[b, :pairs], targets[b, :pairs], weight[b, :pairs] = (
            chain.inputs,
            chain.targets,
            1 / pairs,
        )
        valid[b, : chain.n] = True
    trained = params if bias else params[:2]
    for p in trained:
        p.requires_grad_(True)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(trained, lr=lr)
    rows = torch.arange(len(cells))[:, None]
    mask = torch.where(valid, 0.0, -math.inf).to(DTYPE)[:, None]  # (B, 1, n_max)

    def logits() -> torch.Tensor:
        pre = params[0][rows, inputs] + params[2][:, None]  # (B, P, H)
        return torch.bmm(torch.tanh(pre), params[1]) + params[3][:, None] + mask  # (B, P, n_max)

    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        log_probs = torch.log_softmax(logits(), -1)
        loss = -(
            log_probs.gather(-1, targets[..., None])[..., 0] * weight
        ).sum()  # sum of per-cell means
        loss.backward()
        opt.step()
        if on_step is not None and (step + 1) % 500 == 0:
            on_step(step + 1)
    with torch.no_grad():
        correct = (logits().argmax(-1) == targets).double()
        pairs = (weight > 0).sum(-1)  # (B,)
        accuracy = (correct * (weight > 0)).sum(-1) / pairs  # (B,) exactly 1.0 when all are right
    w1, w2, b1, b2 = (p.detach().numpy() for p in params)
    return [
        CellResult(
            hidden,
            chain.n,
            seed,
            float(accuracy[b]),
            w1[b, : chain.n].copy(),
            w2[b, :, : chain.n].copy(),
            b1[b].copy(),
            b2[b, : chain.n].copy(),
        )
        for b, (chain, seed) in enumerate(cells)
    ]


def largest_learned(results: list[CellResult]) -> dict[int, Optional[int]]:
    """Per hidden size: the largest n that every seed learned perfectly (None if none was)."""
    table: dict[int, Optional[int]] = {}
    for hidden in sorted({r.hidden for r in results}):
        perfect = [
            n
            for n in sorted({r.n for r in results if r.hidden == hidden})
            if all(r.accuracy == 1.0 for r in results if r.hidden == hidden and r.n == n)
        ]
        table[hidden] = max(perfect) if perfect else None
    return table


def buckets(chains: list[Chain]) -> list[list[Chain]]:
    """Group chains so a bucket's largest n is at most twice its smallest (bounded padding
    waste)."""
    groups: list[list[Chain]] = []
    for chain in sorted(chains, key=lambda c: c.n, reverse=True):
        if groups and groups[-1][0].n <= 2 * chain.n:
            groups[-1].append(chain)
        else:
            groups.append([chain])
    return groups


def train_grid(
    hiddens: list[int],
    chains: list[Chain],
    seeds: list[int],
    optimizer: str = "sgd",
    lr: float = 1.0,
    steps: int = 20_000,
    bias: bool = False,
    on_progress: Optional[Callable[[int, int], None]] = None,
) -> list[CellResult]:
    """Every (hidden, chain, seed) cell, sorted by hidden, n, seed. `on_progress(done, total)`
    counts training steps over all batches (one batch per hidden size and bucket of chains)."""
    groups = buckets(chains)
    total, done, results = steps * len(hiddens) * len(groups), 0, []
    for hidden in hiddens:
        for group in groups:
            report = (
                None
                if on_progress is None
                else (lambda step, base=done: on_progress(base + step, total))
            )
            results += train_cells(hidden, group, seeds, optimizer, lr, steps, bias, report)
            done += steps
            if on_progress is not None:
                on_progress(done, total)
    return sorted(results, key=lambda r: (r.hidden, r.n, r.seed))
