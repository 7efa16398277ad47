"""`dnanet marginalize` and `dnanet design` on a CNN trained on planted CTCF sites: the CTCF motif's
inserted effect against what the planted data's Bayes-optimal classifier implies, a foreign motif's
small effect, the cooperativity table's arithmetic, design raising the target step by step and
writing CTCF sites that FIMO finds, and one-line errors that leave nothing behind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.inputs.encode import BASE_LETTERS, sequences_to_codes
from dnanet.inputs.read import read_fasta

runner = CliRunner()


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """500 records of 100 bp with one CTCF site each (class ctcf, the positive class) and 500
    without, and a small CNN trained on them averaging both strands (about 15 s on one thread)."""
    from dnanet.synthetic.planted import jaspar_pwm, planted_set

    folder = tmp_path_factory.mktemp("planted_design")
    fastas = planted_set({"ctcf": jaspar_pwm("MA0139")[1]}, 500, length=100, seed=0).write_fasta(
        folder / "fa"
    )
    config = folder / "cnn.yaml"
    config.write_text(
        "model: {name: cnn, channels: 32, layers: 2, hidden: 32}\n"
        "train: {reverse_complement: true}\n"
    )
    result = invoke(
        "train",
        f"ctcf={fastas['ctcf']}",
        f"none={fastas['none']}",
        "-c",
        config,
        "--out",
        folder / "run",
        "--epochs",
        20,
        "--batch-size",
        30,
    )
    assert result.exit_code == 0, result.output
    return {"run": folder / "run", **fastas}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args] + ["--quiet", "--threads", "1"])


def as_bytes(codes: np.ndarray) -> list[bytes]:
    return ["".join(BASE_LETTERS[row]).encode() for row in codes]


def calibration_slope(run, fastas) -> float:
    """The model's log-odds against the Bayes-optimal log-odds on the planted records: the least
    squares slope (a classifier trained with cross-entropy is a shrunk copy of Bayes: 0.41 seen)."""
    from dnanet.interpret.grammar.output_scores import OutputScorer
    from dnanet.synthetic.planted import jaspar_pwm, site_likelihood_ratios

    sequences = [r.sequence for path in fastas for r in read_fasta(path)]
    model = OutputScorer.of_run(run)(*sequences_to_codes(sequences))[:, 0]
    bayes = np.log(site_likelihood_ratios(sequences, jaspar_pwm("MA0139")[1]))
    assert np.corrcoef(bayes, model)[0, 1] > 0.9
    return float(np.polyfit(bayes, model, 1)[0])


def test_ctcf_inserted_moves_the_log_odds_as_bayes_implies_and_a_foreign_motif_does_not(
    planted, tmp_path
):
    """Measured: CTCF +7.20 log-odds against 0.41 x the Bayes shift 19.3 = 7.95; REST +0.56."""
    from dnanet.interpret.grammar.marginalize_workflow import Backgrounds
    from dnanet.runs.load import load_run
    from dnanet.synthetic.planted import jaspar_pwm, site_likelihood_ratios

    run = load_run(planted["run"])
    effects = {}
    for motif in ("MA0139.2", "MA0138"):
        out = tmp_path / motif
        result = invoke(
            "marginalize", planted["run"], "--motif", motif, "--fasta", planted["none"],
            "--n", 200, "--seed", 1, "--strand", "both", "--out", out,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        table = pd.read_csv(out / "effects.tsv", sep="\t")
        assert list(table.columns) == ["motif", "position", "strand", "output", "mean", "sd", "n"]
        assert (out / "effects.png").stat().st_size > 0
        effects[motif] = table[table["output"] == "ctcf"].set_index("strand")
    ctcf = effects["MA0139.2"]
    # the same backgrounds the command made, with the consensus where it put it
    codes, lengths, _ = Backgrounds((planted["none"],), 200, seed=1).make(run)
    pwm = jaspar_pwm("MA0139")[1]
    start = int(ctcf.loc["+", "position"])
    inserted = codes.copy()
    inserted[:, start : start + 15] = pwm.argmax(0)
    bayes_shift = np.mean(
        np.log(site_likelihood_ratios(as_bytes(inserted), pwm))
        - np.log(site_likelihood_ratios(as_bytes(codes), pwm))
    )
    expected = calibration_slope(run, [planted["ctcf"], planted["none"]]) * bayes_shift
    assert abs(ctcf.loc["+", "mean"] - expected) < 0.25 * expected, (ctcf, expected)
    assert abs(ctcf.loc["-", "mean"] - ctcf.loc["+", "mean"]) < 0.15 * expected  # strand-averaged
    assert abs(effects["MA0138"]["mean"]).max() < 0.15 * ctcf.loc["+", "mean"]


def test_cooperativity_rows_are_both_minus_each_alone(planted, tmp_path):
    out = tmp_path / "pair"
    result = invoke(
        "marginalize", planted["run"], "--motif", "CCACCAGGGGGCGC", "--second-motif", "MA0139",
        "--spacing", "0:3", "--orientation", "opposite", "--length", 100, "--n", 20, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "cooperativity.tsv", sep="\t")
    assert sorted(set(table["spacing"])) == [0, 1, 2, 3] and len(table) == 8
    assert set(table["second_strand"]) == {"-"}
    combined = table["both"] - table["first"] - table["second"]
    assert np.allclose(table["interaction"], combined, atol=1e-4)
    # one planted site decides the class: a second one adds less than it alone
    ctcf = table[table["output"] == "ctcf"]
    assert (ctcf["interaction"] < 0).all() and (ctcf["both"] > ctcf["first"]).all()
    assert (out / "cooperativity.png").stat().st_size > 0


def test_design_raises_the_target_each_step_and_writes_ctcf_sites(planted, tmp_path):
    """Measured (seed 3, 8 starts, 15 steps): log-odds -2.5 -> +8.3; CTCF (MA0139.2) sites in
    8/8 designed and 0/8 start sequences."""
    out = tmp_path / "designed"
    result = invoke(
        "design", planted["run"], "--target", "ctcf", "--n", 8, "--length", 100, "--steps", 15,
        "--seed", 3, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trajectory = pd.read_csv(out / "trajectory.tsv", sep="\t")
    for _, rows in trajectory.groupby("id"):
        assert (np.diff(rows["score_ctcf"]) > 0).all()
        assert rows["score_ctcf"].iloc[-1] - rows["score_ctcf"].iloc[0] > 4
    # the designed sequences are the start sequences with exactly the listed substitutions
    starts = {r.id: bytearray(r.sequence) for r in read_fasta(out / "start.fa")}
    for row in trajectory[trajectory["step"] > 0].itertuples():
        old, new = row.change.split(">")
        assert chr(starts[row.id][row.position]) == old
        starts[row.id][row.position] = ord(new)
    assert {r.id: bytes(r.sequence) for r in read_fasta(out / "designed.fa")} == {
        key: bytes(value) for key, value in starts.items()
    }
    motifs = pd.read_csv(out / "motifs.tsv", sep="\t")
    ctcf = motifs[motifs["motif"] == "MA0139.2"].iloc[0]
    assert ctcf["designed"] >= 6 and ctcf["start"] <= 1 and motifs.index[0] == ctcf.name
    assert "MA0139.2 CTCF" in result.stderr


def test_held_outputs_cost_only_their_rise():
    from dnanet.interpret.grammar.design import Goal

    goal = Goal(target=0, held=(1,), hold_weight=2.0)
    values = np.array([[3.0, 1.5], [3.0, 0.5], [2.0, 1.0]])
    assert goal.objective(values, np.array([0.0, 1.0])).tolist() == [2.0, 3.0, 2.0]


@pytest.mark.parametrize(
    "command, message",
    [
        (["marginalize", "--motif", "MA9999.1"], "no JASPAR matrix 'MA9999.1'"),
        (["marginalize", "--motif", "CCAXGG"], "consensus of A C G T (found X)"),
        (["marginalize", "--motif", "ACGT", "--second-motif", "GG", "--spacing", "9:2"], "9:2"),
        (["marginalize", "--motif", "ACGT", "--second-motif", "GG", "--spacing", "x"], "A:B"),
        (["marginalize", "--motif", "ACGT", "--position", 98, "--length", 100], "do not fit"),
        (["design", "--hold-down", "ctcf,nope"], "--hold-down ctcf: the --target itself"),
        (["design", "--target", "nope"], "--target nope"),
    ],
)
def test_bad_input_is_one_line_errors_and_leaves_nothing(planted, tmp_path, command, message):
    out = tmp_path / "out"
    result = invoke(command[0], planted["run"], *command[1:], "--out", out)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
