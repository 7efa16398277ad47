"""`dnanet.interpret.attribution_workflow` called as a library on the CNN trained on the bundled
CTCF example: `attribute_arrays` gives the arrays `dnanet attribute` writes (bit for bit), pads
records shorter than the longest with zero columns as the files do, and `attribute_to_file`
writes the two files and the logos, claims its outputs and hands back its notes."""

from __future__ import annotations

import numpy as np
import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.examples import example_path
from dnanet.inputs.read import read_fasta
from dnanet.inputs.sources import LabelledInput, resolve_inputs, sequences_input
from dnanet.interpret.attribution_workflow import (
    PLOTTED_RECORDS,
    attribute_arrays,
    attribute_to_file,
    parse_region,
)
from dnanet.progress import Reporter
from dnanet.runs.load import load_run

BOUND = example_path("heldout_bound.fa")


@pytest.fixture(scope="module")
def run(trained_run):
    return load_run(trained_run)


def bound_items() -> list[LabelledInput]:
    return resolve_inputs([LabelledInput(None, BOUND)], None)


def cli_attribute(runner, trained_run, out, *extra):
    result = runner.invoke(
        app, ["attribute", str(trained_run), str(BOUND), "--out", str(out), "--quiet", *extra]
    )
    assert result.exit_code == 0, result.output
    return np.load(out), np.load(out.with_name("a.ohe.npz"))["arr_0"]


@pytest.mark.parametrize(
    "method, region", [("saliency", None), ("ism", "40:60")], ids=["saliency", "ism-region"]
)
def test_attribute_arrays_equal_the_files_dnanet_attribute_writes(
    runner, trained_run, run, tmp_path, method, region
):
    extra = ["--method", method] + (["--region", region] if region else [])
    written, one_hot = cli_attribute(runner, trained_run, tmp_path / "a.npz", *extra)
    result = attribute_arrays(run, bound_items(), method=method, region=region)
    assert result.ids == written["ids"].tolist() and len(result.ids) == 75
    np.testing.assert_array_equal(result.attributions, written["arr_0"])
    np.testing.assert_array_equal(result.sequences, one_hot)
    np.testing.assert_array_equal(result.reference, written["reference"])
    np.testing.assert_array_equal(result.lengths, written["lengths"])
    assert (result.method, result.target, result.output) == (
        str(written["method"]),
        str(written["target"]),
        str(written["output"]),
    )
    assert result.strands == int(written["strands"])
    assert result.region == tuple(written["region"].tolist())
    if method == "ism":
        np.testing.assert_array_equal(result.deltas, written["deltas"])
        outside = np.r_[0:40, 60 : result.attributions.shape[2]]
        assert not result.attributions[:, :, outside].any()
        assert result.attributions[:, :, 40:60].any()
    else:
        assert result.deltas is None and "deltas" not in written.files


@pytest.mark.parametrize("batch_size", [128, 1], ids=["one-batch", "a-batch-each"])
def test_records_of_different_lengths_are_padded_with_zero_columns(run, batch_size):
    """As in the file: L is the longest record; a shorter one's columns past its end are 0 (whether
    it shared a padded batch with the longer one or not), and its attributions are those it has
    alone."""
    record = next(iter(read_fasta(BOUND))).sequence.decode()
    sequences = {"short": record[:60], "long": record}
    result = attribute_arrays(run, [sequences_input(sequences)], batch_size=batch_size)
    alone = attribute_arrays(run, [sequences_input({"short": record[:60]})])
    assert result.ids == ["short", "long"] and result.lengths.tolist() == [60, len(record)]
    assert result.attributions.shape == result.sequences.shape == (2, 4, len(record))
    assert not result.attributions[0, :, 60:].any() and not result.sequences[0, :, 60:].any()
    assert (result.sequences[0, :, :60].sum(0) == 1).all()
    np.testing.assert_allclose(
        result.attributions[0, :, :60], alone.attributions[0], rtol=1e-5, atol=1e-6
    )


def test_attribute_to_file_writes_the_arrays_and_logos_and_its_notes(run, tmp_path):
    out, plot = tmp_path / "a.npz", tmp_path / "logos.png"
    reporter = Reporter()
    done = attribute_to_file(run, [], out, plot=plot, records=["ctcf_00026"], reporter=reporter)
    assert (done.out, done.sequences_out, done.logos) == (out, tmp_path / "a.ohe.npz", plot)
    assert (done.records, done.method, done.output, done.processes) == (
        150,
        "saliency",
        "log_odds",
        1,
    )
    assert done.notes == reporter.texts() and done.notes[0].startswith("no FASTA given: using")
    written = np.load(out)
    in_memory = attribute_arrays(run, [])
    np.testing.assert_array_equal(written["arr_0"], in_memory.attributions)
    np.testing.assert_array_equal(np.load(done.sequences_out)["arr_0"], in_memory.sequences)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_attribute_to_file_refuses_before_any_work_and_leaves_nothing(trained_run, tmp_path):
    out = tmp_path / "a.npz"
    out.write_bytes(b"mine")
    with pytest.raises(DnanetError, match="a.npz: already exists"):
        attribute_to_file(trained_run, [BOUND], out)
    with pytest.raises(DnanetError, match="--target nope: not one of the run's classes"):
        attribute_to_file(trained_run, [BOUND], tmp_path / "b.npz", target="nope")
    with pytest.raises(DnanetError, match="--records: no record named missing"):
        attribute_to_file(
            trained_run, [BOUND], tmp_path / "b.npz", plot=tmp_path / "p.png", records="missing"
        )
    assert out.read_bytes() == b"mine" and sorted(tmp_path.iterdir()) == [out]


def test_regions_are_text_or_pairs():
    assert parse_region("40:60") == parse_region((40, 60)) == (40, 60)
    assert parse_region(None) is None
    with pytest.raises(DnanetError, match="--region '60:30': expected START:END"):
        parse_region((60, 30))


def test_the_help_names_the_records_the_library_draws():
    from dnanet.cli.attribute import PLOTTED_RECORDS as shown

    assert shown == PLOTTED_RECORDS
