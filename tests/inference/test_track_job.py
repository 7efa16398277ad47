"""Tracks as a library call (`dnanet.inference.tracks.write_tracks`): the file `dnanet predict
--out X.bedGraph` writes, the counts and the line it prints, and the errors before any work."""

from __future__ import annotations

import contextlib

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
    with pytest.raises(DnanetError, match="record no window width .* give --window N"):
        write_tracks(trained_run, out, genome=synthetic_genome.genome)  # trained on FASTA
    assert list(tmp_path.iterdir()) == []
