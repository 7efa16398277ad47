"""Variant effects as library calls (`dnanet.interpret.variant_job`): the DataFrame a notebook gets
is the TSV `dnanet variants` writes, cell for cell (VCF and --pairs); `score_variants` writes that
TSV, its shards and plots, and returns the counts the command prints."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.inputs.genome import open_genome
from dnanet.interpret.variant_job import VariantInput, score_variants, variants_frame
from dnanet.interpret.variants import BASE_COLUMNS
from dnanet.runs.load import load_run
from dnanet.runtime.shards import Shard

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
WINDOW = "101"  # the bundled example's length: the CTCF run slid along the synthetic genome


def vcf_line(chrom, pos, ref, alt, ident=".") -> str:
    return f"{chrom}\t{pos}\t{ident}\t{ref}\t{alt}\t.\tPASS\t.\n"


@pytest.fixture(scope="module")
def vcf(synthetic_genome, tmp_path_factory) -> Path:
    """SNVs (one multi-allelic), a deletion, and lines of four other statuses."""
    genome = open_genome(synthetic_genome.genome)
    lines = []
    for i, at in enumerate((10_000, 20_000, 30_000, 45_000)):
        base = genome.fetch("chr1", at, at + 1).decode().upper()
        others = [letter for letter in "ACGT" if letter != base]
        alt = ",".join(others[:2]) if i == 0 else others[0]  # v0: two alleles, two rows
        lines.append(vcf_line("chr1", at + 1, base, alt, f"v{i}"))
    deleted = genome.fetch("chr1", 50_000, 50_003).decode().upper()
    actual = genome.fetch("chr1", 10_000, 10_004).decode().upper()
    wrong = "".join("C" if letter != "C" else "G" for letter in actual)
    lines += [
        vcf_line("chr1", 50_001, deleted, deleted[0], "deletion"),
        vcf_line("chr9", 5, "A", "C", "unknown"),
        vcf_line("chr1", "x", "A", "C", "malformed"),
        vcf_line("chr1", 10_001, wrong, "C", "mismatch"),
        vcf_line("chr1", 10, "N", "<DEL>", "symbolic"),
    ]
    path = tmp_path_factory.mktemp("variant-job") / "v.vcf"
    path.write_text(HEADER + "".join(lines))
    return path


def command(runner, run: Path, out: Path, *arguments: str):
    result = runner.invoke(
        app, ["variants", str(run), *arguments, "--out", str(out), "--threads", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return result


def text_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter="\t"))


def frame_rows(frame) -> list[list[str]]:
    """The frame's header and cells as `dnanet variants` prints them (effects to 6 significant
    digits, empty where a variant was not scored)."""
    cells = [
        [
            value if isinstance(value, str) else "" if math.isnan(value) else f"{value:.6g}"
            for value in row
        ]
        for row in frame.itertuples(index=False)
    ]
    return [list(frame.columns), *cells]


def test_variants_frame_is_the_tsv_variants_writes_cell_for_cell(
    trained_run, synthetic_genome, vcf, runner, tmp_path
):
    out = tmp_path / "e.tsv"
    genome = str(synthetic_genome.genome)
    command(runner, trained_run, out, "--vcf", str(vcf), "--genome", genome, "--window", WINDOW)
    frame = variants_frame(
        load_run(trained_run), vcf=vcf, genome=synthetic_genome.genome, window=int(WINDOW)
    )
    assert frame_rows(frame) == text_rows(out)
    statuses = {"ok", "unknown_chromosome", "malformed", "ref_mismatch", "symbolic_allele"}
    assert set(frame["status"]) == statuses
    assert all(pd.api.types.is_string_dtype(frame[column]) for column in BASE_COLUMNS)
    assert all(frame[column].dtype == np.float64 for column in frame if column not in BASE_COLUMNS)
    assert frame.loc[frame["status"] != "ok", "diff_bound"].isna().all()
    assert (frame.loc[frame["status"] == "ok", "note"] == "").all()  # empty text, not missing
    assert frame.loc[frame["status"] == "ok", "diff_bound"].notna().all()


def test_variants_frame_of_pairs_is_the_tsv_of_variants_pairs(
    trained_run, synthetic_genome, runner, tmp_path
):
    genome = open_genome(synthetic_genome.genome)
    records = []
    for i, at in enumerate((12_000, 22_000, 32_000)):
        sequence = genome.fetch("chr2", at - 60, at + 60).decode()
        changed = "C" if sequence[60].upper() != "C" else "G"
        records += [
            f">p{i}|ref\n{sequence}\n",
            f">p{i}|alt\n{sequence[:60]}{changed}{sequence[61:]}\n",
        ]
    pairs = tmp_path / "pairs.fa"
    pairs.write_text("".join(records[:3] + [">lonely|alt\nACGT\n"] + records[3:]))
    out = tmp_path / "e.tsv"
    command(runner, trained_run, out, "--pairs", str(pairs), "--window", WINDOW)
    frame = variants_frame(load_run(trained_run), pairs=pairs, window=int(WINDOW))
    assert frame_rows(frame) == text_rows(out)
    assert frame["status"].tolist().count("ok") == 2 and "unpaired" in set(frame["status"])


def test_score_variants_writes_the_commands_tsv_and_returns_its_counts(
    trained_run, synthetic_genome, vcf, runner, tmp_path
):
    options = ["--vcf", str(vcf), "--genome", str(synthetic_genome.genome), "--window", WINDOW]
    said = command(runner, trained_run, tmp_path / "cli.tsv", *options).stderr
    out = tmp_path / "lib.tsv"
    scored = score_variants(
        trained_run, out, vcf=vcf, genome=synthetic_genome.genome, window=int(WINDOW), threads=1
    )
    assert out.read_text() == (tmp_path / "cli.tsv").read_text()
    assert scored.counts["ok"] == 6 and sum(scored.counts.values()) == 10
    assert scored.summary_lines() == [
        f"10 variants written to {out} (window 101): 6 scored",
        "note: 1 malformed (status malformed; see the note column)",
        "note: 1 unknown chromosome (status unknown_chromosome; see the note column)",
        "note: 1 symbolic allele (status symbolic_allele; see the note column)",
        "note: 1 ref mismatch (status ref_mismatch; see the note column)",
    ]
    lines = [line.replace("lib.tsv", "cli.tsv") for line in scored.summary_lines()]
    assert " ".join(lines) == " ".join(said.split())  # the command prints these lines (wrapped)
    assert scored.notes == [] and (scored.drawn, scored.plot) == (0, None)


def test_a_run_trained_on_one_length_scores_a_vcf_without_window(
    trained_run, synthetic_genome, vcf, tmp_path
):
    """Every training record had 101 bases: that is the window, as --window 101 gives it."""
    options = dict(vcf=vcf, genome=synthetic_genome.genome)
    given = score_variants(trained_run, tmp_path / "given.tsv", window=int(WINDOW), **options)
    scored = score_variants(trained_run, tmp_path / "e.tsv", **options)
    assert scored.window == given.window == 101
    assert (tmp_path / "e.tsv").read_text() == (tmp_path / "given.tsv").read_text()


def test_a_shard_and_plots_of_the_top_variants(trained_run, synthetic_genome, vcf, tmp_path):
    options = dict(vcf=vcf, genome=synthetic_genome.genome, window=int(WINDOW))
    whole = variants_frame(load_run(trained_run), **options)
    shard = score_variants(trained_run, tmp_path / "e.2.tsv", shard=Shard(1, 2), **options)
    rows = text_rows(tmp_path / "e.2.tsv")
    assert sum(shard.counts.values()) == len(rows) == 5 and rows[0][0] != "chrom"  # no header
    assert [row[2] for row in rows] == whole["id"].tolist()[5:]
    assert shard.summary_lines()[0].startswith(f"shard 2/2: 5 variants written to {tmp_path}")
    plot = tmp_path / "plots"
    drawn = score_variants(
        trained_run, tmp_path / "e.tsv", plot=plot, plot_top=2, target="bound", **options
    )
    effect = whole["log_odds_diff_bound"].astype(float)
    top = whole.loc[effect.abs().sort_values(ascending=False).index[:2]]
    assert drawn.drawn == 2 and len(list(plot.glob("*.png"))) == 2
    assert sorted(p.name[3:].split("_")[2] for p in plot.glob("*.png")) == sorted(top["id"])
    assert (
        drawn.summary_lines()[-1]
        == f"ISM maps of the top 2 variants (by |log_odds_diff_bound|) in {plot}/"
    )
    by_diff = score_variants(
        trained_run,
        tmp_path / "d.tsv",
        plot=tmp_path / "by_diff",
        plot_top=2,
        target="bound",
        plot_rank="diff",
        **options,
    )
    assert by_diff.summary_lines()[-1].endswith(
        "(by |diff_bound|) in " + f"{tmp_path / 'by_diff'}/"
    )
    with pytest.raises(
        DnanetError, match="--plot-rank lfc: a binary run's table has log_odds_diff, diff"
    ):
        score_variants(trained_run, tmp_path / "x.tsv", plot=plot, plot_rank="lfc", **options)


@pytest.mark.parametrize(
    "options,message",
    [
        ({}, "give exactly one of --vcf FILE (with --genome) or --pairs FASTA"),
        ({"vcf": Path("v.vcf"), "pairs": Path("p.fa")}, "give exactly one of --vcf"),
        ({"vcf": Path("v.vcf")}, "--vcf needs --genome FASTA"),
        ({"pairs": Path("p.fa"), "genome": Path("g.fa")}, "--genome is for --vcf"),
    ],
)
def test_inputs_are_exactly_one_of_a_vcf_with_its_genome_and_pairs(options, message):
    with pytest.raises(DnanetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VariantInput(**options)


def test_target_without_plot_is_refused_before_the_run_is_read(vcf, tmp_path):
    with pytest.raises(DnanetError, match="--target chooses the output --plot ranks"):
        score_variants(tmp_path / "no-run", tmp_path / "e.tsv", vcf=vcf, target="bound")
