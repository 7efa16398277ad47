"""Signal runs (`dnanet train --signal`) through `dnanet variants`, `dnanet attribute` and `dnanet
motifs`, on the example genome (`dnanet example-genome`: CTCF sites planted at known places, each
site's reads set by its motif score). A small CNN is trained once per module on each task, counts
and profile (window 200, target width 100): site-breaking variants lower the predicted counts,
attributions fall on the planted sites, and the motif found is CTCF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.inference.predict import predict_batch
from dnanet.inputs.encode import UNKNOWN
from dnanet.inputs.genome import open_genome
from dnanet.inputs.sources import GenomeSettings, LabelledInput
from dnanet.interpret import attribution
from dnanet.interpret.attribution_workflow import attribute_arrays
from dnanet.interpret.variant_job import variants_frame
from dnanet.interpret.variants import effect_cells, effect_header
from dnanet.runs.load import Run, load_run

runner = CliRunner()
WINDOW = 200
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}
SMALL_CNN = """seed: 0
model: {name: cnn, channels: 32, first_kernel: 19, layers: 2, hidden: 32, dropout: 0.0}
train: {lr: 0.004, batch_size: 16}
"""  # without dropout it finds the motif from any seed (with 0.1, half the seeds miss it)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example genome's folder: genome.fa, peaks.narrowPeak, sites.tsv, signal.bw."""
    from dnanet.synthetic.genome import write_example_genome

    return write_example_genome(tmp_path_factory.mktemp("signal") / "data")


def train_signal(example, task: str, epochs: int) -> Run:
    """A small CNN trained on the peaks and a GC-matched background against signal.bw (chr3
    validation, chr2 test), loaded on the CPU."""
    from dnanet.training.workflow import train_run

    folder = example.genome.parent.parent
    config = folder / "small-cnn.yaml"
    config.write_text(SMALL_CNN)
    out = folder / f"run-{task}"
    train_run(
        [f"peaks={example.peaks}", "bg=gc-matched"],
        out,
        genome=example.genome,
        window=WINDOW,
        signal=[f"chip={example.genome.parent / 'signal.bw'}"],
        task=task,
        target_width=100,
        jitter=20,
        split="chromosome",
        val_chroms="chr3",
        test_chroms="chr2",
        config=config,
        epochs=epochs,
        threads=1,
        device="cpu",
    )
    return load_run(out, torch.device("cpu"))


@pytest.fixture(scope="module")
def counts_run(example) -> Run:
    return train_signal(example, "counts", 12)


@pytest.fixture(scope="module")
def profile_run(example) -> Run:
    return train_signal(example, "profile", 8)


def breaking_variants(example, count: int | None = None) -> list[str]:
    """VCF lines, one per planted site (the first `count`): the site's three most informative
    motif bases each changed to its complement (REF and ALT span the site)."""
    from dnanet.synthetic.planted import jaspar_pwm

    _, pwm = jaspar_pwm("MA0139")
    information = 2 + (pwm * np.log2(np.clip(pwm, 1e-9, 1))).sum(0)
    columns = np.argsort(-information)[:3]
    genome = open_genome(example.genome)
    lines = []
    for number, site in enumerate(example.sites.head(count).itertuples(index=False)):
        ref = genome.fetch(site.chrom, site.start, site.end).decode().upper()
        alt = list(ref)
        for column in columns:
            at = column if site.strand == "+" else len(ref) - 1 - column
            alt[at] = COMPLEMENT[alt[at]]
        lines.append(vcf_line(site.chrom, site.start + 1, ref, "".join(alt), f"site{number}"))
    return lines


def far_variants(example, count: int, seed: int = 1) -> list[str]:
    """VCF lines of `count` SNVs (a base to its complement) at least 2 kb from every site."""
    genome = open_genome(example.genome)
    starts = example.sites.loc[example.sites["chrom"] == "chr1", "start"].to_numpy()
    rng = np.random.default_rng(seed)
    lines = []
    while len(lines) < count:
        at = int(rng.integers(5_000, genome.sizes["chr1"] - 5_000))
        base = genome.fetch("chr1", at, at + 1).decode().upper()
        if np.abs(starts - at).min() > 2_000 and base in COMPLEMENT:
            lines.append(vcf_line("chr1", at + 1, base, COMPLEMENT[base], "far"))
    return lines


def vcf_line(chrom: str, pos: int, ref: str, alt: str, ident: str) -> str:
    return f"{chrom}\t{pos}\t{ident}\t{ref}\t{alt}\t.\tPASS\t.\n"


def write_vcf(path: Path, lines: list[str]) -> Path:
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    with open(path, "a") as handle:
        handle.writelines(lines)
    return path


def test_breaking_planted_sites_lowers_the_predicted_counts(counts_run, example, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", breaking_variants(example) + far_variants(example, 100))
    out, plots = tmp_path / "effects.tsv", tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "variants",
            str(counts_run.folder),
            "--vcf",
            str(vcf),
            "--genome",
            str(example.genome),
            "--out",
            str(out),
            "--plot",
            str(plots),
            "--plot-top",
            "2",
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t", keep_default_na=False, dtype={"pos": str})
    assert list(table.columns[7:]) == ["ref_chip", "alt_chip", "lfc_chip"]
    assert (table["status"] == "ok").all() and len(table) == len(example.sites) + 100
    expected = np.log2((1 + table["alt_chip"]) / (1 + table["ref_chip"]))
    np.testing.assert_allclose(table["lfc_chip"], expected, atol=1e-4)
    site, far = table.loc[table["id"] != "far", "lfc_chip"], table.loc[table["id"] == "far"]
    summary = site.describe(), far["lfc_chip"].describe()
    assert site.mean() < -1 and (site < 0).mean() > 0.95, summary  # 2x fewer reads, and more
    assert far["lfc_chip"].abs().median() < min(0.2, 0.05 * abs(site.mean())), summary
    assert far["lfc_chip"].abs().mean() < 0.1 * abs(site.mean()), summary
    ranked = table.sort_values("lfc_chip", key=abs, ascending=False)
    assert (ranked["id"].head(50) != "far").all(), ranked.head(50)  # the largest break a site
    assert sorted(path.name for path in plots.iterdir()) == [
        f"0{rank}_{row.chrom}_{row.pos}_{row.id}_{row.ref[:10]}_{row.alt[:10]}.png"
        for rank, row in enumerate(ranked.head(2).itertuples(), 1)
    ]
    assert "by |lfc_chip|" in " ".join(result.stderr.split()), result.stderr


def test_a_profile_run_reports_the_counts_change_and_the_profile_distance(
    profile_run, example, tmp_path
):
    genome = open_genome(example.genome)
    base = genome.fetch("chr1", 30_000, 30_001).decode().upper()
    lines = breaking_variants(example, 60) + far_variants(example, 40, seed=2)
    lines.append(vcf_line("chr1", 30_001, base, base, "same"))  # ALT = REF: no effect at all
    table = variants_frame(
        profile_run, vcf=write_vcf(tmp_path / "v.vcf", lines), genome=example.genome
    )
    assert list(table.columns[7:]) == ["ref_chip", "alt_chip", "lfc_chip", "jsd_chip"]
    same = table[table["id"] == "same"].iloc[0]
    assert abs(same["lfc_chip"]) < 1e-5 and same["jsd_chip"] < 1e-3  # batches round apart
    jsd = table["jsd_chip"]
    assert ((jsd >= 0) & (jsd <= 1)).all()
    site, far = table[table["id"].str.startswith("site")], table[table["id"] == "far"]
    summary = site[["lfc_chip", "jsd_chip"]].describe(), far[["lfc_chip", "jsd_chip"]].describe()
    assert site["lfc_chip"].mean() < 0 and (site["lfc_chip"] < 0).mean() > 0.8, summary
    assert site["jsd_chip"].median() > 4 * far["jsd_chip"].median(), summary


def test_signal_cells_are_the_log2_fold_change_and_the_jensen_shannon_distance():
    profile = Task("profile", ["a", "b"], width=4)
    assert effect_header(profile)[7:] == [
        "ref_a",
        "alt_a",
        "lfc_a",
        "jsd_a",
        "ref_b",
        "alt_b",
        "lfc_b",
        "jsd_b",
    ]
    assert effect_header(Task("counts", ["a"]))[7:] == ["ref_a", "alt_a", "lfc_a"]
    shapes = {
        "ref": ([0.25] * 4, [0.1, 0.2, 0.3, 0.4]),
        "alt": ([0.5, 0.5, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]),
    }
    ref = np.array([np.log(10), np.log(4), *shapes["ref"][0], *shapes["ref"][1]], np.float32)
    alt = np.array([np.log(5), np.log(4), *shapes["alt"][0], *shapes["alt"][1]], np.float32)
    cells = [float(cell) for cell in effect_cells(profile, ref, alt)]
    assert cells[:3] == pytest.approx([9, 4, -1], rel=1e-5)  # 9 -> 4 reads: (1 + 4) / (1 + 9)
    assert cells[3] == pytest.approx(jensenshannon([0.25] * 4, [0.5, 0.5, 0, 0], base=2), 1e-5)
    assert cells[4:] == pytest.approx([3, 3, 0, 0], abs=1e-5)
    counts = Task("counts", ["a"], [0.0], [1.0])
    assert effect_cells(counts, np.array([np.log(2)]), np.array([np.log(8)])) == ["1", "7", "2"]


def site_windows(example, tmp_path: Path, count: int = 40) -> Path:
    """A BED of `count` 200-base windows of the test chromosome (chr2) centred on planted sites."""
    sites = example.sites[example.sites["chrom"] == "chr2"].head(count)
    centres = (sites["start"] + sites["end"]) // 2
    bed = tmp_path / "sites.bed"
    bed.write_text(
        "".join(f"chr2\t{centre - WINDOW // 2}\t{centre + WINDOW // 2}\n" for centre in centres)
    )
    return bed


def site_share(attributions: np.ndarray, sequences: np.ndarray) -> tuple[float, float]:
    """The median over windows of the mean |attribution| of the site's bases (the central 16) over
    that of the bases 60 or more from the centre, and the median share of all |attribution| the
    site's bases hold."""
    actual = np.abs(attributions * sequences).sum(1)  # (N, L)
    centre = actual.shape[1] // 2
    site = actual[:, centre - 8 : centre + 8]
    far = np.concatenate([actual[:, : centre - 60], actual[:, centre + 60 :]], axis=1)
    return (
        float(np.median(site.mean(1) / far.mean(1))),
        float(np.median(site.sum(1) / actual.sum(1))),
    )


def test_attributions_of_the_predicted_counts_fall_on_the_planted_sites(
    counts_run, example, tmp_path
):
    settings = GenomeSettings(example.genome, WINDOW)
    windows = [LabelledInput(None, site_windows(example, tmp_path))]
    result = attribute_arrays(counts_run, windows, settings=settings)
    assert (result.target, result.output, result.method) == ("chip", "log_counts", "saliency")
    assert result.attributions.shape == (40, 4, WINDOW)
    ratio, share = site_share(result.attributions, result.sequences)
    assert ratio > 4 and share > 0.2, (ratio, share)  # 16 of 200 bases: 8% if spread evenly
    ism = attribute_arrays(counts_run, windows, method="ism", region=(90, 110), settings=settings)
    one_hot = torch.from_numpy(result.sequences)
    codes = torch.where(one_hot.sum(1) > 0, one_hot.argmax(1), UNKNOWN).to(torch.uint8)
    predicted = predict_batch(
        counts_run.model,
        codes,
        torch.full((len(codes),), WINDOW),
        True,
        activate=counts_run.task.activate,
    )  # the explained output: the strand-averaged log(1 + reads) behind predict's pred_chip
    np.testing.assert_allclose(ism.reference, predicted[:, 0].numpy(), rtol=1e-4)
    np.testing.assert_allclose(result.reference, predicted[:, 0].numpy(), rtol=1e-4)
    with pytest.raises(DnanetError, match="--profile explains the predicted profile"):
        attribute_arrays(counts_run, windows, profile=True, settings=settings)


def test_profile_attributions_fall_on_the_planted_sites(profile_run, example, tmp_path):
    bed = site_windows(example, tmp_path)
    out = tmp_path / "attr.npz"
    result = runner.invoke(
        app,
        [
            "attribute",
            str(profile_run.folder),
            str(bed),
            "--genome",
            str(example.genome),
            "--profile",
            "--out",
            str(out),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert "toward chip (profile, both strands averaged)" in said, result.stderr
    saved = np.load(out)
    assert str(saved["output"]) == "profile" and str(saved["target"]) == "chip"
    ratio, share = site_share(saved["arr_0"], np.load(tmp_path / "attr.ohe.npz")["arr_0"])
    assert ratio > 4 and share > 0.2, (ratio, share)


def test_a_profile_run_refuses_inputs_shorter_than_its_profile(profile_run, example, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", far_variants(example, 2))
    command = ["variants", str(profile_run.folder), "--vcf", str(vcf), "--genome"]
    result = runner.invoke(
        app, [*command, str(example.genome), "--window", "60", "--out", str(tmp_path / "e.tsv")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    said = " ".join(result.stderr.split())
    assert "--window 60" in said and "100-base profile" in said, result.stderr
    short = tmp_path / "short.fa"
    short.write_text(">long\n" + "ACGT" * 30 + "\n>short\n" + "ACGT" * 20 + "\n")
    with pytest.raises(DnanetError, match="record short has only 80 bases.*at least 100 long"):
        attribute_arrays(profile_run, [short])


def test_the_profile_objective_is_chrombpnets():
    """sum_w (z_w - mean z) softmax(z)_w, the softmax a constant: its gradient by z_w is
    softmax(z)_w - 1/W; strand order does not matter (a sum over positions)."""
    task = Task("profile", ["a", "b"], width=5)
    flat = torch.randn(3, 2 + 2 * 5, requires_grad=True)
    value = attribution.profile_output(task, 1)([flat])
    logits = flat[:, 2:].reshape(3, 2, 5)[:, 1]
    probabilities = torch.softmax(logits, -1)
    expected = ((logits - logits.mean(-1, keepdim=True)) * probabilities).sum(-1)
    torch.testing.assert_close(value, expected)
    (gradient,) = torch.autograd.grad(value.sum(), flat)
    torch.testing.assert_close(
        gradient[:, 7:], (probabilities - 1 / 5).detach(), rtol=1e-5, atol=1e-6
    )
    assert (gradient[:, :7] == 0).all()
    flipped = task.flip(flat)  # the reverse strand's profile, reversed
    torch.testing.assert_close(attribution.profile_output(task, 1)([flat, flipped]), value)
    assert attribution.resolve_target(Task("counts", ["chip"]), None) == 0
    with pytest.raises(DnanetError, match="2 tracks: a, b"):
        attribution.resolve_target(task, None)


def test_motifs_of_a_counts_run_find_ctcf(counts_run, example, tmp_path):
    from dnanet.interpret.motifs.job import SIGNAL_NOTE, find_motifs

    outcome = find_motifs(
        counts_run,
        [f"peaks={example.peaks}"],
        tmp_path / "motifs",
        genome=example.genome,
        no_baseline=True,
        max_motifs=3,
        background="other",  # a signal run always searches against shuffles
    )
    assert outcome.motifs, outcome.lines()
    top = outcome.motifs[0]
    assert top.class_name == "chip" and top.match is not None and top.match.name == "CTCF", (
        outcome.lines()
    )
    assert top.faithfulness > 0.1, top.faithfulness  # shuffling the sites lowers the counts
    assert SIGNAL_NOTE in outcome.notes and (tmp_path / "motifs" / "motifs.meme").exists()


@pytest.mark.parametrize("output", ["counts", "profile"])
def test_deepliftshap_of_signal_runs_falls_on_the_sites_and_sums_to_the_counts(
    counts_run, profile_run, example, tmp_path, output
):
    """DeepLIFT/SHAP of a counts run's predicted log counts sums to each window's output minus its
    references' (every record within 1%) and falls on the planted sites; of a profile run's
    profile (ChromBPNet's weighting, the softmax held constant: a weight, not part of the
    explained function's gradient, so the summation is not exact), it falls on the sites too."""
    settings = GenomeSettings(example.genome, WINDOW)
    windows = [LabelledInput(None, site_windows(example, tmp_path))]
    run = counts_run if output == "counts" else profile_run
    result = attribute_arrays(
        run,
        windows,
        method="deepliftshap",
        references=4,
        profile=output == "profile",
        settings=settings,
    )
    ratio, share = site_share(result.attributions, result.sequences)
    assert ratio > 4 and share > 0.2, (ratio, share)
    difference = np.abs(result.reference - result.baseline)
    error = np.abs(result.summation_error)
    if output == "counts":  # measured: 2e-7 of a median difference of 2.6
        assert (error <= 0.01 * np.maximum(1, difference)).all(), (error, difference)
    else:  # measured: median 0.10 of 0.22; reported per record, not hidden
        assert np.isfinite(error).all() and np.median(error) > 1e-3
