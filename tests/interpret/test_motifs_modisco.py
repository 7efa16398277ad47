"""The TF-MoDISco engine of `dnanet motifs` (``--engine modisco|both``) on the planted CTCF set of
`test_motifs_job` (class ctcf: two JASPAR CTCF sites per sequence; class none: no motif) and the
small CNN trained on it: modisco's motif is the planted one by name, and ``both`` writes each
engine's motifs into the same files, told apart by motifs.tsv's engine column."""

from __future__ import annotations

import numpy as np
import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.interpret.motifs.job import find_motifs
from dnanet.interpret.motifs.modisco import pattern_pwm
from tests.interpret.test_motifs import read_tsv
from tests.interpret.test_motifs_job import planted  # noqa: F401 (the fixture)


@pytest.fixture(scope="module")
def both(planted, tmp_path_factory):  # noqa: F811
    """`find_motifs --engine both` for class ctcf, compared with JASPAR, without the baseline."""
    fastas, run = planted
    out = tmp_path_factory.mktemp("both") / "motifs"
    inputs = [f"{c}={p}" for c, p in fastas.items()]
    return find_motifs(
        run, inputs, out, engine="both", classes=["ctcf"], no_baseline=True, threads=1
    )


def test_modisco_recovers_the_planted_motif(both):
    modisco = [m for m in both.motifs if m.engine == "modisco"]
    assert modisco and modisco[0].id == "D1_ctcf", [m.id for m in both.motifs]
    top = modisco[0]
    assert top.match is not None and top.match.name.upper() == "CTCF" and top.q < 1e-10
    assert top.method == "modisco:saliency" and top.seqlets >= 50
    assert top.with_site_class > 0.5 * top.n_class > top.with_site_background
    assert 8 <= top.pwm.shape[1] <= 25  # trimmed to the informative columns, not the 25-bp pattern


def test_both_engines_write_their_rows_into_the_same_files(both):
    rows = read_tsv(both.out / "motifs.tsv")
    assert rows == both.rows()
    engines = {row["engine"] for row in rows}
    assert engines == {"own", "modisco"}
    for row in rows:
        assert row["motif"][0] == {"own": "M", "modisco": "D"}[row["engine"]]
        assert row["best_match"].upper() == "CTCF", row
    meme = (both.out / "motifs.meme").read_text()
    assert all(f"MOTIF {row['motif']} " in meme for row in rows)
    sources = [row["source"] for row in read_tsv(both.out / "classes.tsv")]
    assert sources == ["model", "modisco"]
    page = (both.out / "summary.html").read_text()
    assert "own engine" in page and "TF-MoDISco engine" in page
    assert all(f"logos/{row['motif']}.png" in page for row in rows)
    assert both.method == "gradient_x_input + modisco:saliency"


def test_pattern_pwm_is_the_seqlets_frequencies_trimmed_to_informative_columns():
    class Pattern:  # what pattern_pwm reads of a modiscolite SeqletSet: 40 seqlets' base sums
        _sequence_sum = np.full((12, 4), 10.0)  # (W, 4): uninformative flanks

    Pattern._sequence_sum[4:9] = 0
    Pattern._sequence_sum[np.arange(4, 9), [0, 2, 3, 1, 0]] = 40.0  # A G T C A, every seqlet
    pwm = pattern_pwm(Pattern)
    assert pwm.shape == (4, 7)  # the 5 informative columns, widened to 6+ (one flank each side)
    assert "".join("ACGT"[i] for i in pwm[:, 1:6].argmax(0)) == "AGTCA"
    assert np.allclose(pwm[:, 1:6].max(0), 40.5 / 42)  # a pseudocount of 0.5 per base
    assert np.allclose(pwm[:, [0, 6]], 0.25) and np.allclose(pwm.sum(0), 1.0)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--engine", "deep"], "error: --engine deep: valid values: own, modisco, both"),
        (["--engine", "modisco", "--attribution", "magic"], "error: --attribution magic: valid"),
    ],
)
def test_a_bad_engine_or_attribution_is_a_one_line_error(runner, tmp_path, option, message):
    out = tmp_path / "motifs"
    result = runner.invoke(app, ["motifs", str(tmp_path), "--out", str(out), *option])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert not out.exists()


def test_a_bad_engine_from_python_is_an_error(tmp_path):
    with pytest.raises(DnanetError, match="--engine deep"):
        find_motifs(tmp_path, None, tmp_path / "motifs", engine="deep")
