"""Tracks as a library call (`dnanet.inference.tracks.write_tracks`): the file `dnanet predict
--out X.bedGraph` writes, the counts and the line it prints, and the errors before any work."""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.inference.tracks import write_tracks
from dnanet.progress import Reporter
from dnanet.runs.load import load_run


class Counting(Reporter):
    """Keeps the last progress value of every counter, with its total and unit."""

    def __init__(self):
        super().__init__()
        self.progress = {}

    @contextlib.contextmanager
    def counter(self, what, total=None, unit="records"):
        yield lambda done: self.progress.__setitem__(what, (done, total, unit))


def test_the_track_is_the_commands_with_its_counts(trained_run, synthetic_genome, runner, tmp_path):
    region = ["--region", "chr2:50001-70000", "--region", "chr1:1-5000"]  # a gap, a telomere
    options = ["--genome", str(synthetic_genome.genome), "--window", "101", "--step", "100"]
    result = runner.invoke(
        app,
        ["predict", str(trained_run), *region, *options, "--out", str(tmp_path / "cli.bedGraph")],
    )
    assert result.exit_code == 0, result.output
    reporter = Counting()
    out = tmp_path / "lib.bedGraph"
    made = write_tracks(
        load_run(trained_run),
        out,
        genome=synthetic_genome.genome,
        window=101,
        regions=["chr2:50001-70000", "chr1:1-5000"],
        step=100,
        reporter=reporter,
    )
    assert out.read_text() == (tmp_path / "cli.bedGraph").read_text()
    lines = out.read_text().splitlines()
    assert lines[1].startswith("chr1\t") and made.regions == 2 and made.bases == 25_000
    counts = made.counts
    assert counts["bins"] == 250 == counts["values"] + counts["unknown"] + counts["off_chromosome"]
    assert counts["values"] == len(lines) - 1 and counts["unknown"] >= 30 + 20  # gap, telomere
    assert reporter.progress["track"] == (25_000, 25_000, "bases")
    said = " ".join(result.stderr.split())
    assert made.summary().replace("lib.bedGraph", "cli.bedGraph") in said
    assert made.files == [out] and made.notes == []


def test_a_track_needs_a_genome_and_a_window(trained_run, synthetic_genome, tmp_path):
    out = tmp_path / "t.bedGraph"
    with pytest.raises(DnanetError, match="a track needs --genome FILE"):
        write_tracks(trained_run, out, genome=None, window=101)
    varied = tmp_path / "varied"  # trained on FASTA records of several lengths
    shutil.copytree(trained_run, varied)
    description = json.loads((varied / "model.json").read_text())
    description["training_lengths"] = {"min": 90, "max": 101}
    (varied / "model.json").write_text(json.dumps(description))
    with pytest.raises(
        DnanetError, match="trained on records of 90 to 101 bases, .* give --window N"
    ):
        write_tracks(varied, out, genome=synthetic_genome.genome)
    assert not out.exists()


def test_a_run_trained_on_records_of_one_length_makes_a_track_without_window(
    trained_run, synthetic_genome, tmp_path
):
    """Every training record of the bundled example has 101 bases: that is the track's window."""
    assert json.loads((trained_run / "model.json").read_text())["training_lengths"] == {
        "min": 101,
        "max": 101,
    }
    out = tmp_path / "t.bedGraph"
    made = write_tracks(trained_run, out, genome=synthetic_genome.genome, regions=["chr1:1-5000"])
    assert made.window == 101 and out.exists()
