"""`dnanet.synthetic.genome.write_example_genome` (`dnanet example-genome`): the folder written
whole (with its coverage tracks unless told not to), its paths returned under it, the same seed
giving the same genome, an existing folder refused unless overwritten."""

from __future__ import annotations

import pytest

from dnanet.errors import DnanetError
from dnanet.synthetic.genome import write_example_genome


def test_the_folder_holds_the_genome_its_peaks_and_sites(tmp_path):
    out = tmp_path / "g"
    made = write_example_genome(out, peaks=30, seed=3)
    assert (made.genome, made.peaks, made.sites_path) == (
        out / "genome.fa",
        out / "peaks.narrowPeak",
        out / "sites.tsv",
    )
    assert sorted(path.name for path in out.iterdir()) == [
        "control.bw",
        "genome.fa",
        "peaks.narrowPeak",
        "signal.bw",
        "sites.tsv",
    ]
    assert len(made.sites) == 30 == len(made.peaks.read_text().splitlines())
    again = write_example_genome(tmp_path / "again", peaks=30, seed=3, coverage=False)
    assert again.genome.read_bytes() == made.genome.read_bytes()
    assert sorted(path.name for path in again.genome.parent.iterdir()) == [
        "genome.fa",
        "peaks.narrowPeak",
        "sites.tsv",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["again", "g"]  # no temporaries


def test_an_existing_folder_is_refused_unless_overwritten(tmp_path):
    out = tmp_path / "g"
    out.mkdir()
    (out / "old.txt").write_text("old\n")
    with pytest.raises(DnanetError, match="already exists"):
        write_example_genome(out, peaks=5)
    assert [path.name for path in out.iterdir()] == ["old.txt"]
    write_example_genome(out, peaks=5, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "genome.fa").exists()
