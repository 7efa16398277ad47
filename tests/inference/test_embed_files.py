"""`dnanet.inference.embed_files` called as a library: `embed_arrays` gives the vectors `dnanet
embed` writes (bit for bit), for FASTA inputs and sequences held in memory; `embed_to_file`
writes the file and plot, claims its outputs and hands back its notes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.examples import example_path, heldout_inputs
from dnanet.inference.embed_files import PLOT_SAMPLE, embed_arrays, embed_to_file
from dnanet.inputs.read import read_fasta
from dnanet.inputs.sources import LabelledInput, parse_inputs, resolve_inputs, sequences_input
from dnanet.progress import Reporter
from dnanet.runs.load import load_run

HELDOUT = [f"{label}={path}" for label, path in heldout_inputs()]


@pytest.fixture(scope="module")
def run(trained_run):
    return load_run(trained_run)


def heldout_items() -> list[LabelledInput]:
    return resolve_inputs(parse_inputs(HELDOUT, heldout_inputs), None)


def cli_embed(runner, trained_run, out, *extra) -> None:
    result = runner.invoke(
        app, ["embed", str(trained_run), *HELDOUT, "--out", str(out), "--quiet", *extra]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "layer, pool", [("embedding", None), ("tokens", "max")], ids=["embedding", "tokens-max"]
)
def test_embed_arrays_equals_the_npy_dnanet_embed_writes(
    runner, trained_run, run, tmp_path, layer, pool
):
    extra = ["--layer", layer] + (["--pool", pool] if pool else [])
    cli_embed(runner, trained_run, tmp_path / "e.npy", *extra)
    ids, vectors = embed_arrays(run, heldout_items(), layer=layer, pool=pool)
    assert ids == (tmp_path / "e.ids.txt").read_text().splitlines()
    assert vectors.dtype == np.float32 and vectors.shape == (150, vectors.shape[1])
    np.testing.assert_array_equal(vectors, np.load(tmp_path / "e.npy"))


def test_embed_arrays_of_sequences_in_memory_equal_those_of_the_fasta(run):
    records = list(read_fasta(example_path("heldout_bound.fa")))[:5]
    in_memory = {record.id: record.sequence.decode() for record in records}
    ids, vectors = embed_arrays(run, [sequences_input(in_memory)], batch_size=256)
    fasta_ids, fasta_vectors = embed_arrays(run, heldout_items())
    assert ids == fasta_ids[:5] == list(in_memory)
    np.testing.assert_allclose(vectors, fasta_vectors[:5], rtol=1e-5, atol=1e-5)


def test_embed_arrays_without_inputs_embeds_the_bundled_example_and_says_so(run):
    reporter = Reporter()
    ids, vectors = embed_arrays(run, [], reporter=reporter)
    assert len(ids) == len(vectors) == 150
    assert reporter.texts("info") == [
        "no FASTA given: using the bundled CTCF example files bound=heldout_bound.fa, "
        "background=heldout_background.fa"
    ]


def test_embed_arrays_notes_repeated_ids_and_keeps_every_row(run, tmp_path):
    fasta = tmp_path / "twice.fa"
    fasta.write_text(example_path("heldout_bound.fa").read_text() * 2)
    reporter = Reporter()
    ids, vectors = embed_arrays(run, [str(fasta)], reporter=reporter)
    assert len(ids) == 150 and ids[:75] == ids[75:]
    np.testing.assert_allclose(vectors[:75], vectors[75:], rtol=1e-5, atol=1e-5)
    assert any("reuse an earlier record's id" in note for note in reporter.texts("note"))


def test_embed_to_file_writes_what_embed_arrays_returns_with_a_plot(run, tmp_path):
    out, plot = tmp_path / "e.parquet", tmp_path / "e.png"
    done = embed_to_file(run, heldout_items(), out, plot=plot)
    table = pd.read_parquet(out)
    ids, vectors = embed_arrays(run, heldout_items())
    assert (done.count, done.width, done.ids_file, done.plot) == (150, 128, None, plot)
    assert done.processes == 1 and done.notes == []
    assert table["id"].tolist() == ids
    np.testing.assert_array_equal(table.iloc[:, 2:].to_numpy(), vectors)
    assert table["class"].value_counts().to_dict() == {"bound": 75, "background": 75}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embed_to_file_refuses_an_existing_output_before_any_work(trained_run, tmp_path):
    out = tmp_path / "e.tsv"
    out.write_text("mine\n")
    with pytest.raises(DnanetError, match="already exists; choose another --out or pass"):
        embed_to_file(trained_run, HELDOUT, out)
    assert out.read_text() == "mine\n" and sorted(tmp_path.iterdir()) == [out]
    done = embed_to_file(trained_run, HELDOUT, out, overwrite=True, batch_size=7)
    rows = out.read_text().splitlines()
    assert done.count == 150 and len(rows) == 151 and rows[0].startswith("id\tclass\tdim_0\t")


def test_the_help_names_the_plot_sample_the_library_draws():
    from dnanet.cli.embed import PLOT_SAMPLE as shown

    assert shown == PLOT_SAMPLE


def test_embed_warns_of_lengths_the_model_never_saw_or_refuses_them(run, runner, tmp_path):
    """The bundled run saw 101-base records only: embedding a 40-base one says so (file and API),
    and --strict-lengths refuses it with one line, writing nothing."""
    record = next(read_fasta(example_path("heldout_bound.fa")))
    fasta = tmp_path / "short.fa"
    fasta.write_text(f">cut\n{record.sequence[:40].decode()}\n>whole\n{record.sequence.decode()}\n")
    done = embed_to_file(run, [f"bound={fasta}"], tmp_path / "e.tsv")
    warning = (
        "1 of 2 records have lengths the model never saw (40 bases; first: 'cut'): "
        f"{run.folder} was trained on records of 101 bases"
    )
    assert done.count == 2 and any(note.startswith(warning) for note in done.notes)
    reporter = Reporter()
    embed_arrays(run, [f"bound={fasta}"], reporter=reporter)
    assert any(text.startswith(warning) for text in reporter.texts("warning"))
    out = tmp_path / "strict.parquet"
    result = runner.invoke(
        app, ["embed", str(run.folder), f"bound={fasta}", "--out", str(out), "--strict-lengths"]
    )
    assert result.exit_code == 1 and not out.exists()
    assert f"{fasta}: record 'cut' has 40 bases" in " ".join(result.stderr.split())
