"""predict (TSV, --profiles, tracks), evaluate, embed and motifs on signal runs, and the Python API
beside them: a profile run (tracks chip and ctl) and a counts run (chip) trained for 2 epochs, once
for the module, on the example genome's peaks and its coverage bigWigs (window 200, output 100).
Expected values are computed apart from the commands: from the bigWig files, the genome and the
model itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from dnanet import load_run
from dnanet.cli import app
from dnanet.inference.predict import predict_batch
from dnanet.inputs.encode import BYTE_TO_CODE
from dnanet.inputs.genome import open_genome

WINDOW, WIDTH = 200, 100
SMALL_CNN = """model: {name: cnn, channels: 16, hidden: 16, layers: 2, first_kernel: 9}
train: {epochs: 2}
"""


def said(result) -> str:
    """What a command printed, on one line (rich wraps long messages)."""
    return " ".join(result.output.split())


def invoke(runner, *arguments: str):
    return runner.invoke(app, [str(argument) for argument in arguments])


def train(runner, data: Path, out: Path, task: str, tracks: list[str]) -> Path:
    config = out.parent / "small.yaml"
    config.write_text(SMALL_CNN)
    signals = [part for track in tracks for part in ("--signal", f"{track}")]
    result = invoke(
        runner, "train", f"peaks={data / 'peaks.narrowPeak'}", "bg=gc-matched",
        "--genome", data / "genome.fa", "--window", WINDOW, *signals, "--task", task,
        "--target-width", WIDTH, "--jitter", 10, "--split", "chromosome", "--val-chroms", "chr3",
        "--test-chroms", "chr2", "-c", config, "--threads", 1, "--quiet", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def signal_runs(tmp_path_factory, runner) -> SimpleNamespace:
    """The example genome and a profile and a counts run trained on it."""
    root = tmp_path_factory.mktemp("signal")
    data = root / "data"
    result = invoke(runner, "example-genome", data)
    assert result.exit_code == 0, result.output
    tracks = [f"chip={data / 'signal.bw'}", f"ctl={data / 'control.bw'}"]
    few = root / "few.narrowPeak"
    few.write_text("".join((data / "peaks.narrowPeak").read_text().splitlines(True)[:40]))
    return SimpleNamespace(
        data=data,
        genome=data / "genome.fa",
        peaks=data / "peaks.narrowPeak",
        few=few,
        profile=train(runner, data, root / "profile", "profile", tracks),
        counts=train(runner, data, root / "counts", "counts", tracks[:1]),
    )


def centre_reads(track: Path, ids: list[str]) -> np.ndarray:
    """The reads of `track` over the central WIDTH bases of each window id, read with pyBigWig."""
    handle = pyBigWig.open(str(track))
    sums = []
    for record_id in ids:
        chrom, span = record_id.split("(")[0].split(":")
        start = int(span.split("-")[0]) + (WINDOW - WIDTH) // 2
        sums.append(np.nansum(handle.values(chrom, start, start + WIDTH, numpy=True)))
    handle.close()
    return np.array(sums)


# predict: the TSV and --profiles


def test_a_profile_runs_tsv_and_profiles_give_the_reads_per_track_and_base(
    signal_runs, runner, tmp_path
):
    table, profiles = tmp_path / "p.tsv", tmp_path / "p.npz"
    result = invoke(
        runner, "predict", signal_runs.profile, signal_runs.few, "--genome", signal_runs.genome,
        "--out", table, "--profiles", profiles,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "40 predictions written" in said(result) and "per-base reads in" in said(result)
    predicted = pd.read_csv(table, sep="\t")
    assert list(predicted.columns) == ["id", "name", "pred_chip", "pred_ctl"]
    assert len(predicted) == 40
    starts_ends = predicted["id"].str.extract(r":(\d+)-(\d+)\(").astype(int)
    assert (starts_ends[1] - starts_ends[0] == WINDOW).all()  # read at the run's input width
    with np.load(profiles) as archive:
        assert sorted(archive.files) == ["chip", "ctl", "ids"]
        assert list(archive["ids"]) == list(predicted["id"])
        for track in ("chip", "ctl"):
            reads = archive[track]
            assert reads.shape == (40, WIDTH) and reads.dtype == np.float32 and (reads >= 0).all()
            np.testing.assert_allclose(reads.sum(1), predicted[f"pred_{track}"], rtol=1e-4)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["p.npz", "p.tsv"]


def test_profiles_are_expm1_of_the_log_total_times_the_probabilities(signal_runs):
    run = load_run(signal_runs.profile)
    sequence = open_genome(signal_runs.genome).fetch("chr1", 30_000, 30_000 + WINDOW)
    ids, reads = run.profiles([sequence.decode()])
    codes = np.frombuffer(sequence.translate(BYTE_TO_CODE), dtype=np.uint8)[None].copy()
    outputs = predict_batch(
        run.model, codes, np.array([WINDOW]), run.loaded.reverse_complement_average,
        activate=run.task.activate,
    ).numpy()[0]  # fmt: skip
    totals, shares = np.expm1(outputs[:2]), outputs[2:].reshape(2, WIDTH)
    assert ids == ["0"] and np.allclose(shares.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(reads["chip"][0], totals[0] * shares[0], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(reads["ctl"][0], totals[1] * shares[1], rtol=1e-5, atol=1e-8)


def test_profiles_of_a_counts_run_or_of_records_of_another_width_are_refused(
    signal_runs, runner, tmp_path
):
    table, profiles = tmp_path / "c.tsv", tmp_path / "c.npz"
    refused = invoke(
        runner, "predict", signal_runs.counts, signal_runs.few, "--genome", signal_runs.genome,
        "--out", table, "--profiles", profiles,
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "--profiles needs a profile run (trained with --task profile); this is a counts run" in (
        said(refused)
    )
    fasta = tmp_path / "short.fa"
    fasta.write_text(">ok\n" + "ACGT" * 50 + "\n>short\n" + "ACGT" * 40 + "\n")
    short = invoke(
        runner, "predict", signal_runs.profile, fasta, "--out", table, "--profiles", profiles
    )
    assert short.exit_code == 1
    assert "record short: 160 bases; --profiles are predicted for windows of the run's input " in (
        said(short)
    )
    wrong = invoke(
        runner, "predict", signal_runs.profile, fasta, "--out", table, "--profiles", table
    )
    assert wrong.exit_code == 1 and "--profiles writes a NumPy .npz file" in said(wrong)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["short.fa"]  # nothing written


def test_a_counts_runs_tsv_predicts_the_reads_of_the_target_width(signal_runs, runner, tmp_path):
    table = tmp_path / "c.tsv"
    result = invoke(
        runner, "predict", signal_runs.counts, signal_runs.few, "--genome", signal_runs.genome,
        "--out", table,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(table, sep="\t")
    assert list(predicted.columns) == ["id", "name", "pred_chip"]
    assert (predicted["pred_chip"] > 0).all()
    observed = centre_reads(signal_runs.data / "signal.bw", list(predicted["id"]))
    assert 0.1 < predicted["pred_chip"].median() / np.median(observed) < 10  # the reads' scale


# predict --out X.bw: predicted coverage


def intervals(path: Path, chrom: str) -> np.ndarray:
    handle = pyBigWig.open(str(path))
    found = np.array(handle.intervals(chrom) or [], dtype=np.float64)
    handle.close()
    return found


def test_a_profile_runs_track_is_its_reads_per_base_once_per_base(signal_runs, runner, tmp_path):
    out = tmp_path / "track.bw"
    result = invoke(
        runner, "predict", signal_runs.profile, "--genome", signal_runs.genome,
        "--region", "chr1:1-50000", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["track.chip.bw", "track.ctl.bw"]
    assert "predicted reads per base of" in said(result)
    chip = intervals(tmp_path / "track.chip.bw", "chr1")
    starts, ends, values = chip.T
    assert (ends - starts == 1).all() and (np.diff(starts) > 0).all()  # each base once
    assert starts.min() >= 0 and ends.max() <= 50_000 and len(starts) % WIDTH == 0
    tile = 30_000  # a tile of the region's tiling by the output width: its window is centred
    window = open_genome(signal_runs.genome).fetch(
        "chr1", tile - (WINDOW - WIDTH) // 2, tile + (WINDOW + WIDTH) // 2
    )
    _, reads = load_run(signal_runs.profile).profiles([window.decode()])
    here = (starts >= tile) & (starts < tile + WIDTH)
    assert here.sum() == WIDTH
    np.testing.assert_allclose(values[here], reads["chip"][0], rtol=1e-5, atol=1e-8)
    ctl = intervals(tmp_path / "track.ctl.bw", "chr1")
    np.testing.assert_allclose(ctl[:, 0], starts)


def test_a_counts_runs_track_is_its_reads_per_target_width_tile(signal_runs, runner, tmp_path):
    out = tmp_path / "track.bw"
    result = invoke(
        runner, "predict", signal_runs.counts, "--genome", signal_runs.genome,
        "--region", "chr1:1-50000", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [path.name for path in tmp_path.iterdir()] == ["track.bw"]  # one track, one file
    starts, ends, values = intervals(out, "chr1").T
    assert (ends - starts == WIDTH).all() and (starts % WIDTH == 0).all()
    tile = 30_000
    window = open_genome(signal_runs.genome).fetch(
        "chr1", tile - (WINDOW - WIDTH) // 2, tile + (WINDOW + WIDTH) // 2
    )
    expected = load_run(signal_runs.counts).predict([window.decode()])["pred_chip"][0]
    assert values[starts == tile][0] == pytest.approx(expected, rel=1e-5)
    step = invoke(
        runner, "predict", signal_runs.counts, "--genome", signal_runs.genome,
        "--region", "chr1:1-5000", "--step", 50, "--out", tmp_path / "other.bw",
    )  # fmt: skip
    assert step.exit_code == 1
    assert "--step 50: a counts run's track tiles the genome by its output width, 100" in said(step)


# evaluate


def test_evaluate_scores_a_profile_run_against_its_recorded_tracks(signal_runs, runner, tmp_path):
    metrics_path, table = tmp_path / "m.json", tmp_path / "p.tsv"
    result = invoke(
        runner, "evaluate", signal_runs.profile, signal_runs.peaks,
        "--genome", signal_runs.genome, "--out", metrics_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table_text = result.stdout  # the signal table: the mean over tracks, then a row per track
    assert all(word in table_text for word in ("JSD", "(mean)", "chip", "ctl", "400"))
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n"] == 400 and set(metrics["per_track"]) == {"chip", "ctl"}
    assert {"pearson", "mse", "baseline_mse", "jsd", "baseline_jsd"} <= set(metrics)
    predicted = invoke(
        runner, "predict", signal_runs.profile, signal_runs.peaks, "--genome", signal_runs.genome,
        "--out", table,
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    rows = pd.read_csv(table, sep="\t")
    for track, file in (("chip", "signal.bw"), ("ctl", "control.bw")):
        observed = np.log1p(centre_reads(signal_runs.data / file, list(rows["id"])))
        mse = np.mean((observed - np.log1p(rows[f"pred_{track}"])) ** 2)
        assert metrics["per_track"][track]["mse"] == pytest.approx(mse, rel=1e-3)


def moved_run(signal_runs, folder: Path) -> tuple[Path, Path, Path]:
    """A copy of the profile run whose model.json names copies of its two tracks in `folder`."""
    run = folder / "run"
    shutil.copytree(signal_runs.profile, run)
    chip, ctl = folder / "chip.bw", folder / "ctl.bw"
    shutil.copy(signal_runs.data / "signal.bw", chip)
    shutil.copy(signal_runs.data / "control.bw", ctl)
    description = json.loads((run / "model.json").read_text())
    for entry, copy in zip(description["signal"]["tracks"], (chip, ctl)):
        entry["path"] = str(copy)
    (run / "model.json").write_text(json.dumps(description))
    return run, chip, ctl


def test_evaluate_refuses_changed_or_missing_tracks_unless_given_anew(
    signal_runs, runner, tmp_path
):
    run, chip, ctl = moved_run(signal_runs, tmp_path)
    inputs = [signal_runs.few, "--genome", signal_runs.genome]
    assert invoke(runner, "evaluate", run, *inputs).exit_code == 0  # the copies are unchanged
    with open(chip, "ab") as handle:
        handle.write(b"\0")
    changed = invoke(runner, "evaluate", run, *inputs)
    assert changed.exit_code == 1
    assert f"{chip}: the track 'chip' changed since {run} was trained on it (SHA-256 differs)" in (
        said(changed)
    )
    ctl.unlink()
    anew = [f"chip={signal_runs.data / 'signal.bw'}", f"ctl={signal_runs.data / 'control.bw'}"]
    missing = invoke(runner, "evaluate", run, *inputs, "--signal", anew[0])
    assert missing.exit_code == 1
    assert f"{ctl}: the track 'ctl' {run} was trained on is missing; give it with --signal" in (
        said(missing)
    )
    given = invoke(runner, "evaluate", run, *inputs, "--signal", anew[0], "--signal", anew[1])
    assert given.exit_code == 0, given.output
    unknown = invoke(runner, "evaluate", run, *inputs, "--signal", f"input={chip}")
    assert unknown.exit_code == 1
    assert f"--signal input: {run} has no track 'input'; its tracks: chip, ctl" in said(unknown)
    no_genome = invoke(runner, "evaluate", run, signal_runs.few)
    assert no_genome.exit_code == 1
    assert "is a profile run: give the BED intervals to score and --genome" in said(no_genome)


def test_evaluate_scores_a_counts_run(signal_runs, runner, tmp_path):
    out = tmp_path / "m.json"
    result = invoke(
        runner, "evaluate", signal_runs.counts, signal_runs.few, "--genome", signal_runs.genome,
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 40 and list(metrics["per_track"]) == ["chip"] and "jsd" not in metrics
    assert metrics["baseline_mse"] > 0 and metrics["mse"] > 0


# embed, motifs and the Python API


def test_embed_runs_on_a_signal_run(signal_runs, runner, tmp_path):
    inputs = [signal_runs.few, "--genome", signal_runs.genome]
    embedded = invoke(runner, "embed", signal_runs.profile, *inputs, "--out", tmp_path / "e.tsv")
    assert embedded.exit_code == 0, embedded.output
    vectors = pd.read_csv(tmp_path / "e.tsv", sep="\t")
    labels = ["id", "class", "chrom", "start", "end", "strand"]  # genome windows: coordinates
    assert list(vectors.columns[:6]) == labels and vectors["class"].nunique() == 1
    assert vectors.shape == (40, 6 + 16)  # the trunk's embedding (hidden 16)


def test_the_api_gives_the_commands_predictions_profiles_and_metrics(signal_runs, runner, tmp_path):
    table, profiles, metrics = tmp_path / "p.tsv", tmp_path / "p.npz", tmp_path / "m.json"
    inputs = [signal_runs.few, "--genome", signal_runs.genome]
    assert invoke(
        runner, "predict", signal_runs.profile, *inputs, "--out", table, "--profiles", profiles
    ).exit_code == 0  # fmt: skip
    assert invoke(
        runner, "evaluate", signal_runs.profile, *inputs, "--out", metrics
    ).exit_code == 0  # fmt: skip
    run = load_run(signal_runs.profile)
    frame = run.predict(signal_runs.few, genome=signal_runs.genome)
    pd.testing.assert_frame_equal(frame, pd.read_csv(table, sep="\t", dtype={"id": str}))
    ids, reads = run.profiles(signal_runs.few, genome=signal_runs.genome)
    with np.load(profiles) as archive:
        assert ids == list(archive["ids"])
        for track in ("chip", "ctl"):
            np.testing.assert_array_equal(reads[track], archive[track])
    scored, written = (
        run.evaluate([signal_runs.few], genome=signal_runs.genome),
        json.loads(metrics.read_text()),
    )
    assert scored.keys() == written.keys() and scored["n"] == written["n"] == 40
    for track in ("chip", "ctl"):
        assert scored["per_track"][track] == pytest.approx(written["per_track"][track])
    counts = load_run(signal_runs.counts)
    with pytest.raises(Exception, match="profiles needs a profile run"):
        counts.profiles(signal_runs.few, genome=signal_runs.genome)
