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
from scipy.stats import false_discovery_control, kstest

from dnanet.cli import app
from dnanet.inputs.genome import open_genome
from dnanet.interpret.variant_null import shuffle_draws, snv_draws, variant_seed
from dnanet.interpret.variants import prepare, read_vcf
from tests.interpret.test_variants import HEADER, far_positions, site_snvs, vcf_line


def variants_command(runner, run: Path, vcf: Path, genome: Path, out: Path, *extra: str):
    result = runner.invoke(
        app,
        [
            "variants",
            str(run),
            "--vcf",
            str(vcf),
            "--genome",
            str(genome),
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return result


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
    contigs = "".join(f"##contig=<ID={c},length={n}>\n" for c, n in genome.sizes.items())
    path.write_text(
        HEADER.replace("\n#CHROM", "\n" + contigs.rstrip("\n") + "\n#CHROM") + "".join(lines)
    )
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
