"""The scripts under scripts/ (benchmarks, GPU check, motif recall) start: every library name they
import still exists, so a benchmark run does not die at its first line after a change of the
library's layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))
HELPERS = {  # imported by benchmark.py, no command line of their own
    "benchmark_data.py",
    "benchmark_tuned.py",
    "benchmark_folds.py",
}


@pytest.mark.parametrize(
    "script", [s for s in SCRIPTS if s.name not in HELPERS], ids=lambda s: s.name
)
def test_a_script_starts_and_explains_itself(script):
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "usage" in shown.stdout.lower()


def _compare_bpnet():
    """scripts/compare_bpnet.py as a module (its helpers need neither bpnet-lite nor dnanet's
    profile task)."""
    import importlib.util

    path = SCRIPTS[0].parent / "compare_bpnet.py"
    spec = importlib.util.spec_from_file_location("compare_bpnet", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_compare_bpnet_scores_perfect_shifted_and_empty_windows():
    compare = _compare_bpnet()
    rng = np.random.default_rng(0)
    positions = np.arange(200)
    centres = rng.integers(60, 140, size=40)
    rates = np.exp(-0.5 * ((positions - centres[:, None]) / 10.0) ** 2)[:, None, :]
    rates *= rng.uniform(0.5, 5.0, size=(40, 1, 1))
    observed = rng.poisson(rates * 10).astype(float)
    observed[0] = 0  # a window without reads: no profile to compare
    totals = observed.sum(axis=-1)
    exact = observed / np.maximum(totals, 1)[..., None]
    perfect = compare.score_predictions(
        observed, exact + (totals[..., None] == 0), np.log1p(totals)
    )
    assert perfect["count_pearson"] == pytest.approx(1) and perfect["count_spearman"] == 1
    assert perfect["profile_jsd"] == pytest.approx(0, abs=1e-6)
    assert perfect["profile_pearson"] == pytest.approx(1)
    assert perfect["n_test"] == 40 and perfect["n_profiles_scored"] == 39
    shifted = compare.score_predictions(observed, np.roll(rates, 40, axis=-1), -np.log1p(totals))
    assert shifted["count_pearson"] == pytest.approx(-1)
    assert 0.3 < shifted["profile_jsd"] <= 1 and shifted["profile_pearson"] < 0.2


def test_compare_bpnet_reads_dnanet_predictions_in_window_order(tmp_path):
    compare = _compare_bpnet()
    windows = [compare.Window("chr2", summit, f"p{summit}") for summit in (500, 1500, 2500)]
    ids = ["chr2:2400-2600", "chr2:400-600(+)", "chr2:1400-1600"]  # predict's rows, shuffled
    (tmp_path / "preds.tsv").write_text(
        "id\tpred_chip\n" + "".join(f"{i}\t{n}\n" for i, n in zip(ids, (30, 10, 20)))
    )
    profiles = np.ones((3, 240))
    profiles[:, 20:220] = np.arange(200) + np.array([[0], [1000], [2000]])
    np.savez(tmp_path / "preds.npz", ids=np.array(ids[::-1]), chip=profiles)
    probabilities, log_counts = compare.read_dnanet_predictions(
        tmp_path / "preds.tsv", tmp_path / "preds.npz", windows, window=200, width=200
    )
    assert probabilities.shape == (3, 1, 200) and log_counts.shape == (3, 1)
    np.testing.assert_allclose(log_counts[:, 0], np.log1p([10, 20, 30]))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1)
    # the npz's rows hold windows 1400, 400 and 2400 (its ids are the TSV's reversed)
    firsts = probabilities[:, 0, 0] * profiles[:, 20:220].sum(axis=-1)[[1, 0, 2]]
    np.testing.assert_allclose(firsts, [1000, 0, 2000])  # each window's first expected read


def test_compare_bpnet_keeps_windows_that_fit_with_their_jitter(tmp_path):
    compare = _compare_bpnet()
    (tmp_path / "g.fa").write_text(">chrA\n" + "ACGT" * 250 + "\n>chrB\n" + "ACGT" * 250 + "\n")
    peaks = [
        "chrA\t100\t300\tnear_start\t0\t.\t0\t-1\t-1\t50",  # summit 150: 150 - 100 - 64 < 0
        "chrA\t300\t500\tsummit\t0\t.\t0\t-1\t-1\t120",  # summit 420
        "chrB\t400\t600\tcentre",  # BED: the centre, 500
        "chrB\t700\t900\tnear_end\t0\t.\t0\t-1\t-1\t150",  # 850 + 164 > 1000
        "chrZ\t400\t600\tother_genome",
    ]
    (tmp_path / "p.narrowPeak").write_text("\n".join(peaks) + "\n")
    arguments = compare.parse_arguments(
        ["--window", "200", "--output-width", "100", "--jitter", "64"]
    )
    found = compare.read_windows(tmp_path / "p.narrowPeak", tmp_path / "g.fa", arguments)
    assert [(w.name, w.chrom, w.summit) for w in found] == [
        ("summit", "chrA", 420),
        ("centre", "chrB", 500),
    ]
    arguments = compare.parse_arguments(["--val-chroms", "chrC", "--test-chroms", "chrB"])
    with pytest.raises(SystemExit, match="no val windows"):
        compare.split_windows(found, arguments)


def test_compare_bpnet_explains_itself_without_bpnet_lite():
    """CI does not install bpnet-lite: --help must not import it (nor tangermeme)."""
    script = str(SCRIPTS[0].parent / "compare_bpnet.py")
    blocked = (
        "import runpy, sys; sys.modules['bpnetlite'] = sys.modules['tangermeme'] = None; "
        f"sys.argv = ['x', '--help']; runpy.run_path({script!r}, run_name='__main__')"
    )
    shown = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "--only {bpnet,dnanet}" in shown.stdout
