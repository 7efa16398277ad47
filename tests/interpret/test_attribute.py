"""`dnanet attribute` on a CNN trained on planted CTCF sites: the files' layout, attributions on
the planted sites, ISM against independent predictions of every mutant, TF-MoDISco reading the
files back, and one-line errors that leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from dnanet.cli import app
from dnanet.inputs.encode import one_hot, sequences_to_codes
from dnanet.inputs.read import read_fasta

WINDOW = 15


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """500 records of 100 bp with one CTCF site each (class ctcf, given first: the positive
    class) and 500 without, and a small CNN trained on them averaging both strands."""
    from typer.testing import CliRunner

    from dnanet.synthetic.planted import jaspar_pwm, planted_set

    folder = tmp_path_factory.mktemp("planted_attribute")
    fastas = planted_set({"ctcf": jaspar_pwm("MA0139")[1]}, 500, length=100, seed=0).write_fasta(
        folder / "fa"
    )
    config = folder / "cnn.yaml"
    config.write_text(
        "model: {name: cnn, channels: 32, layers: 2, hidden: 32}\n"
        "train: {reverse_complement: true}\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "train",
            f"ctcf={fastas['ctcf']}",
            f"none={fastas['none']}",
            "-c",
            str(config),
            "--out",
            str(folder / "run"),
            "--epochs",
            "20",
            "--batch-size",
            "30",
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return {
        "run": folder / "run",
        "fasta": fastas["ctcf"],
        "sites": pd.read_csv(folder / "fa" / "sites.tsv", sep="\t"),
    }


def attribute(runner, planted, out, *extra, fasta=None):
    result = runner.invoke(
        app,
        [
            "attribute",
            str(planted["run"]),
            str(fasta or planted["fasta"]),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return np.load(out), np.load(out.with_name(out.name.replace(".npz", ".ohe.npz")))["arr_0"]


def share_on_sites(arrays, sequences, sites: pd.DataFrame) -> float:
    """Fraction of records whose best 15-bp window of attribution (at their own bases) overlaps
    their planted site."""
    per_base = (arrays["arr_0"] * sequences).sum(1)  # (N, L)
    best = np.lib.stride_tricks.sliding_window_view(per_base, WINDOW, axis=1).sum(-1).argmax(1)
    site = sites.set_index("id").loc[list(arrays["ids"])]
    return float(
        ((best < site["end"].to_numpy()) & (best + WINDOW > site["start"].to_numpy())).mean()
    )


@pytest.fixture(scope="module")
def ism_files(planted, tmp_path_factory):
    from typer.testing import CliRunner

    return attribute(
        CliRunner(), planted, tmp_path_factory.mktemp("ism") / "ism.npz", "--method", "ism"
    )


def test_saliency_files_have_the_modisco_layout_and_point_at_the_planted_sites(
    runner, planted, tmp_path
):
    arrays, sequences = attribute(
        runner,
        planted,
        tmp_path / "a.npz",
        "--plot",
        str(tmp_path / "a.png"),
        "--records",
        "seq3,seq1",
    )
    records = list(read_fasta(planted["fasta"]))
    assert sorted(arrays.files) == [
        "arr_0",
        "ids",
        "lengths",
        "method",
        "output",
        "reference",
        "region",
        "strands",
        "target",
    ]
    assert (
        arrays["arr_0"].shape == sequences.shape == (500, 4, 100)
        and arrays["arr_0"].dtype == np.float32
    )
    assert sequences.dtype == np.float32 and np.array_equal(
        sequences,
        one_hot(torch.from_numpy(sequences_to_codes([r.sequence for r in records])[0])).numpy(),
    )
    assert list(arrays["ids"]) == [r.id for r in records] and (arrays["lengths"] == 100).all()
    assert (str(arrays["method"]), str(arrays["target"]), str(arrays["output"])) == (
        "saliency",
        "ctcf",
        "log_odds",
    )
    assert int(arrays["strands"]) == 2 and list(arrays["region"]) == [0, 100]
    assert np.allclose(arrays["arr_0"].sum(1), 0, atol=1e-6)  # centred over A C G T
    assert share_on_sites(arrays, sequences, planted["sites"]) > 0.9
    assert (tmp_path / "a.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.npz",
        "a.ohe.npz",
        "a.png",
    ]  # no temporary left


def test_ism_of_the_file_equals_independent_predictions_of_every_mutant(runner, planted, tmp_path):
    """Records of different lengths (one with an N); every mutant predicted on its own with the
    run's strand averaging, as `dnanet predict` does."""
    from dnanet.inference.predict import predict_batch
    from dnanet.runs.load import load_run

    records = list(read_fasta(planted["fasta"]))[:2]
    fasta = tmp_path / "two.fa"
    fasta.write_bytes(
        b">long\n" + records[0].sequence + b"\n>short\n" + records[1].sequence[:59] + b"N\n"
    )
    arrays, _ = attribute(
        runner, planted, tmp_path / "ism.npz", "--method", "ism", "--batch-size", "50", fasta=fasta
    )
    loaded = load_run(planted["run"])
    model, task = loaded.model, loaded.task

    def probability(codes: np.ndarray) -> float:  # of class ctcf
        return float(
            predict_batch(
                model,
                codes[None],
                np.array([len(codes)]),
                loaded.reverse_complement_average,
                activate=task.activate,
            )[0, 0]
        )

    assert list(arrays["lengths"]) == [100, 60] and arrays["deltas"].shape == (2, 4, 100)
    for row, codes in enumerate(
        sequences_to_codes([records[0].sequence, records[1].sequence[:59] + b"N"])[0]
    ):
        codes = codes[: arrays["lengths"][row]]
        reference = probability(codes)
        assert abs(1 / (1 + np.exp(-arrays["reference"][row])) - reference) < 1e-6
        for position in range(len(codes)):
            for base in set(range(4)) - {int(codes[position])}:
                mutant = codes.copy()
                mutant[position] = base
                p = probability(mutant)
                assert (
                    abs(
                        arrays["deltas"][row, base, position]
                        - (np.log(p / (1 - p)) - np.log(reference / (1 - reference)))
                    )
                    < 2e-4
                )
                assert (
                    abs(
                        1
                        / (
                            1
                            + np.exp(
                                -(arrays["reference"][row] + arrays["deltas"][row, base, position])
                            )
                        )
                        - p
                    )
                    < 1e-6
                )
    assert (arrays["deltas"][1, :, 60:] == 0).all() and (
        arrays["deltas"][1, :, 59] != 0
    ).all()  # N: four bases
    region, _ = attribute(
        runner,
        planted,
        tmp_path / "region.npz",
        "--method",
        "ism",
        "--region",
        "20:50",
        fasta=fasta,
    )
    np.testing.assert_allclose(
        region["deltas"][:, :, 20:50], arrays["deltas"][:, :, 20:50], atol=1e-5
    )
    assert not region["deltas"][:, :, :20].any() and not region["deltas"][:, :, 50:].any()
    assert not region["arr_0"][:, :, 50:].any() and list(region["region"]) == [20, 50]


def test_ism_attributions_point_at_the_planted_sites(ism_files, planted):
    arrays, sequences = ism_files
    assert share_on_sites(arrays, sequences, planted["sites"]) > 0.9
    centred = arrays["deltas"] - arrays["deltas"].mean(1, keepdims=True)
    np.testing.assert_allclose(arrays["arr_0"], centred, atol=1e-6)


def test_modisco_lite_reads_the_files_and_finds_the_planted_motif(ism_files, tmp_path):
    pytest.importorskip("modiscolite")
    import h5py

    from dnanet.interpret.motifs.compare import best_matches, jaspar_motifs

    folder = tmp_path / "ism"
    folder.mkdir()
    arrays, sequences = ism_files
    np.savez(folder / "ism.npz", arr_0=arrays["arr_0"])  # the files as written, member for member
    np.savez_compressed(folder / "ism.ohe.npz", arr_0=sequences)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from modiscolite.cli import cli; cli()",
            "motifs",
            "-s",
            str(folder / "ism.ohe.npz"),
            "-a",
            str(folder / "ism.npz"),
            "-n",
            "2000",
            "-w",
            "100",
            "-o",
            str(folder / "modisco.h5"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(folder / "modisco.h5") as results:
        top = np.array(results["pos_patterns"]["pattern_0"]["sequence"]).T  # (4, W)
    assert best_matches([top], jaspar_motifs())[0].name.upper() == "CTCF"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--region", "60:30"], "--region '60:30': expected START:END with 0 <= START < END"),
        (["--region", "90:120"], "--region 90:120: "),
        (["--target", "nope"], "--target nope: not one of the run's classes: ctcf, none"),
        (["--method", "magic"], "--method magic: valid values: ism, saliency, grad_x_input"),
        (["--plot", "PLOT.png", "--records", "seq1,missing"], "--records: no record named missing"),
        (["--plot", "PLOT.jpg"], "--plot writes a PNG"),
        (["--records", "seq1"], "--records chooses the records --plot draws; give --plot too"),
        (["--bad-fasta"], "bad.fa line 4, column 3: record 'b'"),
    ],
)
def test_bad_input_is_one_line_errors_and_leaves_nothing(runner, planted, tmp_path, extra, message):
    out_folder = tmp_path / "out"
    fasta = planted["fasta"]
    if extra == ["--bad-fasta"]:
        fasta, extra = tmp_path / "bad.fa", []
        fasta.write_text(">a\nACGT\n>b\nAC-GT\n")
    extra = [part.replace("PLOT", str(out_folder / "plot")) for part in extra]
    result = runner.invoke(
        app,
        [
            "attribute",
            str(planted["run"]),
            str(fasta),
            "--out",
            str(out_folder / "a.npz"),
            "--quiet",
            *extra,
        ],
    )
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not out_folder.exists()
    if message.startswith("--region 90"):
        assert "line 1: record seq1 has only 100 bases" in result.output


COMPLEMENT = bytes.maketrans(b"ACGTNacgtn", b"TGCANtgcan")


def test_attribute_on_a_bed_gives_the_arrays_of_the_same_sequences_as_fasta(
    runner, planted, synthetic_genome, tmp_path
):
    """BED6 intervals (both strands) read from a genome: ids chrom:start-end(strand), the '-' strand
    reverse-complemented, the same arrays as the same sequences given as FASTA; an interval running
    off its chromosome is skipped and said. The run was trained on 100-base records, so an 80-base
    interval is read as the 100 bases centred on it."""
    from dnanet.inputs.genome import open_genome

    genome = open_genome(synthetic_genome.genome)
    size = genome.sizes["chr2"]
    intervals = [("chr1", 5_000 + 997 * i, 5_100 + 997 * i, "+-"[i % 2]) for i in range(5)] + [
        ("chr2", 20_000, 20_080, "-")
    ]
    bed = tmp_path / "peaks.bed"
    bed.write_text(
        "".join(
            f"{c}\t{s}\t{e}\tp{i}\t0\t{strand}\n" for i, (c, s, e, strand) in enumerate(intervals)
        )
        + f"chr2\t{size - 50}\t{size + 50}\toff\t0\t+\n"
    )
    intervals[-1] = ("chr2", 19_990, 20_090, "-")  # the window read: the run's 100 bases
    fasta = tmp_path / "same.fa"
    with open(fasta, "wb") as handle:
        for chrom, start, end, strand in intervals:
            bases = genome.fetch(chrom, start, end)
            handle.write(
                b">x\n" + (bases[::-1].translate(COMPLEMENT) if strand == "-" else bases) + b"\n"
            )
    result = runner.invoke(
        app,
        [
            "attribute",
            str(planted["run"]),
            str(bed),
            "--genome",
            str(synthetic_genome.genome),
            "--out",
            str(tmp_path / "bed.npz"),
            "--method",
            "ism",
            "--region",
            "30:70",
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "1 of 7 intervals skipped" in said and "6 records: ism attributions" in said
    assert "intervals read as 100-base windows around their summits or centres" in said
    from_bed = np.load(tmp_path / "bed.npz"), np.load(tmp_path / "bed.ohe.npz")["arr_0"]
    from_fasta = attribute(
        runner, planted, tmp_path / "fa.npz", "--method", "ism", "--region", "30:70", fasta=fasta
    )
    assert list(from_bed[0]["ids"]) == [f"{c}:{s}-{e}({strand})" for c, s, e, strand in intervals]
    assert list(from_bed[0]["lengths"]) == [100] * 6 and from_bed[1].shape == (6, 4, 100)
    np.testing.assert_array_equal(from_bed[1], from_fasta[1])
    for key in ("arr_0", "deltas", "reference"):
        np.testing.assert_allclose(from_bed[0][key], from_fasta[0][key], atol=1e-6)
    assert (
        np.abs(from_bed[0]["deltas"]).max() > 0.01
    )  # the model responds to these bases: a real comparison


def sharded_inputs(planted, tmp_path) -> list[str]:
    """Two FASTA files, 7 records, of different lengths (the shorter ones padded to the longest)."""
    records = list(read_fasta(planted["fasta"]))[:7]
    short = tmp_path / "short.fa"
    short.write_bytes(
        b"".join(
            b">%s\n%s\n" % (r.id.encode(), r.sequence[: 60 + 5 * i])
            for i, r in enumerate(records[:4])
        )
    )
    long = tmp_path / "long.fa"
    long.write_bytes(b"".join(b">%s\n%s\n" % (r.id.encode(), r.sequence) for r in records[4:]))
    return [str(short), str(long)]


PER_RECORD = ("arr_0", "deltas", "reference", "ids", "lengths")


def test_attribute_shards_concatenate_to_the_unsharded_files(runner, planted, tmp_path):
    inputs = sharded_inputs(planted, tmp_path)
    options = ["--method", "ism", "--region", "20:50", "--quiet", "--threads", "1"]
    result = runner.invoke(
        app,
        ["attribute", str(planted["run"]), *inputs, "--out", str(tmp_path / "all.npz"), *options],
    )
    assert result.exit_code == 0, result.output
    whole, shards = np.load(tmp_path / "all.npz"), []
    for k in (1, 2, 3):
        result = runner.invoke(
            app,
            [
                "attribute",
                str(planted["run"]),
                *inputs,
                "--out",
                str(tmp_path / f"a.{k}.npz"),
                "--shard",
                f"{k}/3",
                *options,
            ],
        )
        assert (
            result.exit_code == 0 and f"shard {k}/3: {[2, 2, 3][k - 1]} records" in result.output
        ), result.output
        shards.append(
            (np.load(tmp_path / f"a.{k}.npz"), np.load(tmp_path / f"a.{k}.ohe.npz")["arr_0"])
        )
    assert [s.shape for _, s in shards] == [
        (2, 4, 100),
        (2, 4, 100),
        (3, 4, 100),
    ]  # the whole input's L
    for key in PER_RECORD:
        merged = np.concatenate([part[key] for part, _ in shards])
        np.testing.assert_allclose(
            merged, whole[key], atol=1e-6
        ) if merged.dtype.kind == "f" else np.testing.assert_array_equal(merged, whole[key])
    for key in set(whole.files) - set(PER_RECORD):
        assert all(np.array_equal(part[key], whole[key]) for part, _ in shards), key
    np.testing.assert_array_equal(
        np.concatenate([s for _, s in shards]), np.load(tmp_path / "all.ohe.npz")["arr_0"]
    )
    result = runner.invoke(
        app,
        [
            "attribute",
            str(planted["run"]),
            *inputs,
            "--out",
            str(tmp_path / "p.npz"),
            "--shard",
            "1/3",
            "--plot",
            str(tmp_path / "p.png"),
            "--records",
            "seq6",
            *options,
        ],
    )
    assert (
        result.exit_code == 1
        and "--records: no record named seq6 in the input of this shard" in result.output
    )


@pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)
@pytest.mark.parametrize(
    "options",
    [["--method", "ism", "--region", "20:50"], ["--method", "deepliftshap", "--references", "3"]],
    ids=["ism", "deepliftshap"],
)
def test_torchrun_attribute_writes_one_file_equal_to_a_single_process(
    runner, planted, tmp_path, options
):
    from tests.inference.test_infer_shards import torchrun

    inputs = sharded_inputs(planted, tmp_path)
    result = runner.invoke(
        app,
        [
            "attribute",
            str(planted["run"]),
            *inputs,
            "--out",
            str(tmp_path / "one.npz"),
            "--quiet",
            "--threads",
            "1",
            *options,
        ],
    )
    assert result.exit_code == 0, result.output
    done = torchrun(
        "attribute",
        str(planted["run"]),
        *inputs,
        "--out",
        str(tmp_path / "dist" / "a.npz"),
        *options,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert said.count(f"7 records: {options[1]} attributions") == 1 and "by 2 processes" in said
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [
        "a.npz",
        "a.ohe.npz",
    ]  # no parts left
    single, merged = np.load(tmp_path / "one.npz"), np.load(tmp_path / "dist" / "a.npz")
    assert sorted(single.files) == sorted(merged.files)
    for key in single.files:
        if single[key].dtype.kind == "f":
            np.testing.assert_allclose(merged[key], single[key], atol=1e-6)
        else:
            np.testing.assert_array_equal(merged[key], single[key])
    np.testing.assert_array_equal(
        np.load(tmp_path / "dist" / "a.ohe.npz")["arr_0"],
        np.load(tmp_path / "one.ohe.npz")["arr_0"],
    )


@pytest.mark.parametrize("method", ["deepliftshap", "integrated_gradients"])
def test_reference_methods_sum_to_the_output_and_point_at_the_planted_sites(
    runner, planted, tmp_path, method
):
    """The summation check holds on every record (DeepLIFT: within 1% of each record's output
    difference; integrated gradients of the whole model: its quadrature's error), the file's
    members agree with each other, and the contributions sit on the planted sites."""
    out = tmp_path / "a.npz"
    result = runner.invoke(
        app,
        ["attribute", str(planted["run"]), str(planted["fasta"]), "--out", str(out)]
        + ["--method", method, "--references", "4", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    if method == "deepliftshap":  # exact rules (and integrated gradients of the log-odds)
        assert "0 of 500 records beyond 1% of it" in " ".join(result.output.split()), result.output
    arrays = np.load(out)
    sequences = np.load(tmp_path / "a.ohe.npz")["arr_0"]
    assert {"baseline", "summation_error", "references", "seed"} <= set(arrays.files)
    difference = arrays["reference"] - arrays["baseline"]
    assert np.median(np.abs(difference)) > 1  # the sites move the log-odds a lot
    np.testing.assert_allclose(
        (arrays["arr_0"] * sequences).sum((1, 2)) - difference, arrays["summation_error"], atol=1e-3
    )
    error = np.abs(arrays["summation_error"])
    if method == "deepliftshap":
        assert (error < 0.01 * np.abs(difference)).all()
    else:  # the whole model's path integral: 16 Gauss-Legendre nodes (measured 0.7%, max 4%)
        assert np.median(error) < 0.01 * np.median(np.abs(difference))
        assert (error < 0.1 * np.maximum(1, np.abs(difference))).all()
    assert share_on_sites(arrays, sequences, planted["sites"]) > 0.9


def test_deepliftshap_shards_give_the_unsharded_references_and_values(runner, planted, tmp_path):
    """Shuffle k of every record is seeded by seed + k, so shards (and batch sizes) give the same
    references, hence the same values, as one pass over all records."""
    base = ["attribute", str(planted["run"]), str(planted["fasta"]), "--quiet", "--threads", "1"]
    base += ["--method", "deepliftshap", "--references", "2"]
    parts = []
    for shard in ("1/2", "2/2", None):
        out = tmp_path / f"{(shard or 'all').replace('/', 'of')}.npz"
        extra = ["--shard", shard, "--batch-size", "7"] if shard else []
        result = runner.invoke(app, base + ["--out", str(out)] + extra)
        assert result.exit_code == 0, result.output
        parts.append(np.load(out))
    for name in ("arr_0", "baseline", "summation_error", "reference"):
        joined = np.concatenate([parts[0][name], parts[1][name]])
        np.testing.assert_allclose(joined, parts[2][name], atol=1e-5)
