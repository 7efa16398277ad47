"""`dnanet variants`: effects of VCF variants on a CNN trained on a synthetic genome with CTCF sites
planted at known places (`dnanet.synthetic.genome`), and the variants that cannot be scored."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.inputs.genome import open_genome
from dnanet.interpret.variants import prepare, read_vcf

runner = CliRunner()
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


def vcf_line(chrom, pos, ref, alt, ident=".") -> str:
    return f"{chrom}\t{pos}\t{ident}\t{ref}\t{alt}\t.\tPASS\t.\n"


def variants_command(runner, run: Path, vcf: Path, genome: Path, out: Path, *extra: str):
    """`dnanet variants RUN --vcf VCF --genome GENOME --out OUT EXTRA...`, which must succeed."""
    result = runner.invoke(
        app,
        ["variants", str(run), "--vcf", str(vcf), "--genome", str(genome), "--out", str(out),
         "--threads", "1", "--quiet", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def score(run: Path, genome: Path, vcf: Path, out: Path, *extra: str):
    result = variants_command(runner, run, vcf, genome, out, *extra)
    return result, pd.read_csv(out, sep="\t", keep_default_na=False, dtype={"pos": str})


def site_snvs(synthetic_genome) -> list[str]:
    """One SNV per planted site (chr1-chr4): at a high-information base of the motif that the site
    holds as the consensus, changed to the base the motif least expects."""
    from dnanet.synthetic.planted import jaspar_pwm

    _, pwm = jaspar_pwm("MA0139")
    information = 2 + (pwm * np.log2(np.clip(pwm, 1e-9, 1))).sum(0)
    columns = np.argsort(-information)[:4]
    genome = open_genome(synthetic_genome.genome)
    lines = []
    for site in synthetic_genome.sites.itertuples():
        for column in columns:
            consensus, rarest = "ACGT"[pwm[:, column].argmax()], "ACGT"[pwm[:, column].argmin()]
            at = site.start + column if site.strand == "+" else site.end - 1 - column
            if site.strand == "-":
                consensus, rarest = COMPLEMENT[consensus], COMPLEMENT[rarest]
            base = genome.fetch(site.chrom, at, at + 1).decode()
            if base.upper() == consensus:
                lines.append(vcf_line(site.chrom, at + 1, base, rarest, f"site{site.Index}"))
                break
    return lines


def far_positions(synthetic_genome, count: int, seed: int = 1) -> list[tuple[str, int, str]]:
    """(chrom, 0-based position, base) of `count` random A/C/G/T bases at least 2 kb from every
    site."""
    genome = open_genome(synthetic_genome.genome)
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        chrom = "chr1"
        at = int(rng.integers(5_000, genome.sizes[chrom] - 5_000))
        near = synthetic_genome.sites[synthetic_genome.sites["chrom"] == chrom]["start"].to_numpy()
        base = genome.fetch(chrom, at, at + 2).decode()
        if (
            np.abs(near - at).min() > 2_000
            and base[0].upper() in "ACGT"
            and base[1].upper() in "ACGT"
        ):
            found.append((chrom, at, base))
    return found


def test_breaking_a_planted_site_scores_most_negative_and_far_variants_near_zero(
    variant_run, synthetic_genome, tmp_path
):
    sites = site_snvs(synthetic_genome)
    far = [
        vcf_line(chrom, at + 1, base[0], "A" if base[0].upper() != "A" else "C", "far")
        for chrom, at, base in far_positions(synthetic_genome, 100)
    ]
    vcf = tmp_path / "v.vcf.gz"
    with gzip.open(vcf, "wt") as handle:
        handle.write(HEADER + "".join(sites + far))
    result, table = score(
        variant_run, synthetic_genome.genome, vcf, tmp_path / "effects.tsv", "--batch-size", "37"
    )
    assert (
        len(sites) > 300 and len(table) == len(sites) + len(far) and (table["status"] == "ok").all()
    )
    assert list(table.columns[:7]) == ["chrom", "pos", "id", "ref", "alt", "status", "note"]
    assert {"ref_bound", "alt_bound", "diff_bound", "log_odds_diff_bound"} <= set(table.columns)
    assert np.allclose(table["diff_bound"], table["alt_bound"] - table["ref_bound"], atol=1e-5)
    at_site, away = table[table["id"] != "far"], table[table["id"] == "far"]
    summary = (at_site["diff_bound"].describe(), away["diff_bound"].describe())
    assert at_site["diff_bound"].median() < -0.05 and away["diff_bound"].abs().median() < 0.01, (
        summary
    )
    assert at_site["diff_bound"].mean() < -4 * away["diff_bound"].abs().mean(), summary
    assert at_site["log_odds_diff_bound"].median() < -0.5, at_site["log_odds_diff_bound"].describe()
    assert away["log_odds_diff_bound"].abs().median() < 0.2, away["log_odds_diff_bound"].describe()
    ranked = table.sort_values("diff_bound")
    assert (ranked["id"].head(50) != "far").all(), ranked.head(
        50
    )  # the most negative effects all break a site
    assert np.allclose(table["diff_bound"], -table["diff_background"], atol=1e-5)  # two classes
    assert (
        f"{len(table):,} variants written" in result.stderr
        and f"{len(table):,} scored" in result.stderr
    )
    _, again = score(
        variant_run, synthetic_genome.genome, vcf, tmp_path / "again.tsv"
    )  # default batch size
    assert np.allclose(again["diff_bound"], table["diff_bound"], atol=1e-5)


def test_bad_variants_are_counted_and_explained_and_the_rest_scored(
    variant_run, synthetic_genome, tmp_path
):
    (chrom, at, base), (_, at2, base2) = far_positions(synthetic_genome, 2, seed=5)
    wrong = "A" if base[0].upper() != "A" else "C"
    lines = [
        vcf_line(chrom, at + 1, base[0], "G" if base[0].upper() != "G" else "T", "good"),
        vcf_line(chrom, at + 1, wrong, "T", "wrong_ref"),
        vcf_line("chr9", 1000, "A", "C", "unknown"),
        vcf_line(chrom, at + 1, base[0], "<DEL>", "symbolic"),
        vcf_line(chrom, "abc", "A", "C", "malformed"),
        "chr1\t12\tshort\n",
        vcf_line(chrom, at2 + 1, base2[0], "A,C,G,T", "multi"),
        vcf_line(chrom, at2 + 1, base2, base2[0], "deletion"),
        vcf_line(chrom, at2 + 1, base2[0], base2[0] + "GATC", "insertion"),
        vcf_line("chr1", 50, "N", "A", "near_start"),
    ]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + "".join(lines))
    out = tmp_path / "effects.tsv"
    result, table = score(variant_run, synthetic_genome.genome, vcf, out)
    status = dict(zip(table["id"], table["status"]))
    assert status["good"] == "ok" and status["deletion"] == "ok" and status["insertion"] == "ok"
    assert status["wrong_ref"] == "ref_mismatch" and status["unknown"] == "unknown_chromosome"
    assert status["symbolic"] == "symbolic_allele" and status["malformed"] == "malformed"
    assert status["near_start"] == "off_chromosome_end"
    multi = table[table["id"] == "multi"]
    assert len(multi) == 4 and list(multi["alt"]) == ["A", "C", "G", "T"]
    same = multi[multi["alt"] == base2[0].upper()]  # ALT = REF: no effect
    assert (multi["status"] == "ok").all() and float(same["diff_bound"].iloc[0]) == 0
    notes = dict(zip(table["id"], table["note"]))
    assert (
        "line 4" in notes["wrong_ref"] and f"REF '{wrong}' but the genome has" in notes["wrong_ref"]
    )
    assert "chromosome 'chr9' is not in the genome" in notes["unknown"]
    assert "ALT '<DEL>' is symbolic" in notes["symbolic"] and "POS 'abc'" in notes["malformed"]
    short = table[table["note"].str.contains("at least 8")]
    assert len(short) == 1 and short["status"].iloc[0] == "malformed"
    bad = table[table["status"] != "ok"]
    assert (bad["ref_bound"] == "").all() and (bad["diff_bound"] == "").all()
    for fragment in (
        "1 ref mismatch",
        "1 unknown chromosome",
        "1 symbolic allele",
        "2 malformed",
        "1 off chromosome end",
        f"{len(table):,} variants written",
        "7 scored",
    ):
        assert fragment in result.stderr, (fragment, result.stderr)


def test_windows_keep_the_allele_centred_and_the_model_length(synthetic_genome):
    genome = open_genome(synthetic_genome.genome)
    vcf = synthetic_genome.genome.parent / "windows.vcf"
    base = genome.fetch("chr1", 10_000, 10_003).decode().upper()
    vcf.write_text(
        HEADER
        + vcf_line("chr1", 10_001, base[0], "A,C,G,T," + base[0] + "TT")
        + vcf_line("chr1", 10_001, base[:3], base[0])
    )
    variants = [prepare(v, genome, 200) for v in read_vcf(vcf)]
    assert [v.status for v in variants] == ["ok"] * 6
    reference = genome.fetch("chr1", 10_000 - 99, 10_000 + 101)
    for v in variants:
        if v.status == "ok":
            assert len(v.ref_window) == len(v.alt_window) == 200
    (renamed,) = [prepare(v, genome, 200) for v in read_vcf(vcf) if v.alt == "A"]
    renamed.chrom, renamed.status = "1", "ok"
    assert (
        prepare(renamed, genome, 200).status == "unknown_chromosome"
        and "it has 'chr1'" in renamed.note
    )
    snv = variants[0]
    assert snv.ref_window == reference and snv.alt_window[99:100].decode() == snv.alt
    assert snv.alt_window[:99] == reference[:99] and snv.alt_window[100:] == reference[100:]
    insertion = variants[4]
    assert insertion.alt_window[98:101].decode().upper() == base[0] + "TT"
    deletion = variants[5]
    assert deletion.ref_window == genome.fetch("chr1", 10_000 - 98, 10_000 + 102)
    assert deletion.alt_window == genome.fetch("chr1", 10_000 - 99, 10_001) + genome.fetch(
        "chr1", 10_003, 10_103
    )


def test_regression_and_classification_cells():
    from dnanet.data.tasks import Task
    from dnanet.interpret.variants import effect_cells, effect_header

    regression = Task("regression", ["signal"], [0.0], [1.0])
    assert effect_header(regression)[7:] == ["ref_signal", "alt_signal", "diff_signal"]
    assert effect_cells(regression, np.array([1.5]), np.array([0.5])) == ["1.5", "0.5", "-1"]
    binary = Task("binary", ["bound", "background"])
    cells = effect_cells(binary, np.array([0.5, 0.5]), np.array([0.9, 0.1]))
    assert cells[:3] == ["0.5", "0.9", "0.4"] and float(cells[3]) == pytest.approx(
        np.log(9), rel=1e-5
    )
    assert float(cells[7]) == pytest.approx(-np.log(9), rel=1e-5)
    certain = effect_cells(binary, np.array([0.0, 1.0]), np.array([1.0, 0.0]))  # clipped, finite
    assert np.isfinite(float(certain[3])) and float(certain[3]) > 0


def test_a_bad_vcf_or_run_is_one_error_and_leaves_no_output(
    variant_run, synthetic_genome, tmp_path
):
    out = tmp_path / "effects.tsv"
    command = [
        "variants",
        str(variant_run),
        "--genome",
        str(synthetic_genome.genome),
        "--out",
        str(out),
        "--threads",
        "1",
        "--quiet",
    ]
    result = runner.invoke(app, [*command, "--vcf", str(tmp_path / "missing.vcf")])
    assert (
        result.exit_code == 1
        and "missing.vcf" in result.stderr
        and "Traceback" not in result.output
    )
    broken = tmp_path / "broken.vcf.gz"
    broken.write_bytes(
        gzip.compress((HEADER + vcf_line("chr1", 10_001, "A", "C") * 50).encode())[:-40]
    )
    result = runner.invoke(app, [*command, "--vcf", str(broken)])
    assert result.exit_code == 1 and "cannot be read as a VCF" in result.stderr, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob("effects*"))


def pairs_command(run: Path, pairs: Path, out: Path, *extra: str):
    result = runner.invoke(
        app,
        [
            "variants",
            str(run),
            "--pairs",
            str(pairs),
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return result, pd.read_csv(out, sep="\t", keep_default_na=False, dtype={"pos": str})


def test_pairs_give_the_vcf_numbers_for_the_same_variants(variant_run, synthetic_genome, tmp_path):
    """The same variants as window pairs (exactly 200 bp: SNVs, an insertion, a deletion) and as
    longer context (SNVs in 310 bp) score as the VCF path scores them."""
    genome = open_genome(synthetic_genome.genome)
    sites = site_snvs(synthetic_genome)[:12]
    (chrom, at, base), *far = far_positions(synthetic_genome, 9, seed=3)
    indels = [
        vcf_line(chrom, at + 1, base, base[0], "deletion"),
        vcf_line(chrom, at + 1, base[0], base[0] + "GA", "insertion"),
    ]
    snvs = sites + [
        vcf_line(c, a + 1, b[0], "A" if b[0].upper() != "A" else "C", f"far{i}")
        for i, (c, a, b) in enumerate(far)
    ]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + "".join(snvs + indels))
    _, expected = score(variant_run, synthetic_genome.genome, vcf, tmp_path / "vcf.tsv")
    windows, context = [], []
    for number, v in enumerate(prepare(v, genome, 200) for v in read_vcf(vcf)):
        assert v.status == "ok"
        name = f"v{number}"
        windows += [
            f">{name}|ref\n{v.ref_window.decode()}\n",
            f">{name}|alt {v.id}\n{v.alt_window.decode()}\n",
        ]
        if len(v.ref) == len(v.alt) == 1:
            start = int(v.pos) - 1
            sequence = genome.fetch(v.chrom, start - 150, start + 160).decode()
            mutated = sequence[:150] + v.alt + sequence[151:]
            context += [f">{name}|alt\n{mutated}\n", f">{name}|ref\n{sequence}\n"]  # either order
    (tmp_path / "windows.fa").write_text("".join(windows))
    (tmp_path / "context.fa").write_text("".join(context))
    result, exact = pairs_command(
        variant_run, tmp_path / "windows.fa", tmp_path / "exact.tsv", "--batch-size", "5"
    )
    _, longer = pairs_command(
        variant_run,
        tmp_path / "context.fa",
        tmp_path / "longer.tsv",
        "--plot",
        str(tmp_path / "plots"),
        "--plot-top",
        "2",
    )
    assert list(exact.columns) == list(expected.columns) and (exact["status"] == "ok").all()
    assert (
        list(exact["id"]) == [f"v{i}" for i in range(len(expected))]
        and (exact["chrom"] == "").all()
    )
    value_columns = [
        c for c in expected.columns if c.startswith(("ref_", "alt_", "diff_", "log_odds"))
    ]
    np.testing.assert_allclose(
        exact[value_columns].to_numpy(float), expected[value_columns].to_numpy(float), atol=1e-6
    )
    snv = expected["ref"].str.len().eq(1) & expected["alt"].str.len().eq(1)
    assert (exact["pos"][snv] == "100").all() and list(exact["ref"][snv]) == list(
        expected["ref"][snv].str.upper()
    )
    assert list(exact["alt"][snv]) == list(expected["alt"][snv]) and len(longer) == snv.sum()
    assert (longer["pos"] == "151").all() and (longer["status"] == "ok").all()
    np.testing.assert_allclose(
        longer[value_columns].to_numpy(float),
        expected[value_columns][snv].to_numpy(float),
        atol=1e-6,
    )
    top = longer["log_odds_diff_bound"].abs().sort_values(ascending=False, kind="stable").index[:2]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        f"0{rank}_{longer['id'][i]}.png" for rank, i in enumerate(top, 1)
    ]
    assert (
        abs(expected["diff_bound"][:12]).mean() > 0.02
    )  # the site SNVs move the output: a real comparison
    assert f"{len(expected):,} variants written" in result.stderr


def test_a_malformed_pairs_fasta_is_counted_and_explained(variant_run, synthetic_genome, tmp_path):
    genome = open_genome(synthetic_genome.genome)
    sequence = genome.fetch("chr1", 20_000, 20_200).decode().upper()
    mutant = sequence[:100] + ("A" if sequence[100] != "A" else "C") + sequence[101:]
    records = [
        ("good|ref", sequence),
        ("good|alt", mutant),
        ("x|ref", sequence),
        ("y|alt", mutant),
        ("untagged", sequence),
        ("flipped|alt", mutant),
        ("flipped|ref", sequence),
        ("twice|ref", sequence),
        ("twice|ref", sequence),
        ("twice|alt", mutant),
        ("short|ref", sequence[50:150]),
        ("short|alt", mutant[50:150]),
        ("same|ref", sequence),
        ("same|alt", sequence),
        ("last|ref", sequence),
    ]
    pairs = tmp_path / "pairs.fa"
    pairs.write_text("".join(f">{name}\n{bases}\n" for name, bases in records))
    result, table = pairs_command(variant_run, pairs, tmp_path / "effects.tsv")
    assert list(zip(table["id"], table["status"])) == [
        ("good", "ok"),
        ("x", "unpaired"),
        ("y", "unpaired"),
        ("untagged", "malformed"),
        ("flipped", "ok"),
        ("twice", "unpaired"),
        ("twice", "ok"),
        ("short", "too_short"),
        ("same", "ok"),
        ("last", "unpaired"),
    ]
    notes = list(table["note"])
    assert (
        notes[1] == "line 5: record 'x|ref' has no partner 'x|alt' next to it "
        "(the next record, line 7, is 'y|alt')"
    )
    assert "line 7: record 'y|alt' has no partner 'y|ref'" in notes[2]
    assert notes[3] == "line 9: record id 'untagged' does not end in |ref or |alt"
    assert "line 21: a 200-base window centred on the difference at position 51" in notes[7]
    assert "(the file ends)" in notes[9] and "line 29" in notes[9]
    rows = table.set_index("id")
    assert float(rows.loc["good", "diff_bound"]) == float(rows.loc["flipped", "diff_bound"])
    assert float(rows.loc["same", "diff_bound"]) == 0 and rows.loc["same", "ref"] == "-"
    assert (table[table["status"] != "ok"]["diff_bound"] == "").all()
    for fragment in ("10 variants written", "4 scored", "4 unpaired", "1 malformed", "1 too short"):
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--vcf", "V", "--genome", "G", "--pairs", "P"],
            "give exactly one of --vcf FILE (with --genome) or --pairs FASTA",
        ),
        ([], "give exactly one of --vcf FILE (with --genome) or --pairs FASTA"),
        (
            ["--pairs", "P", "--genome", "G"],
            "--genome is for --vcf; --pairs holds its own sequences",
        ),
        (["--vcf", "V"], "--vcf needs --genome FASTA"),
        (
            ["--pairs", "P", "--target", "bound"],
            "--target chooses the output --plot ranks and draws; give --plot too",
        ),
        (
            ["--pairs", "P", "--plot", "P"],
            "--plot names a folder to draw PNGs into, and this is a file",
        ),
    ],
)
def test_inputs_are_exactly_one_of_vcf_and_pairs(
    variant_run, synthetic_genome, tmp_path, extra, message
):
    files = {"V": tmp_path / "v.vcf", "P": tmp_path / "p.fa", "G": synthetic_genome.genome}
    files["V"].write_text(HEADER + vcf_line("chr1", 10_001, "A", "C"))
    files["P"].write_text(">a|ref\nACGT\n>a|alt\nACCT\n")
    result = runner.invoke(
        app,
        [
            "variants",
            str(variant_run),
            "--out",
            str(tmp_path / "e.tsv"),
            "--quiet",
            *(str(files.get(part, part)) for part in extra),
        ],
    )
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "e.tsv").exists()


def test_plot_draws_the_ism_map_of_the_top_variants(variant_run, synthetic_genome, tmp_path):
    from dnanet.interpret.variant_plots import TopVariants

    far = [
        vcf_line(c, a + 1, b[0], "A" if b[0].upper() != "A" else "C", "far")
        for c, a, b in far_positions(synthetic_genome, 20, seed=7)
    ]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + "".join(far[:10] + site_snvs(synthetic_genome)[:6] + far[10:]))
    result, table = score(
        variant_run,
        synthetic_genome.genome,
        vcf,
        tmp_path / "e.tsv",
        "--plot",
        str(tmp_path / "plots"),
        "--plot-top",
        "3",
    )
    drawn = sorted((tmp_path / "plots").iterdir())
    top = table.reindex(
        table["log_odds_diff_bound"].abs().sort_values(ascending=False, kind="stable").index
    ).head(3)
    assert [p.name for p in drawn] == [
        f"{rank:02d}_{row.chrom}_{row.pos}_{row.id}_{row.ref}_{row.alt}.png"
        for rank, row in enumerate(top.itertuples(), 1)
    ]
    assert (top["id"] != "far").all() and all(p.stat().st_size > 20_000 for p in drawn)
    assert "ISM maps of the top 3 variants (by |log_odds_diff_bound|)" in result.stderr
    ranking = TopVariants(2, 0)
    for number, diff in enumerate([0.1, -0.5, 0.3, 0.5, -0.05]):
        ranking.add(number, np.zeros(1), np.array([diff]))
    assert ranking.ranked() == [(1, -0.5), (3, 0.5)]  # |diff| down, the first seen first on ties


def test_plot_ranks_a_broken_saturated_site_above_a_nudge_near_one_half():
    """Probability of 'bound' 0.999 -> 0.98 breaks a saturated site (-3.0 log-odds, -0.019 in
    probability); 0.50 -> 0.60 nudges an undecided record (+0.41 log-odds, +0.1). The default
    ranks by log-odds, so the broken site comes first; --plot-rank diff ranks the nudge first."""
    from functools import partial

    from dnanet.data.tasks import Task
    from dnanet.interpret.variant_plots import TopVariants
    from dnanet.interpret.variants import headline_effect, ranking_effect

    task = Task("binary", ["background", "bound"], [], [])
    saturated = (np.array([0.001, 0.999]), np.array([0.02, 0.98]))
    undecided = (np.array([0.5, 0.5]), np.array([0.4, 0.6]))
    for key, first in ((None, "saturated"), ("diff", "undecided")):
        ranking = TopVariants(1, 1, "bound", partial(headline_effect, task, target=1, key=key))
        ranking.add("saturated", *saturated)
        ranking.add("undecided", *undecided)
        assert ranking.ranked()[0][0] == first
    assert ranking_effect(task) == "log_odds_diff"
    assert headline_effect(task, *saturated, target=1) == pytest.approx(-3.0, abs=0.02)


def test_shards_laid_end_to_end_are_the_unsharded_output(variant_run, synthetic_genome, tmp_path):
    lines = [
        vcf_line(c, a + 1, b[0], "A,G" if b[0].upper() not in "AG" else "C,T", f"v{i}")
        for i, (c, a, b) in enumerate(far_positions(synthetic_genome, 7, seed=11))
    ]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        HEADER + "".join(lines[:3]) + vcf_line("chr9", 5, "A", "C", "unknown") + "".join(lines[3:])
    )
    score(variant_run, synthetic_genome.genome, vcf, tmp_path / "all.tsv")
    parts = []
    for k in (1, 2, 3):
        result, _ = score(
            variant_run, synthetic_genome.genome, vcf, tmp_path / f"e.{k}.tsv", "--shard", f"{k}/3"
        )
        assert f"shard {k}/3: 5 variants written" in result.stderr
        parts.append((tmp_path / f"e.{k}.tsv").read_text())
    whole = (tmp_path / "all.tsv").read_text()
    assert (
        "".join(parts) == whole
        and whole.count("\n") == 16
        and parts[1].count("\tunknown_chromosome\t") == 1
    )


@pytest.mark.skipif(
    not __import__("torch").distributed.is_available(),
    reason="torch built without torch.distributed",
)
def test_torchrun_variants_writes_one_tsv_equal_to_a_single_process(
    variant_run, synthetic_genome, tmp_path
):
    from tests.inference.test_infer_shards import torchrun

    pairs = tmp_path / "pairs.fa"
    genome = open_genome(synthetic_genome.genome)
    records = []
    for i, (chrom, at, base) in enumerate(far_positions(synthetic_genome, 5, seed=13)):
        sequence = genome.fetch(chrom, at - 100, at + 100).decode()
        records += [
            f">p{i}|ref\n{sequence}\n",
            f">p{i}|alt\n{sequence[:100]}{'AC'[base[0].upper() == 'A']}{sequence[101:]}\n",
        ]
    pairs.write_text("".join(records[:5] + [">lonely|alt\nACGT\n"] + records[5:]))
    single = tmp_path / "single.tsv"
    null = ["--null", "shuffle", "--null-size", "5"]  # q-values over both processes' rows
    pairs_command(variant_run, pairs, single, *null)
    done = torchrun(
        "variants",
        str(variant_run),
        "--pairs",
        str(pairs),
        "--out",
        str(tmp_path / "dist" / "e.tsv"),
        *null,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert said.count("7 variants written") == 1 and "by 2 processes" in said and "4 scored" in said
    assert "3 unpaired" in said  # p2|ref, lonely|alt between p2|ref and p2|alt, p2|alt
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["e.tsv"]
    merged, one = (
        pd.read_csv(path, sep="\t") for path in (tmp_path / "dist" / "e.tsv", single)
    )  # empty cells read as NaN, so that the numbers compare as numbers
    pd.testing.assert_frame_equal(merged, one, check_exact=False, atol=2e-6)
    assert one["q_bound"].notna().sum() == 4  # the scored pairs' q-values, filled
