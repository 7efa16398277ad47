"""Interval records read from a genome (`dnanet.inputs.sources`): named by window,
reverse-complemented on the minus strand, windows off a chromosome end skipped and reported, and
inputs that need a genome or positives saying so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dnanet.data.store import read_labelled
from dnanet.errors import DnanetError
from dnanet.inputs.bed import reverse_complement
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.inputs.genome import open_genome
from dnanet.inputs.sources import GenomeSettings, LabelledInput, check_settings_used, resolve_inputs
from tests.inputs.test_genome import small_genome, write


def records_of(items) -> dict[str, bytes]:
    records = read_labelled(items)
    return {
        records.ids[i]: bytes(np.asarray(records.flat[records.offsets[i] : records.offsets[i + 1]]))
        for i in range(len(records))
    }


def test_interval_records_are_named_by_window_and_reverse_complemented_on_minus(tmp_path):
    genome_path = small_genome(tmp_path)
    genome = open_genome(genome_path)
    bed = write(
        tmp_path / "x.bed",
        "chrA\t100\t200\ta\t0\t+\nchrA\t100\t200\tb\t0\t-\nchrB\t420\t520\n"
        "chrA\t300\t500\tp\t0\t.\t1\t1\t1\t20\n",
    )
    items = resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, 40))
    records = records_of(items)
    assert list(records) == [
        "chrA:130-170(+)",
        "chrA:130-170(-)",
        "chrB:450-490(.)",
        "chrA:300-340(.)",
    ]
    assert records["chrA:130-170(+)"] == genome.fetch("chrA", 130, 170).translate(BYTE_TO_CODE)
    assert records["chrA:130-170(-)"] == reverse_complement(
        genome.fetch("chrA", 130, 170)
    ).translate(BYTE_TO_CODE)
    as_is = records_of(resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, None)))
    assert list(as_is) == [
        "chrA:100-200(+)",
        "chrA:100-200(-)",
        "chrB:420-520(.)",
        "chrA:300-500(.)",
    ]


def test_windows_off_a_chromosome_end_are_skipped_counted_and_reported(tmp_path):
    genome_path = small_genome(tmp_path)
    bed = write(
        tmp_path / "ends.bed", "chrA\t0\t30\nchrA\t400\t500\nchrB\t560\t600\nchrA\t990\t1000\n"
    )
    items = resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, 100))
    records = read_labelled(items)
    assert list(records.ids) == ["chrA:400-500(.)"]
    entry = records.provenance[0]
    assert (
        entry["skipped"] == {"off_chromosome_end": 3}
        and entry["intervals"] == 4
        and entry["window"] == 100
    )
    assert entry["notes"] == [
        f"{bed}: 3 of 4 intervals skipped: the window runs off the chromosome end (first: "
        "line 1, chrA:-35-65 on a 1,000-base chromosome)"
    ]
    assert (
        entry["genome"]["path"] == str(genome_path.resolve())
        and len(entry["genome"]["index_sha256"]) == 64
    )
    only_off = write(tmp_path / "off.bed", "chrA\t0\t30\n")
    with pytest.raises(
        DnanetError, match=r"off.bed: all 1 intervals were skipped: the window runs off"
    ):
        read_labelled(
            resolve_inputs([LabelledInput("x", only_off)], GenomeSettings(genome_path, 100))
        )


def test_a_chromosome_missing_from_the_genome_is_an_error_naming_the_line(tmp_path):
    genome_path = small_genome(tmp_path)
    bed = write(tmp_path / "x.bed", "chrA\t1\t50\nA\t1\t50\n")
    with pytest.raises(
        DnanetError,
        match=r"x.bed line 2: chromosome 'A' is not in the genome .*small.fa \(it has "
        r"'chrA': the BED and the genome name chromosomes differently\)",
    ):
        read_labelled(resolve_inputs([LabelledInput("x", bed)], GenomeSettings(genome_path, None)))
    other = write(tmp_path / "y.bed", "chrZ\t1\t50\n")
    with pytest.raises(
        DnanetError,
        match=r"y.bed line 1: chromosome 'chrZ' is not in the genome .* \(its 2 "
        r"chromosomes: chrA, chrB\)",
    ):
        read_labelled(
            resolve_inputs([LabelledInput("x", other)], GenomeSettings(genome_path, None))
        )


def test_inputs_that_need_a_genome_or_positives_say_so(tmp_path):
    bed = write(tmp_path / "x.bed", "chrA\t1\t50\n")
    with pytest.raises(DnanetError, match=r"x.bed: intervals \(BED\) need --genome FILE"):
        resolve_inputs([LabelledInput("x", bed)], None)
    with pytest.raises(
        DnanetError, match=r"background=shuffle: a generated background needs positive inputs"
    ):
        resolve_inputs([LabelledInput("background", Path("shuffle"))], None)
    fasta = write(tmp_path / "a.fa", ">r\nACGT\n")
    with pytest.raises(
        DnanetError, match=r"--genome is used with BED inputs or generated backgrounds"
    ):
        settings = GenomeSettings(small_genome(tmp_path), None)
        check_settings_used(resolve_inputs([LabelledInput("a", fasta)], settings), settings)
    with pytest.raises(
        DnanetError, match=r"gc-matched: draws windows from the genome .*/a.fa is not a BED file"
    ):
        read_labelled(
            resolve_inputs(
                [LabelledInput("a", fasta), LabelledInput("b", Path("gc-matched"))], None
            )
        )
