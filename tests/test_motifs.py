"""dnanet.motifs and `dnanet motifs`: scores, shuffles, clustering, and the command end to end
on a CNN trained on the bundled CTCF example (the session's `trained_run`)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from dnanet.cli import app
from dnanet.encode import PAD, reverse_complement_ids, sequences_to_codes
from dnanet.models import build_model
from dnanet.motifs import cluster, scores, shuffle
from dnanet.motifs.attention import attention_scores
from dnanet.motifs.write import consensus

def random_codes(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    return rng.integers(0, 4, (n, length)).astype(np.uint8)


def test_dinucleotide_shuffle_keeps_dinucleotides_and_ends():
    rng = np.random.default_rng(1)
    codes = random_codes(rng, 1, 200)[0]
    shuffled = shuffle.dinucleotide_shuffle(codes, rng)
    pairs = lambda c: Counter(zip(c[:-1].tolist(), c[1:].tolist()))  # noqa: E731
    assert pairs(shuffled) == pairs(codes)
    assert (shuffled[0], shuffled[-1]) == (codes[0], codes[-1])
    assert not np.array_equal(shuffled, codes)


def test_spread_windows_gives_each_base_score_over_k():
    codes = torch.zeros(1, 5, dtype=torch.uint8)
    codes[0, 4] = PAD
    spread = scores.spread_windows(torch.tensor([[3.0, 6.0]]), k=3, stride=1, codes=codes)
    assert torch.allclose(spread, torch.tensor([[1.0, 3.0, 3.0, 2.0, 0.0]]))


def test_kmer_reverse_complement_ids():
    rc = reverse_complement_ids(3)
    assert cluster.kmer_string(int(rc[0]), 3) == "TTT"  # AAA -> TTT
    assert rc[int("012", 4)] == int("123", 4)  # ACG -> CGT


def test_planted_motif_on_either_strand_is_recovered_as_one_pwm():
    rng = np.random.default_rng(0)
    motif_codes = sequences_to_codes([b"TTGACCTAGCA"])[0][0]
    regions, null = random_codes(rng, 300, 35), random_codes(rng, 300, 35)
    for row in range(200):
        site = motif_codes if row % 2 else cluster.reverse_complement_codes(motif_codes)
        start = rng.integers(0, 35 - len(site))
        regions[row, start:start + len(site)] = site
    found = cluster.find_pwms(regions, null, max_motifs=3, min_seqlets=10)
    assert found and found[0].seqlets >= 180
    best = consensus(found[0].pwm)
    assert "TTGACCTAGCA" in best or "TGCTAGGTCAA" in best


@pytest.mark.parametrize("encoder", ["onehot", "kmer"])
def test_attention_scores_shape_masking_and_windows(encoder):
    torch.manual_seed(0)
    model = build_model("transformer", 2, {"encoder": encoder, "k": 3, "d_model": 32, "heads": 2,
                                           "ff_dim": 32, "max_len": 8, "overlap": 2, "stem_pool": 2}).eval()
    codes = torch.from_numpy(random_codes(np.random.default_rng(0), 3, 40))
    codes[1, 25:] = PAD  # a shorter sequence; 40 bases = 20 tokens = several windows of 8
    for aggregation in ("rollout", "cls", "mean"):
        values = attention_scores(model, codes, aggregation)
        assert values.shape == (3, 40)
        assert torch.isfinite(values).all() and (values[1, 25:] == 0).all() and (values[0] > 0).all()
    alone = attention_scores(model, codes[1:2, :25], "rollout")
    assert torch.allclose(alone, attention_scores(model, codes, "rollout")[1:2, :25], atol=1e-5)


@pytest.mark.parametrize("name", ["cnn", "lstm", "transformer"])
def test_attributions_for_every_family(name):
    torch.manual_seed(0)
    model = build_model(name, 2, {}).eval()
    codes = torch.from_numpy(random_codes(np.random.default_rng(0), 2, 30))
    codes[1, 20:] = PAD
    for method in ("gradient", "ism"):
        values = scores.score_batch(model, codes, method, target=0)
        assert values.shape == (2, 30) and torch.isfinite(values).all() and (values[1, 20:] == 0).all()
    assert model.training is False


def test_ctcf_cnn_motif_matches_jaspar_ctcf(runner, trained_run, tmp_path):
    from memelite.io import read_meme

    out = tmp_path / "motifs"
    result = runner.invoke(app, ["motifs", str(trained_run), "--out", str(out), "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (out / "motifs.tsv").read_text().splitlines()]
    header, top = rows[0], dict(zip(rows[0], rows[1]))
    assert top["class"] == "bound" and top["best_match"].upper() == "CTCF" and float(top["match_q"]) < 0.05
    assert float(top["faithfulness"]) > 0.2 and float(top["class_with_site"]) > 0.5 > float(top["background_with_site"])
    assert top["method"] == "gradient_x_input" and float(top["q"]) < 1e-10
    parsed = read_meme(str(out / "motifs.meme"))
    assert len(parsed) == len(rows) - 1 and next(iter(parsed)).startswith(top["motif"])
    assert (out / "logos" / f"{top['motif']}.png").stat().st_size > 1000
    assert (out / "summary.html").exists() and (out / "sites.tsv").read_text().startswith("motif\tsequence")


def test_attention_on_a_cnn_falls_back_to_gradients_and_says_so(runner, trained_run, tmp_path):
    out = tmp_path / "motifs"
    result = runner.invoke(app, ["motifs", str(trained_run), "--out", str(out), "--quiet", "--threads", "1",
                                 "--method", "attention", "--no-compare", "--class", "bound", "--background", "shuffled"])
    assert result.exit_code == 0, result.output
    assert "no attention layers" in result.output
    assert "gradient_x_input" in (out / "motifs.tsv").read_text().splitlines()[1]


@pytest.mark.parametrize("extra, message", [
    (["--method", "magic"], "--method magic: valid values"),
    (["--class", "nope"], "--class nope: not one of the run's classes"),
    (["--motif-db", "missing.meme"], "missing.meme: no such motif file"),
    (["--background", "genome"], "--background genome: valid values"),
])
def test_bad_options_are_one_line_errors_and_leave_nothing(runner, trained_run, tmp_path, extra, message):
    out = tmp_path / "motifs"
    result = runner.invoke(app, ["motifs", str(trained_run), "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 1 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_run_and_fasta_are_one_line_errors(runner, trained_run, tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nACGT!!\n")
    for arguments, message in ([str(tmp_path / "norun")], "no such run folder"), \
                              ([str(trained_run), f"bound={bad}"], "bad.fa"):
        result = runner.invoke(app, ["motifs", *arguments, "--out", str(tmp_path / "o"), "--quiet"])
        assert result.exit_code == 1 and message in result.output, result.output
        assert not (tmp_path / "o").exists()
