"""The indexed genome (`dnanet.inputs.genome`): plain and bgzip FASTA read alike, plain gzip
refused, clear errors for an index that cannot be written and an illegal letter. The helpers here
(`write`, `small_genome`) serve test_intervals, test_sources and test_tracks too."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dnanet.errors import DnanetError
from dnanet.inputs.genome import open_genome


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def small_genome(folder: Path) -> Path:
    """chrA: 1,000 seeded random bases; chrB: 600 bases with 200 N in the middle."""
    rng = np.random.default_rng(5)
    a = "".join(rng.choice(list("ACGT"), 1000))
    b = "".join(rng.choice(list("ACGT"), 200)) + "N" * 200 + "".join(rng.choice(list("acgt"), 200))
    lines = [">chrA some description"] + [a[i : i + 70] for i in range(0, 1000, 70)]
    lines += [">chrB"] + [b[i : i + 70] for i in range(0, 600, 70)]
    return write(folder / "small.fa", "\n".join(lines) + "\n")


# --- the genome ------------------------------------------------------------------------------


def test_plain_and_bgzip_genomes_read_the_same_and_plain_gzip_is_refused(tmp_path):
    from Bio import bgzf

    plain = small_genome(tmp_path)
    genome = open_genome(plain)
    assert genome.sizes == {"chrA": 1000, "chrB": 600}
    assert Path(f"{plain}.fai").exists() and not list(tmp_path.glob("*.partial"))
    text = "".join(plain.read_text().split("\n>chrB")[0].splitlines()[1:])
    assert genome.fetch("chrA", 65, 145).decode() == text[65:145]  # across line ends
    bgzipped = tmp_path / "small.fa.gz"
    with open(plain, "rb") as source, bgzf.BgzfWriter(str(bgzipped), "wb") as target:
        target.write(source.read())
    other = open_genome(bgzipped)
    assert other.sizes == genome.sizes and other.fetch("chrB", 350, 450) == genome.fetch(
        "chrB", 350, 450
    )
    assert Path(f"{bgzipped}.gzi").exists()
    gzipped = tmp_path / "plain.fa.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(
        DnanetError,
        match=r"plain.fa.gz: a plain-gzip FASTA cannot be read at random positions; "
        r"recompress it with bgzip .* or gunzip it",
    ):
        open_genome(gzipped)


def test_an_index_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    import pyfaidx

    plain = small_genome(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("indexname"))

    monkeypatch.setattr(pyfaidx, "Faidx", refuse)
    with pytest.raises(
        DnanetError,
        match=r"small.fa: cannot write its index .*small.fa.fai beside it \(Permission "
        r"denied\); copy the genome to a folder you can write",
    ):
        open_genome(plain)


def test_an_illegal_letter_in_the_genome_names_chromosome_and_position(tmp_path):
    genome = write(tmp_path / "g.fa", ">c1\nACGTAC\nGT-ACG\n")
    with pytest.raises(DnanetError, match=r"g.fa: c1 position 9 has an illegal character '-'"):
        open_genome(genome).fetch("c1", 0, 12)
