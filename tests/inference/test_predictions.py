"""A run's predictions as a library call (`dnanet.inference.predictions`): the DataFrame a notebook
gets is the TSV `dnanet predict` writes, cell for cell; the TSV written by the library directly
(file, standard output, a shard) with its counts and notes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.examples import example_path, heldout_inputs
from dnanet.inference.predictions import predictions_frame, write_prediction_table
from dnanet.inputs.sources import LabelledInput, resolve_inputs, sequences_input
from dnanet.progress import Reporter
from dnanet.runs.load import load_run
from dnanet.runtime.shards import Shard

HELDOUT = [example_path("heldout_bound.fa"), example_path("heldout_background.fa")]


def unlearned_copy(run: Path, folder: Path) -> Path:
    """A copy of `run` whose model.json says its model did not learn (as `dnanet train` writes
    it)."""
    copy = folder / "unlearned"
    shutil.copytree(run, copy)
    description = json.loads((copy / "model.json").read_text())
    description["learned"] = False
    description["learning"] = {"message": "validation loss 0.69 is chance"}
    (copy / "model.json").write_text(json.dumps(description))
    return copy


def text_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter="\t"))


def frame_rows(frame: pd.DataFrame) -> list[list[str]]:
    """The frame's header and cells as `dnanet predict` prints them (probabilities with every
    float32 digit)."""
    cells = [
        [value if isinstance(value, str) else str(np.float32(value)) for value in row]
        for row in frame.itertuples(index=False)
    ]
    return [list(frame.columns), *cells]


def resolved(paths) -> list[LabelledInput]:
    return resolve_inputs([LabelledInput(None, Path(path)) for path in paths], None)


def test_predictions_frame_is_the_tsv_predict_writes_cell_for_cell(trained_run, runner, tmp_path):
    out = tmp_path / "p.tsv"
    result = runner.invoke(
        app, ["predict", str(trained_run), *map(str, HELDOUT), "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    frame = predictions_frame(load_run(trained_run), resolved(HELDOUT))
    assert frame_rows(frame) == text_rows(out)
    assert [pd.api.types.is_string_dtype(frame[c]) for c in frame] == [True, True, False, False]
    assert frame.dtypes.tolist()[2:] == [np.float64, np.float64]
    pd.testing.assert_frame_equal(
        frame, pd.read_csv(out, sep="\t", dtype={"id": str, "predicted": str})
    )


def test_predictions_frame_of_sequences_in_memory_keeps_their_ids_as_text(trained_run, tmp_path):
    run = load_run(trained_run)
    for records in (
        {"007": "ACGT" * 25 + "A", "10": "TTGCA" * 20, "1": "GATTACA" * 14},  # numbers to pandas
        {"NA": "ACGT" * 25 + "A", "null": "TTGCA" * 20},  # missing values to pandas
    ):
        fasta = tmp_path / "in.fa"
        fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
        in_memory = predictions_frame(run, resolve_inputs([sequences_input(records)], None))
        assert in_memory["id"].tolist() == list(records)
        pd.testing.assert_frame_equal(in_memory, predictions_frame(run, resolved([fasta])))


def test_the_table_written_by_the_library_is_the_commands(trained_run, runner, tmp_path):
    runner.invoke(app, ["predict", str(trained_run), "--out", str(tmp_path / "cli.tsv"), "-q"])
    reporter = Reporter()
    out = tmp_path / "deep" / "lib.tsv"
    written = write_prediction_table(
        trained_run, [], out, default=heldout_inputs, threads=1, reporter=reporter
    )
    assert out.read_text() == (tmp_path / "cli.tsv").read_text()
    assert (written.count, written.summary()) == (150, f"150 predictions written to {out}")
    assert written.notes == reporter.texts("info") and "bundled CTCF example" in written.notes[0]
    with pytest.raises(DnanetError, match="already exists; choose another --out"):
        write_prediction_table(trained_run, HELDOUT, out)
    assert out.read_text() == (tmp_path / "cli.tsv").read_text()


def test_a_shard_is_its_block_of_rows_and_standard_output_holds_no_summary(
    trained_run, tmp_path, capsys
):
    everything = predictions_frame(load_run(trained_run), resolved(HELDOUT))
    out = tmp_path / "p.2.tsv"
    written = write_prediction_table(trained_run, HELDOUT, out, shard=Shard(1, 3))
    assert written.summary() == f"shard 2/3: 50 predictions written to {out}"
    assert [row[0] for row in text_rows(out)] == everything["id"].tolist()[50:100]  # no header
    capsys.readouterr()
    printed = write_prediction_table(trained_run, HELDOUT[:1], "-")
    table = capsys.readouterr().out
    assert printed.summary() is None and printed.count == 75
    assert table.splitlines()[0] == "id\tpredicted\tprob_bound\tprob_background"
    assert len(table.splitlines()) == 76


def test_an_input_that_fails_before_its_first_record_leaves_standard_output_empty(
    trained_run, tmp_path, capsys
):
    broken = tmp_path / "broken.fa"
    broken.write_text(">a\nACGT-ACGT\n")
    with pytest.raises(DnanetError, match="illegal character '-'"):
        write_prediction_table(trained_run, [broken], "-")
    assert capsys.readouterr().out == ""


def test_notes_carry_repeated_ids_and_a_model_that_did_not_learn(trained_run, tmp_path):
    fasta = tmp_path / "twice.fa"
    fasta.write_text(">same\nACGTACGTACGT\n>other\nTTTTGGGGCCCC\n>same\nGGGGCCCCAAAA\n")
    reporter = Reporter()
    written = write_prediction_table(
        unlearned_copy(trained_run, tmp_path), [fasta], tmp_path / "p.tsv", reporter=reporter
    )
    assert written.count == 3 and len(text_rows(tmp_path / "p.tsv")) == 4  # every row kept
    warning, repeated, lengths = written.notes
    assert reporter.notes[0] == ("warning", warning)
    assert lengths.startswith("3 of 3 records have lengths the model never saw (12 bases;")
    assert warning.endswith("the model did not learn: validation loss 0.69 is chance")
    assert "'same'" in repeated and str(fasta) in repeated


def test_probabilities_keep_every_float32_digit_so_confident_log_odds_survive(
    trained_run, tmp_path
):
    """Rounded to 6 decimals, a confident record read 1.000000 and its log-odds were lost: the
    printed probability now reads back as the model's float32 output, and logit(p) from it
    equals the model's log-odds to float32 precision."""
    from dnanet.data.streaming import iter_batches
    from dnanet.inference.predict import predict

    run = load_run(trained_run)
    written = write_prediction_table(run, HELDOUT, tmp_path / "p.tsv", reporter=Reporter())
    table = pd.read_csv(tmp_path / "p.tsv", sep="\t", dtype={"prob_bound": str})
    outputs = predict(
        run.model,
        ((b.codes, b.lengths) for b in iter_batches(resolved(HELDOUT), 256)),
        run.reverse_complement_average,
        activate=run.task.activate,
    )
    bound = run.task.names.index("bound")
    printed = table["prob_bound"].astype(np.float32).to_numpy()
    assert written.count == len(outputs)
    np.testing.assert_array_equal(printed, outputs[:, bound])  # every float32 digit


def test_records_outside_the_training_lengths_get_a_warning_or_are_refused(
    trained_run, runner, tmp_path
):
    """The bundled run saw only 101-base records: a 30-base and a 1,000-base record (a real
    held-out record cut, and four of them joined) are counted in one warning that says what the
    model saw; --strict-lengths refuses the first with one line and writes nothing."""
    records = [
        r.split("\n", 1) for r in example_path("heldout_bound.fa").read_text().split(">")[1:6]
    ]
    bases = ["".join(sequence.split()) for _, sequence in records]
    path = tmp_path / "mixed.fa"
    path.write_text(
        f">short\n{bases[0][:30]}\n>whole\n{bases[1]}\n>long\n{(''.join(bases[1:5]) * 3)[:1000]}\n"
    )
    reporter = Reporter()
    made = write_prediction_table(trained_run, [path], tmp_path / "p.tsv", reporter=reporter)
    warning = (
        "2 of 3 records have lengths the model never saw (30 to 1,000 bases; first: 'short'): "
        f"{trained_run} was trained on records of 101 bases, so its outputs for them are "
        "extrapolations (--strict-lengths refuses such records)"
    )
    assert made.count == 3 and made.notes == [warning]
    out = tmp_path / "strict.tsv"
    result = runner.invoke(
        app, ["predict", str(trained_run), str(path), "--out", str(out), "--strict-lengths"]
    )
    assert result.exit_code == 1 and not out.exists()
    assert (
        f"error: {path}: record 'short' has 30 bases; {trained_run} was trained on records of "
        "101 bases" in " ".join(result.stderr.split())
    )
    within = write_prediction_table(trained_run, HELDOUT, tmp_path / "h.tsv", reporter=Reporter())
    assert within.notes == []
