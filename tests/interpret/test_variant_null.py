"""Calibrated variant effects (`dnanet variants --null`, `dnanet.interpret.variant_null`), the VCF
output (`dnanet.interpret.variant_vcf`) and an ensemble's spread, on the CNN trained on the
synthetic genome with CTCF sites planted at known places (`variant_run`): variants far from every
site get roughly uniform p-values, variants that break a site get small q-values, and the numbers
do not depend on shards, reruns or batch sizes."""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control, kstest

from dnanet.cli import app
from dnanet.inputs.genome import open_genome
from dnanet.interpret.variant_null import shuffle_draws, snv_draws, variant_seed
from dnanet.interpret.variants import prepare, read_vcf
from tests.interpret.test_variants import (
    HEADER,
    far_positions,
    site_snvs,
    variants_command,
    vcf_line,
)


def table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)


def far_snvs(synthetic_genome, count: int, seed: int) -> list[str]:
    return [
        vcf_line(chrom, at + 1, base[0], "A" if base[0].upper() != "A" else "C", "far")
        for chrom, at, base in far_positions(synthetic_genome, count, seed=seed)
    ]


def dinucleotides(sequence: bytes) -> Counter:
    return Counter(sequence[i : i + 2] for i in range(len(sequence) - 1))


def test_draws_keep_the_alleles_the_flanks_composition_and_the_lengths(synthetic_genome, tmp_path):
    genome = open_genome(synthetic_genome.genome)
    base = genome.fetch("chr1", 30_000, 30_003).decode().upper()
    other = "A" if base[0] != "A" else "C"
    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        HEADER
        + vcf_line("chr1", 30_001, base[0], other)
        + vcf_line("chr1", 30_001, base, base[0])  # a 2-base deletion
        + vcf_line("chr1", 30_001, base[0], base[0] + "GAT")  # a 3-base insertion
    )
    snv, deletion, insertion = [prepare(v, genome, 200) for v in read_vcf(vcf)]
    refs, alts = shuffle_draws(snv, 30, variant_seed(snv))
    left, right = snv.ref_window[:99].upper(), snv.ref_window[100:].upper()
    assert len(set(refs)) == 30 and all(len(w) == 200 for w in refs + alts)
    for ref, alt in zip(refs, alts):
        assert ref[99:100].decode().upper() == base[0] and alt[99:100].decode() == other
        assert ref[:99] == alt[:99] and ref[100:] == alt[100:]  # the draw's two windows
        assert dinucleotides(ref[:99]) == dinucleotides(left) and ref[98] == left[98]
        assert dinucleotides(ref[100:]) == dinucleotides(right) and ref[100] == right[0]
    assert shuffle_draws(snv, 30, variant_seed(snv)) == (refs, alts)  # seeded by the windows
    for indel in (deletion, insertion):
        refs, alts = shuffle_draws(indel, 10, variant_seed(indel))
        assert {len(w) for w in refs + alts} == {200}
        assert {r[indel.ref_offset : indel.ref_offset + len(indel.ref)].upper() for r in refs} == {
            indel.ref.encode()
        }
        assert {a[indel.alt_offset : indel.alt_offset + len(indel.alt)].upper() for a in alts} == {
            indel.alt.encode()
        }
        assert snv_draws(indel, 10, 1, genome) is None  # indels take the shuffle draws
    assert snv_draws(snv, 10, 1, None) is None  # no genome (--pairs): shuffle draws
    refs, alts = snv_draws(snv, 500, variant_seed(snv), genome)
    at = 30_000
    centred = {genome.fetch("chr1", q - 99, q + 101): q for q in range(at - 99, at + 101)}
    drawn = [centred.get(ref) for ref in refs]  # each draw centred on its own position
    same_base = {
        q for q in centred.values() if genome.fetch("chr1", q, q + 1).upper() == base[:1].encode()
    }
    assert set(drawn) == same_base - {at}  # every other REF base of the window, none else
    for ref, alt in zip(refs, alts):
        assert ref[:99] == alt[:99] and ref[100:] == alt[100:] and alt[99:100].decode() == other


def test_bad_null_and_vcf_output_options_are_one_line_errors(
    variant_run, synthetic_genome, runner, tmp_path
):
    vcf, pairs = tmp_path / "v.vcf", tmp_path / "p.fa"
    vcf.write_text(HEADER + vcf_line("chr1", 10_001, "A", "C"))
    pairs.write_text(">a|ref\nACGT\n>a|alt\nACCT\n")
    inputs = ["--vcf", str(vcf), "--genome", str(synthetic_genome.genome)]
    for extra, out, message in [
        (["--null", "gauss"], "e.tsv", "--null gauss: must be one of none, shuffle, snv"),
        (["--null", "snv", "--null-size", "0"], "e.tsv", "--null-size 0: must be at least 1"),
        (["--shard", "1/2"], "e.vcf.gz", "--shard splits a multi-allelic record's alleles"),
    ]:
        result = runner.invoke(
            app, ["variants", str(variant_run), *inputs, *extra, "--out", str(tmp_path / out)]
        )
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    result = runner.invoke(
        app, ["variants", str(variant_run), "--pairs", str(pairs), "--out", str(tmp_path / "e.vcf")]
    )
    assert result.exit_code == 1 and "--pairs has no VCF to write back" in result.output
    assert not list(tmp_path.glob("e.*"))


def test_far_variants_get_uniform_p_values_against_the_snv_null(
    variant_run, synthetic_genome, runner, tmp_path
):
    """100 SNVs at least 2 kb from every planted site: their effects are exchangeable with the
    same substitutions centred on other positions of their windows, so their p-values are uniform
    (in steps of 1/16). Draws at other positions of the variant's own window (not centred on
    them) gave skewed p-values here (KS p = 3e-10): the model reads the centre more."""
    vcf = tmp_path / "far.vcf"
    vcf.write_text(HEADER + "".join(far_snvs(synthetic_genome, 100, seed=21)))
    out = tmp_path / "far.tsv"
    result = variants_command(
        runner, variant_run, vcf, synthetic_genome.genome, out, "--null", "snv", "--null-size", "15"
    )
    p = table(out)["p_bound"].astype(float)
    assert len(p) == 100 and p.between(1 / 16 - 1e-6, 1).all()
    jittered = p - np.random.default_rng(0).uniform(0, 1 / 16, len(p))  # uniform on (0, 1) if
    fit = kstest(jittered, "uniform")  # p is uniform on 1/16, 2/16, ... 1 (randomised p-values)
    assert fit.pvalue > 0.01 and 0.4 < p.mean() < 0.6, (fit, p.describe())
    assert "p-values resolve down to 1/16 = 0.0625" in " ".join(result.stderr.split())


def test_breaking_a_planted_site_reaches_small_q_values_and_far_variants_do_not(
    variant_run, synthetic_genome, runner, tmp_path
):
    """10 SNVs that break a planted CTCF site and 6 far from every site, against 200 shuffle
    draws each (p from 1/201): the site variants come first and the strongest reach q < 0.05,
    no far variant does. Shuffled flanks keep a site's GC-rich make-up, so the model still binds
    some draws and the null has tails: site p-values run 0.005 to 0.17 here."""
    sites = site_snvs(synthetic_genome)[:10]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + "".join(sites + far_snvs(synthetic_genome, 6, seed=22)))
    out = tmp_path / "e.tsv"
    variants_command(
        runner,
        variant_run,
        vcf,
        synthetic_genome.genome,
        out,
        "--null",
        "shuffle",
        "--null-size",
        "200",
    )
    effects = table(out)
    p, q = effects["p_bound"].astype(float), effects["q_bound"].astype(float)
    site = effects["id"] != "far"
    assert (q[site] < 0.05).sum() >= 4 and (q[~site] >= 0.05).all(), effects
    assert p[site].median() < 0.03 < p[~site].median(), effects
    assert np.allclose(q, false_discovery_control(p, method="bh"), rtol=1e-5)
    assert (effects["null_sd_bound"].astype(float) > 0).all()


def mixed_vcf(synthetic_genome, path: Path) -> Path:
    """SNVs (one multi-allelic, one with INFO of its own), a deletion, an insertion, a site SNV, a
    REF mismatch and a malformed line, with ##contig lines of the genome."""
    genome = open_genome(synthetic_genome.genome)
    (chrom, at, base), (_, at2, base2), (_, at3, base3) = far_positions(synthetic_genome, 3, seed=9)
    wrong = "A" if base[0].upper() != "A" else "C"
    others = [letter for letter in "ACGT" if letter != base2[0].upper()]
    lines = [
        vcf_line(chrom, at + 1, base[0], "G" if base[0].upper() != "G" else "T", "snv"),
        vcf_line(chrom, at2 + 1, base2[0], ",".join(others[:2]), "multi").replace(
            "\t.\n", "\tDP=7;SOURCE=x\n"
        ),
        vcf_line(chrom, at3 + 1, base3, base3[0], "deletion"),
        vcf_line(chrom, at3 + 1, base3[0], base3[0] + "GA", "insertion"),
        site_snvs(synthetic_genome)[0],
        vcf_line(chrom, at + 1, wrong, "T", "mismatch"),
        "chr1\t12\tshort\n",
    ]
    lines.sort(key=lambda line: (line.split("\t")[0], int(line.split("\t")[1])))  # tabix
    meta = "".join(f"##contig=<ID={c},length={n}>\n" for c, n in genome.sizes.items()) + (
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
        '##INFO=<ID=SOURCE,Number=1,Type=String,Description="source">\n'
    )
    path.write_text(HEADER.replace("#CHROM", meta + "#CHROM") + "".join(lines))
    return path


def test_null_columns_do_not_depend_on_shards_reruns_or_batch_sizes(
    variant_run, synthetic_genome, runner, tmp_path
):
    vcf = mixed_vcf(synthetic_genome, tmp_path / "v.vcf")
    options = ["--null", "snv", "--null-size", "12"]
    run = partial(variants_command, runner, variant_run, vcf, synthetic_genome.genome)
    result = run(tmp_path / "all.tsv", *options)
    run(tmp_path / "again.tsv", *options, "--batch-size", "2")
    parts = [run(tmp_path / f"e.{k}.tsv", *options, "--shard", f"{k}/2") for k in (1, 2)]
    whole, again = table(tmp_path / "all.tsv"), table(tmp_path / "again.tsv")
    joined = tmp_path / "joined.tsv"  # cat e.1.tsv e.2.tsv: shard 1 alone has the header
    joined.write_text("".join((tmp_path / f"e.{k}.tsv").read_text() for k in (1, 2)))
    sharded = table(joined)
    nulls = [c for c in whole.columns if c.startswith(("p_", "null_sd_"))]
    assert list(whole.columns[-6:]) == [
        "p_bound",
        "q_bound",
        "null_sd_bound",
        "p_background",
        "q_background",
        "null_sd_background",
    ]
    pd.testing.assert_frame_equal(whole, again)  # reruns, other batches: the same cells
    pd.testing.assert_frame_equal(whole[nulls], sharded[nulls])
    assert (sharded["q_bound"] == "").all() and "q_ columns are empty in a shard" in " ".join(
        parts[0].stderr.split()
    )
    scored = whole["status"] == "ok"
    assert scored.sum() == 6 and (whole.loc[~scored, nulls + ["q_bound"]] == "").all().all()
    p = whole.loc[scored, "p_bound"].astype(float)
    assert np.allclose(
        whole.loc[scored, "q_bound"].astype(float), false_discovery_control(p, method="bh"), 1e-5
    )
    assert "null: 12 snv draws per variant; p-values resolve down to 1/13 = 0.0769" in " ".join(
        result.stderr.split()
    )
    from dnanet.api import load_run

    frame = load_run(variant_run, threads=1).variants(
        vcf=vcf, genome=synthetic_genome.genome, null="snv", null_size=12
    )  # a notebook's DataFrame: the command's cells
    assert np.allclose(
        frame["q_bound"], whole["q_bound"].replace("", "nan").astype(float), 1e-6, 0, True
    )


def test_a_vcf_output_is_the_input_with_declared_info_keys_that_htslib_reads(
    variant_run, synthetic_genome, runner, tmp_path
):
    pysam = pytest.importorskip("pysam")
    vcf = mixed_vcf(synthetic_genome, tmp_path / "v.vcf")
    options = ["--null", "snv", "--null-size", "12"]
    run = partial(variants_command, runner, variant_run, vcf, synthetic_genome.genome)
    run(tmp_path / "e.tsv", *options)
    result = run(tmp_path / "e.vcf.gz", *options)
    effects = table(tmp_path / "e.tsv")
    assert "1 malformed lines left out of the VCF" in " ".join(result.stderr.split())
    out = tmp_path / "e.vcf.gz"
    assert out.read_bytes()[:4] == b"\x1f\x8b\x08\x04"  # BGZF: gzip with the extra field
    with pysam.VariantFile(str(out)) as reader:
        info = reader.header.info
        columns = list(effects.columns[7:])
        assert {f"DNANET_{c}" for c in columns} | {"DNANET_status", "DP", "SOURCE"} == set(info)
        assert all(info[f"DNANET_{c}"].number == "A" for c in columns + ["status"])
        assert info["DNANET_p_bound"].type == "Float" and "p-value" in (
            info["DNANET_p_bound"].description
        )
        records = list(reader)
    scored = effects[effects["status"] != "malformed"]
    assert [r.id for r in records] == list(dict.fromkeys(scored["id"]))  # one per line, in order
    for record in records:
        rows = scored[scored["id"] == record.id]
        assert list(record.alts) == list(rows["alt"])
        assert record.info["DNANET_status"] == tuple(rows["status"])
        for column in columns:
            values = record.info[f"DNANET_{column}"]  # None: '.', the allele not scored
            expected = [float(cell) if cell else None for cell in rows[column]]
            assert [v is None for v in values] == [e is None for e in expected]
            assert [v for v in values if v is not None] == pytest.approx(
                [e for e in expected if e is not None], rel=1e-5
            ), (record.id, column)
    multi = next(r for r in records if r.id == "multi")
    assert multi.info["DP"] == 7 and multi.info["SOURCE"] == "x" and len(multi.alts) == 2
    mismatch = next(r for r in records if r.id == "mismatch")
    assert mismatch.info["DNANET_status"] == ("ref_mismatch",)
    assert mismatch.info["DNANET_p_bound"] == (None,)
    pysam.tabix_index(str(out), preset="vcf", keep_original=True, force=True)
    with pysam.TabixFile(str(out)) as indexed:
        assert len(list(indexed.fetch("chr1"))) == sum(r.chrom == "chr1" for r in records)
    again = tmp_path / "again.vcf"  # the output scored again: its keys replaced, not repeated
    variants_command(runner, variant_run, out, synthetic_genome.genome, again)
    text = again.read_text()
    assert text.count("##INFO=<ID=DNANET_status,") == 1 and "DNANET_p_bound" not in text
    assert text.startswith("##fileformat=VCFv4.2\n") and text.count("\tDP=7;SOURCE=x;") == 1


def test_an_ensemble_adds_the_members_spread_of_the_tested_effect(
    variant_run, synthetic_genome, tmp_path
):
    import dataclasses

    import torch

    from dnanet.interpret.variant_job import score_variants
    from dnanet.models.ensemble import Ensemble
    from dnanet.runs.load import load_run

    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        HEADER + "".join(site_snvs(synthetic_genome)[:4] + far_snvs(synthetic_genome, 4, seed=5))
    )
    first, second = load_run(variant_run), load_run(variant_run)
    torch.manual_seed(0)
    with torch.no_grad():  # a second member that disagrees a little, as another fold would
        for weights in second.model.parameters():
            weights.add_(0.05 * weights.std() * torch.randn_like(weights))
    ensemble = dataclasses.replace(
        first, model=Ensemble([first.model, second.model]), members=(first, second)
    )
    genome = synthetic_genome.genome
    outcome = score_variants(ensemble, tmp_path / "ens.tsv", vcf=vcf, genome=genome)
    for name, member in (("one", first), ("two", second)):
        score_variants(member, tmp_path / f"{name}.tsv", vcf=vcf, genome=genome)
    both = table(tmp_path / "ens.tsv")
    one, two = (table(tmp_path / f"{name}.tsv") for name in ("one", "two"))
    assert "sd_bound" in both and "sd_bound" not in one
    assert "ensemble of 2 members: sd_ columns are their spread" in outcome.summary_lines()
    mean = (one["ref_bound"].astype(float) + two["ref_bound"].astype(float)) / 2
    assert np.allclose(both["ref_bound"].astype(float), mean, atol=2e-6)
    effects = np.stack([t["log_odds_diff_bound"].astype(float) for t in (one, two)])
    spread = both["sd_bound"].astype(float)
    assert np.allclose(spread, effects.std(0), atol=1e-4) and (spread > 0).all()
