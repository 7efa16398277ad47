"""The genome workflow through the real CLI, on a synthetic genome with CTCF sites planted at
known coordinates (`dnanet.synthetic.genome`): train on peaks with generated backgrounds,
evaluate, predict and embed BED intervals, slide the model along the genome into bigWig and
bedGraph tracks, and the errors of bad genome input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.inputs.bed import parse_record_id
from dnanet.inputs.genome import open_genome

runner = CliRunner()


def train(genome, out: Path, background: str, *extra: str, epochs: int = 30):
    return runner.invoke(
        app,
        [
            "train",
            f"bound={genome.peaks}",
            f"background={background}",
            "--genome",
            str(genome.genome),
            "--window",
            "200",
            "--out",
            str(out),
            "--epochs",
            str(epochs),
            "--threads",
            "1",
            "--quiet",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def genome_run(synthetic_genome, tmp_path_factory) -> Path:
    """The shipped CNN trained on the 400 planted peaks against a GC-matched background, chr3 held
    out for validation and chr4 for the test (`dnanet.data.splits`: the chromosome comes from the
    record ids)."""
    out = tmp_path_factory.mktemp("genome-runs") / "gc"
    result = train(
        synthetic_genome,
        out,
        "gc-matched",
        "--split",
        "chromosome",
        "--val-chroms",
        "chr3",
        "--test-chroms",
        "chr4",
    )
    assert result.exit_code == 0, result.output
    return out


def test_peaks_against_a_gc_matched_background_train_to_a_high_test_auroc(
    genome_run, synthetic_genome
):
    metrics = json.loads((genome_run / "metrics.json").read_text())
    peaks_on_chr4 = int((synthetic_genome.sites["chrom"] == "chr4").sum())
    assert metrics["auroc"] > 0.95 and metrics["learned"] is True
    assert (
        metrics["per_class"]["bound"]["n"] == peaks_on_chr4
    )  # the held-out chromosome's peaks, all of them
    description = json.loads((genome_run / "model.json").read_text())
    chromosomes = description["split"]["chromosomes"]
    assert chromosomes == {"train": ["chr1", "chr2"], "validation": ["chr3"], "test": ["chr4"]}
    bound, background = json.loads((genome_run / "model.json").read_text())["inputs"]
    assert (
        bound["records"] == 400
        and bound["window"] == 200
        and bound["skipped"] == {"off_chromosome_end": 0}
    )
    assert bound["genome"]["path"] == str(synthetic_genome.genome.resolve())
    assert background["path"] == "gc-matched" and background["records"] == 400
    assert background["background"] == {
        "kind": "gc-matched",
        "ratio": 1,
        "seed": 0,
        "of": [str(synthetic_genome.peaks)],
    }


@pytest.mark.parametrize("kind", ["shuffle", "flank"])
def test_shuffled_and_flanking_backgrounds_train_too(synthetic_genome, tmp_path, kind):
    result = train(synthetic_genome, tmp_path / kind, kind, epochs=12)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / kind / "metrics.json").read_text())["auroc"] > 0.9


def test_an_interrupted_genome_run_resumes_with_its_genome_and_background(
    synthetic_genome, tmp_path, monkeypatch
):
    from safetensors.torch import load_file

    from dnanet.cli import display

    def stop(self, record, best_epoch):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "gc"
    monkeypatch.chdir(tmp_path)  # relative paths: the checkpoint keeps them absolute
    relative = type(synthetic_genome)(
        Path(os.path.relpath(synthetic_genome.genome)),
        Path(os.path.relpath(synthetic_genome.peaks)),
        synthetic_genome.sites_path,
        synthetic_genome.sites,
    )
    with monkeypatch.context() as patch:
        patch.setattr(display.LineMonitor, "epoch_done", stop)
        result = train(relative, Path("gc"), "gc-matched", "--cache", "cache", epochs=4)
    assert result.exit_code == 130 and "continue with dnanet train --resume" in result.output
    shutil.rmtree(
        tmp_path / "cache"
    )  # the backgrounds are generated again, from the saved settings and seed
    result = runner.invoke(app, ["train", "--resume", str(out), "--threads", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert train(synthetic_genome, tmp_path / "straight", "gc-matched", epochs=4).exit_code == 0
    resumed, straight = (
        load_file(out / "model.safetensors"),
        load_file(tmp_path / "straight" / "model.safetensors"),
    )
    assert all(np.array_equal(resumed[name].numpy(), straight[name].numpy()) for name in straight)


def test_a_fixed_test_part_gets_its_background_from_its_own_peaks(synthetic_genome, tmp_path):
    peaks = synthetic_genome.peaks.read_text().splitlines()
    train_bed, test_bed = tmp_path / "train.narrowPeak", tmp_path / "test.narrowPeak"
    train_bed.write_text("".join(line + "\n" for line in peaks if not line.startswith("chr4\t")))
    test_bed.write_text("".join(line + "\n" for line in peaks if line.startswith("chr4\t")))
    result = runner.invoke(
        app,
        [
            "train",
            f"bound={train_bed}",
            "background=flank",
            "--test",
            f"bound={test_bed}",
            "--test",
            "background=gc-matched",
            "--genome",
            str(synthetic_genome.genome),
            "--window",
            "200",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    inputs = json.loads((tmp_path / "run" / "model.json").read_text())["inputs"]
    test_peaks = sum(line.startswith("chr4\t") for line in peaks)
    assert [(entry["path"], entry["part"], entry["records"]) for entry in inputs] == [
        (str(train_bed), "train", len(peaks) - test_peaks),
        ("flank", "train", len(peaks) - test_peaks),
        (str(test_bed), "test", test_peaks),
        ("gc-matched", "test", test_peaks),
    ]
    assert inputs[3]["background"]["of"] == [
        str(test_bed)
    ]  # so drawn on chr4 (tests/test_genome.py)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n"] == 2 * test_peaks


def test_evaluate_predict_and_embed_read_bed_intervals(genome_run, synthetic_genome, tmp_path):
    genome = ["--genome", str(synthetic_genome.genome), "--window", "200"]
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(genome_run),
            f"bound={synthetic_genome.peaks}",
            "background=gc-matched",
            "--genome",
            str(synthetic_genome.genome),
            "--seed",
            "7",
            "--out",
            str(tmp_path / "m.json"),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "m.json").read_text())["auroc"] > 0.95
    )  # fresh backgrounds (seed 7)
    assert (
        f"note: {synthetic_genome.peaks}: intervals read as 200-base windows around their summits "
        "or centres, the run's training window (--window changes it)"
        in " ".join(result.stderr.split())
    )
    bed = tmp_path / "some.bed"
    sites = synthetic_genome.sites.head(5)
    centres = (
        sites["start"] + sites["end"]
    ) // 2  # 100-base intervals on the planted sites, both strands
    bed.write_text(
        "".join(
            f"{chrom}\t{c - 50}\t{c + 50}\tp\t0\t{strand}\n"
            for chrom, c in zip(sites["chrom"], centres)
            for strand in "+-"
        )
        + "chr4\t149990\t150000\tend\t0\t+\n"
    )
    result = runner.invoke(
        app,
        [
            "predict",
            str(genome_run),
            str(bed),
            *genome,
            "--out",
            str(tmp_path / "p.tsv"),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        f"note: {bed}: 1 of 11 intervals skipped: the window runs off the chromosome end "
        "(first: line 11, chr4:149895-150095 on a 150,000-base chromosome)"
        in " ".join(result.stderr.split())
    )
    predictions = pd.read_csv(tmp_path / "p.tsv", sep="\t", keep_default_na=False)
    assert list(predictions.columns[:3]) == ["id", "name", "predicted"]
    assert (predictions["name"] == "p").all()  # the BED's names are kept (narrowPeak: peak names)
    assert (
        len(predictions) == 10
        and [parse_record_id(i)[3] for i in predictions["id"]] == ["+", "-"] * 5
    )
    assert predictions["id"][0] == f"{sites['chrom'][0]}:{centres[0] - 100}-{centres[0] + 100}(+)"
    forward, reverse = (
        predictions["prob_bound"][0::2].to_numpy(),
        predictions["prob_bound"][1::2].to_numpy(),
    )
    assert np.allclose(
        forward, reverse, atol=1e-5
    )  # a - record is the reverse complement; the run averages strands
    assert (forward > 0.5).sum() >= 4
    result = runner.invoke(
        app,
        [
            "embed",
            str(genome_run),
            f"bound={synthetic_genome.peaks}",
            "background=flank",
            *genome,
            "--out",
            str(tmp_path / "e.parquet"),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    vectors = pd.read_parquet(tmp_path / "e.parquet")
    assert list(vectors.columns[:6]) == ["id", "class", "chrom", "start", "end", "strand"]
    assert vectors["class"].value_counts().to_dict() == {"bound": 400, "background": 400}
    places = [parse_record_id(i) for i in vectors["id"]]
    assert vectors[["chrom", "start", "end", "strand"]].apply(tuple, axis=1).tolist() == places
    assert (
        len(vectors) == 800
        and vectors["id"].iloc[0].endswith("(.)")
        and parse_record_id(vectors["id"].iloc[-1])
    )


def test_motifs_from_peaks_name_the_planted_ctcf(genome_run, synthetic_genome, tmp_path):
    result = runner.invoke(
        app,
        [
            "motifs",
            str(genome_run),
            f"bound={synthetic_genome.peaks}",
            "background=gc-matched",
            "--genome",
            str(synthetic_genome.genome),
            "--no-baseline",
            "--class",
            "bound",
            "--out",
            str(tmp_path / "motifs"),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    found = pd.read_csv(tmp_path / "motifs" / "motifs.tsv", sep="\t")
    assert found["best_match"].iloc[0] == "CTCF" and found["class"].iloc[0] == "bound"
    sites = pd.read_csv(tmp_path / "motifs" / "sites.tsv", sep="\t")
    ctcf = sites[sites["motif"] == found["motif"].iloc[0]]
    assert len(ctcf) >= 100  # each site also on the genome: within a planted CTCF site
    planted = synthetic_genome.sites
    inside = [
        (
            (planted["chrom"] == chrom)
            & (planted["start"] - 5 <= start)
            & (end <= planted["end"] + 5)
        ).any()
        for chrom, start, end in ctcf[["chrom", "genome_start", "genome_end"]].itertuples(
            index=False
        )
    ]
    assert np.mean(inside) > 0.8, np.mean(inside)
    genome = open_genome(synthetic_genome.genome)
    for row in ctcf.head(20).itertuples(index=False):  # the genome's bases are the site's
        window = genome.fetch(*parse_record_id(row.sequence)[:3])
        assert window[row.start : row.end] == genome.fetch(
            row.chrom, row.genome_start, row.genome_end
        )


def site_centres(sites: pd.DataFrame, chrom: str, end: int) -> np.ndarray:
    chosen = sites[(sites["chrom"] == chrom) & (sites["end"] <= end)]
    return ((chosen["start"] + chosen["end"]) / 2).to_numpy()


def test_a_bigwig_track_peaks_at_the_planted_sites(genome_run, synthetic_genome, tmp_path):
    """Along chr4, the chromosome held out from training."""
    import pyBigWig

    out = tmp_path / "track.bw"
    result = runner.invoke(
        app,
        [
            "predict",
            str(genome_run),
            "--genome",
            str(synthetic_genome.genome),
            "--region",
            "chr4:1-150,000",
            "--step",
            "20",
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    # 7,500 bins: 95 at the start more than half N, 5 + 5 with the window off an end
    assert (
        "7,395 values in bins of 20 bases over 150,000 bases of 1 region (window 200); "
        "no value in 95 bins (window more than half N) and 10 (window off the chromosome end)"
        in " ".join(result.stderr.split())
    )
    track = pyBigWig.open(str(out))
    assert track.isBigWig() and track.chroms() == {
        "chr1": 350_000,
        "chr2": 280_000,
        "chr3": 220_000,
        "chr4": 150_000,
    }
    entries = np.array(track.intervals("chr4"))  # (n, 3): start, end, value
    assert entries[:, 1].max() <= 150_000 and np.all(np.diff(entries[:, 0]) >= 20)
    centres = site_centres(synthetic_genome.sites, "chr4", 150_000)
    middle = (entries[:, 0] + entries[:, 1]) / 2
    distance = np.abs(middle[:, None] - centres[None, :]).min(1)
    assert distance[entries[:, 2].argmax()] <= 20  # the highest value sits on a planted site
    found = [entries[np.abs(middle - centre) <= 20, 2].max() > 0.5 for centre in centres]
    assert np.mean(found) >= 0.8, np.mean(found)  # most sites stand out where they are
    near, far = entries[distance <= 20, 2].mean(), entries[distance > 300, 2].mean()
    assert near > 0.5 and near > 3 * far, (near, far)
    assert track.stats("chr4", 0, 150_000, type="max")[0] == pytest.approx(
        entries[:, 2].max(), rel=1e-6
    )


def test_a_bedgraph_track_covers_every_chromosome_in_order(genome_run, synthetic_genome, tmp_path):
    out = tmp_path / "all.bedGraph"
    result = runner.invoke(
        app,
        [
            "predict",
            str(genome_run),
            "--genome",
            str(synthetic_genome.genome),
            "--step",
            "100",
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith('track type=bedGraph name="gc bound"')
    rows = pd.read_csv(
        out, sep="\t", skiprows=1, header=None, names=["chrom", "start", "end", "value"]
    )
    assert list(dict.fromkeys(rows["chrom"])) == ["chr1", "chr2", "chr3", "chr4"]
    sizes = {"chr1": 350_000, "chr2": 280_000, "chr3": 220_000, "chr4": 150_000}
    for chrom, part in rows.groupby("chrom", sort=False):
        assert (part["end"] - part["start"] == 100).all() and part["end"].max() <= sizes[chrom]
        assert np.all(np.diff(part["start"]) >= 100) and part["value"].between(0, 1).all()
    chr2 = rows[rows["chrom"] == "chr2"]
    assert not (
        (chr2["start"] > 60_100) & (chr2["end"] < 62_900)
    ).any()  # chr2's N gap has no values
    assert not (rows["start"] < 1_900).any()  # nor the N at each chromosome's start
    chr3 = rows[rows["chrom"] == "chr3"]
    distance = np.abs(
        site_centres(synthetic_genome.sites, "chr3", sizes["chr3"])[None, :]
        - (chr3["start"].to_numpy() + 50)[:, None]
    ).min(1)
    assert distance[chr3["value"].to_numpy().argmax()] <= 100
    assert chr3["value"][distance <= 50].mean() > 2 * chr3["value"][distance > 300].mean()


def test_two_backgrounds_make_three_classes_and_a_track_file_per_class(synthetic_genome, tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            f"bound={synthetic_genome.peaks}",
            "near=flank",
            "far=gc-matched",
            "--genome",
            str(synthetic_genome.genome),
            "--window",
            "200",
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "run"),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    description = json.loads((tmp_path / "run" / "model.json").read_text())
    assert description["classes"] == ["bound", "near", "far"] and [
        e["records"] for e in description["inputs"]
    ] == [400, 400, 400]
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "run"),
            "--genome",
            str(synthetic_genome.genome),
            "--region",
            "chr4:100001-110000",
            "--step",
            "100",
            "--out",
            str(tmp_path / "t.bedGraph"),
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    tracks = [
        pd.read_csv(tmp_path / f"t.{name}.bedGraph", sep="\t", skiprows=1, header=None)
        for name in ("bound", "near", "far")
    ]
    assert not (tmp_path / "t.bedGraph").exists() and all(len(track) == 100 for track in tracks)
    assert np.allclose(
        sum(track[3] for track in tracks), 1, atol=1e-4
    )  # the three probabilities of each bin


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.rstrip("\n").endswith(errors[0]), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def test_bad_genome_input_is_one_clear_line(genome_run, synthetic_genome, tmp_path):
    out = tmp_path / "run"
    genome = ["--genome", str(synthetic_genome.genome)]
    bad = tmp_path / "bad.narrowPeak"
    bad.write_text("chr1\t100\t300\tp\t0\t.\t1\t1\t1\t50\nchr1\t400\t500\tq\n\nchr9\t100\t300\n")
    result = runner.invoke(
        app, ["train", f"bound={bad}", "background=gc-matched", *genome, "--out", str(out)]
    )
    assert_one_line_error(result, f"{bad} line 4: chromosome 'chr9' is not in the genome")
    bad.write_text("chr1\t100\t300\nchr1\t400\n")
    result = runner.invoke(
        app, ["train", f"bound={bad}", "background=shuffle", *genome, "--out", str(out)]
    )
    assert_one_line_error(result, f"{bad} line 2: expected at least 3 tab-separated columns")
    result = runner.invoke(
        app, ["train", f"bound={synthetic_genome.peaks}", "background=shuffle", "--out", str(out)]
    )
    assert_one_line_error(result, "peaks.narrowPeak: intervals (BED) need --genome FILE")
    gzipped = tmp_path / "genome.fa.gz"
    gzipped.write_bytes(gzip.compress(synthetic_genome.genome.read_bytes(), compresslevel=1))
    result = runner.invoke(
        app,
        [
            "train",
            f"bound={synthetic_genome.peaks}",
            "background=gc-matched",
            "--genome",
            str(gzipped),
            "--out",
            str(out),
        ],
    )
    assert_one_line_error(
        result, "genome.fa.gz: a plain-gzip FASTA cannot be read at random positions", "bgzip"
    )
    result = runner.invoke(
        app,
        [
            "predict",
            str(genome_run),
            *genome,
            "--region",
            "chr4:1-200000",
            "--out",
            str(tmp_path / "t.bw"),
        ],
    )
    assert_one_line_error(
        result, "--region chr4:1-200000: runs past the end of chr4 (150,000 bases)"
    )
    assert not out.exists() and not (tmp_path / "t.bw").exists()


def test_a_track_needs_a_window_when_the_run_records_none(genome_run, synthetic_genome, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(genome_run, run)
    description = json.loads((run / "model.json").read_text())
    for entry in description["inputs"]:
        entry["window"] = None
    del description["training_lengths"]  # as a run made before they were recorded
    (run / "model.json").write_text(json.dumps(description))
    command = [
        "predict",
        str(run),
        "--genome",
        str(synthetic_genome.genome),
        "--region",
        "chr4",
        "--out",
        str(tmp_path / "t.bedGraph"),
        "--threads",
        "1",
        "--quiet",
    ]
    assert_one_line_error(
        runner.invoke(app, command),
        "records whose lengths this older run did not record",
        "give --window N",
    )
    result = runner.invoke(app, [*command, "--window", "200"])
    assert result.exit_code == 0, result.output
    assert "(window 200)" in result.stderr


def test_example_genome_writes_the_walkthrough_files(tmp_path):
    result = runner.invoke(
        app, ["example-genome", str(tmp_path / "demo"), "--peaks", "50", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "control.bw",
        "genome.fa",
        "peaks.narrowPeak",
        "signal.bw",
        "sites.tsv",
    ]
    said = "".join(result.stderr.split())  # the console wraps long paths, even inside a name
    assert f"{tmp_path / 'demo' / 'signal.bw'}and{tmp_path / 'demo' / 'control.bw'}" in said
    assert len((tmp_path / "demo" / "peaks.narrowPeak").read_text().splitlines()) == 50
    again = runner.invoke(app, ["example-genome", str(tmp_path / "demo")])
    assert again.exit_code == 1 and "already exists" in again.stderr
