"""`dnanet.bottleneck` and `dnanet bottleneck`: the chain task, the exact one-unit result,
the CLI."""

from __future__ import annotations

import pytest
import torch

from dnanet.bottleneck import (
    chain_accuracy,
    de_bruijn,
    h1_bound,
    integer_chain,
    kmer_chain,
    largest_learned,
    train_cells,
    train_grid,
)
from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.inputs.encode import kmer_name


def test_integer_chain_pairs():
    chain = integer_chain(5)
    assert chain.inputs.tolist() == [0, 1, 2, 3] and chain.targets.tolist() == [1, 2, 3, 4]
    with pytest.raises(DnanetError, match="at least 3 tokens"):
        integer_chain(2)


def test_kmer_chain_is_a_de_bruijn_walk():
    assert de_bruijn(2) == [0, 0, 1, 0, 2, 0, 3, 1, 1, 2, 1, 3, 2, 2, 3, 3]
    chain = kmer_chain(2)
    assert chain.n == 16 and len(chain.inputs) == 15
    inputs, targets = chain.inputs.tolist(), chain.targets.tolist()
    assert len(set(inputs)) == 15 and len(set(targets)) == 15  # a bijection onto its image
    assert set(inputs) | set(targets) == set(range(16))
    for a, b in zip(
        inputs, targets
    ):  # the successor is the k-mer shifted by one base, one base appended
        assert kmer_name(a, 2)[1:] == kmer_name(b, 2)[:-1]


@pytest.mark.parametrize("n", [4, 7, 12, 25])
def test_one_unit_without_bias_reaches_exactly_two_over_n_minus_one(n):
    results = train_cells(1, [integer_chain(n)], seeds=[0, 1], steps=1500)
    assert [r.accuracy for r in results] == pytest.approx([h1_bound(n)] * 2, abs=1e-12)


@pytest.mark.parametrize("n", [4, 9, 30])
def test_two_over_n_minus_one_bounds_every_one_unit_network(n):
    chain = integer_chain(n)
    generator = torch.Generator().manual_seed(n)
    w1 = torch.randn(2000, n, 1, generator=generator) * 5
    w2 = torch.randn(2000, 1, n, generator=generator) * 5
    accuracy = chain_accuracy(w1, w2, chain)
    assert accuracy.max() <= h1_bound(n) + 1e-12
    assert (accuracy == h1_bound(n)).any()  # and the bound is attained by some random networks
    assert (
        chain_accuracy(torch.zeros(1, n, 1), torch.zeros(1, 1, n), chain).item() == 0
    )  # all tie: token 0 wins


def test_two_units_learn_eleven_tokens_with_the_defaults():
    (result,) = train_cells(2, [integer_chain(11)], seeds=[0])
    assert result.accuracy == 1.0
    assert result.w1.shape == (11, 2) and result.w2.shape == (2, 11)


def test_cells_do_not_depend_on_the_rest_of_the_grid():
    alone = train_cells(2, [integer_chain(6)], seeds=[1], steps=200)[0]
    grid = train_grid([2], [integer_chain(6), integer_chain(9)], seeds=[0, 1], steps=200)
    together = next(r for r in grid if r.n == 6 and r.seed == 1)
    assert together.w1 == pytest.approx(alone.w1, abs=1e-5)
    assert [(r.n, r.seed) for r in grid] == [(6, 0), (6, 1), (9, 0), (9, 1)]


def test_adam_with_biases_trains_and_largest_learned():
    results = train_grid(
        [3], [integer_chain(5)], seeds=[0, 1], optimizer="adam", lr=0.05, steps=300, bias=True
    )
    assert all(r.accuracy == 1.0 for r in results) and results[0].b2.shape == (5,)
    assert largest_learned(results) == {3: 5}


def test_cli_writes_table_and_figures(runner, tmp_path):
    out = tmp_path / "bottleneck"
    result = runner.invoke(
        app,
        [
            "bottleneck",
            "--hidden",
            "1,2",
            "--n",
            "5,8,11",
            "--seeds",
            "2",
            "--steps",
            "400",
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = (out / "capacity.tsv").read_text().splitlines()
    assert lines[0] == "hidden\tn\tseed\taccuracy" and len(lines) == 1 + 2 * 3 * 2
    assert sorted(p.name for p in out.iterdir()) == [
        "capacity.png",
        "capacity.tsv",
        "network_h2.png",
    ]
    assert "largest N" in result.stdout and "exactly 2/(N-1) in 6 of 6 cells" in result.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folder left


def test_cli_kmer_flavour(runner, tmp_path):
    out = tmp_path / "kmers"
    result = runner.invoke(
        app,
        [
            "bottleneck",
            "--hidden",
            "2",
            "--kmer",
            "1",
            "--seeds",
            "1",
            "--steps",
            "50",
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "capacity.tsv").read_text().splitlines()[1].split("\t")[1::3] == ["4", "1"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--hidden", "0"], "--hidden 0: each value must be at least 1"),
        (["--n", "2"], "--n 2: each value must be at least 3"),
        (["--n", "5,x"], "expected whole numbers"),
        (["--optimizer", "rmsprop"], "choose one of sgd, adam"),
        (["--lr", "-1"], "--lr -1: must be positive"),
        (["--kmer", "9"], "choose K from 1 to 6"),
    ],
)
def test_cli_bad_arguments_are_one_line_errors(runner, tmp_path, arguments, message):
    out = tmp_path / "never"
    result = runner.invoke(app, ["bottleneck", "--out", str(out), "--steps", "1", *arguments])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_cli_refuses_an_existing_folder(runner, tmp_path):
    result = runner.invoke(
        app, ["bottleneck", "--out", str(tmp_path), "--steps", "1", "--n", "5", "--hidden", "1"]
    )
    assert result.exit_code == 1 and "error:" in result.stderr
