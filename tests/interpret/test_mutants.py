"""In-silico mutagenesis through shared CNN computation equals full passes on a trained run."""

from __future__ import annotations

from pathlib import Path

import torch

from dnanet.examples import __file__ as examples_init
from dnanet.inputs.encode import sequences_to_codes
from dnanet.inputs.read import read_fasta
from dnanet.interpret.attribution import mutagenesis, target_output
from dnanet.runs.load import load_run


def test_shared_mutagenesis_equals_full_passes_both_strands(trained_run):
    run = load_run(trained_run)
    assert run.reverse_complement_average  # the shipped config averages strands: both strands
    path = Path(examples_init).parent / "ctcf" / "heldout_bound.fa"
    records = [record.sequence for _, record in zip(range(3), read_fasta(path))]
    records[1] = records[1][:150]  # two lengths in one batch: padding, two groups of sources
    codes, lengths = (torch.as_tensor(a) for a in sequences_to_codes(records))
    objective = target_output(run.task, run.task.names.index("bound"))
    shared, reference = mutagenesis(run.model, codes, lengths, objective, strands=2)
    alone, same_reference = mutagenesis(
        run.model, codes, lengths, objective, strands=2, shared=False
    )
    assert torch.equal(reference, same_reference)
    assert (alone != 0).sum() == 3 * int(lengths.sum())  # every substitution was scored
    assert (alone[1, :, 150:] == 0).all() and (shared[1, :, 150:] == 0).all()
    assert (shared - alone).abs().max() < 1e-5
    assert alone.abs().max() > 0.5  # the sites matter: the comparison is not of zeros
