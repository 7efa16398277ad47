"""The Python API (`dnanet.train`, `dnanet.load_run`, `Run`): what a notebook user relies on.

Each call is held against the command that does the same job on the same run (the session's CNN
trained by `dnanet train` on the bundled CTCF example): the same numbers, the same errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import dnanet
from dnanet.cli import app
from dnanet.examples import heldout_inputs
from dnanet.inputs.read import read_fasta


@pytest.fixture(scope="module")
def run(trained_run):
    return dnanet.load_run(trained_run, device="cpu", threads=1)


def held_out_records(count: int) -> dict[str, str]:
    """The first `count` held-out bound records, id -> sequence."""
    records = read_fasta(dict(heldout_inputs())["bound"])
    return {record.id: record.sequence.decode() for _, record in zip(range(count), records)}


def test_sequences_in_memory_predict_as_their_fasta_does(run, tmp_path):
    records = held_out_records(5)
    fasta = tmp_path / "five.fa"
    fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))

    from_file = run.predict(fasta)
    from_mapping = run.predict(records)
    from_list = run.predict(list(records.values()))

    pd.testing.assert_frame_equal(from_file, from_mapping, check_exact=True)
    assert list(from_list["id"]) == ["0", "1", "2", "3", "4"]  # ids are positions in the list
    pd.testing.assert_frame_equal(
        from_list.drop(columns="id"), from_file.drop(columns="id"), check_exact=True
    )
    assert set(from_file["predicted"]) <= {"bound", "background"}


def test_predict_equals_the_command_to_the_printed_digit(run, runner, tmp_path):
    out = tmp_path / "predictions.tsv"
    result = runner.invoke(app, ["predict", str(run.path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, sep="\t", dtype={"id": str, "predicted": str})

    frame = pd.concat([run.predict(path) for _, path in heldout_inputs()], ignore_index=True)

    assert list(frame.columns) == list(written.columns)
    pd.testing.assert_frame_equal(frame, written, check_exact=True, check_dtype=False)


def test_evaluate_equals_the_command(run, runner, tmp_path):
    out = tmp_path / "heldout.json"
    result = runner.invoke(app, ["evaluate", str(run.path), "--out", str(out)])
    assert result.exit_code == 0, result.output

    metrics = run.evaluate()  # no inputs: the bundled held-out files, as the command

    assert metrics == json.loads(out.read_text())
    assert metrics["n"] == 150 and metrics["auroc"] > 0.9


def test_embed_and_attribute_give_one_row_per_sequence(run):
    records = held_out_records(3)
    ids, vectors = run.embed(records)
    assert ids == list(records) and vectors.shape[0] == 3 and vectors.dtype == np.float32

    attributions = run.attribute(records, method="ism")
    assert attributions.ids == list(records)
    assert attributions.attributions.shape == attributions.sequences.shape == (3, 4, 101)
    one_hot = attributions.sequences.sum(axis=1)  # one base per column of a 101-bp record
    assert np.array_equal(one_hot, np.ones((3, 101), dtype=one_hot.dtype))


def test_variants_from_pairs(run, tmp_path):
    reference = next(iter(held_out_records(1).values()))
    alternative = reference[:50] + ("A" if reference[50] != "A" else "C") + reference[51:]
    pairs = tmp_path / "pairs.fa"
    pairs.write_text(f">snp|ref\n{reference}\n>snp|alt\n{alternative}\n")

    effects = run.variants(pairs=pairs)

    assert list(effects["id"]) == ["snp"] and list(effects["status"]) == ["ok"]
    diff = [column for column in effects.columns if column.startswith("diff")]
    assert diff and np.isfinite(effects[diff].to_numpy()).all()


def test_errors_are_the_commands_words(run, runner, tmp_path):
    missing = tmp_path / "no_such_run"
    with pytest.raises(dnanet.DnanetError) as raised:
        dnanet.load_run(missing)
    printed = runner.invoke(app, ["predict", str(missing), "--out", str(tmp_path / "p.tsv")])
    assert printed.exit_code == 1
    assert str(raised.value) in " ".join(printed.output.split())

    with pytest.raises(dnanet.DnanetError, match=r"sequences\[1\].*illegal character 'X'"):
        run.predict(["ACGT", "ACXT"])
    with pytest.raises(dnanet.DnanetError, match="unknown option epoch"):
        dnanet.train(out=tmp_path / "r", epoch=3)
    assert not (tmp_path / "r").exists()
