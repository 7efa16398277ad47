"""`dnanet.interpret.motifs.job.find_motifs`, the library call behind `dnanet motifs`, on a planted
set (class ctcf: two JASPAR CTCF sites per sequence; class none: no motif) and a small CNN trained
on it: it recovers the planted motif, writes what the command writes, tells its notes through the
reporter, and takes a loaded run and sequences held in memory as the notebook API hands them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dnanet.cli import app
from dnanet.errors import DnanetError
from dnanet.inputs.read import read_fasta
from dnanet.inputs.sources import LabelledInput, SequencesSource
from dnanet.interpret.motifs.job import find_motifs
from dnanet.interpret.motifs.write import consensus
from dnanet.progress import Reporter
from dnanet.runs.load import load_run
from tests.interpret.test_motifs import read_tsv, train_tiny

OUTPUTS = ("motifs.tsv", "motifs.meme", "sites.tsv", "classes.tsv", "baseline.tsv", "baseline.meme")


@pytest.fixture(scope="module")
def planted(runner, tmp_path_factory) -> tuple[dict, object]:
    """The planted FASTA files ({class: path}) and a CNN run trained on them (12 epochs)."""
    from dnanet.synthetic.planted import jaspar_pwm, planted_set

    folder = tmp_path_factory.mktemp("planted_job")
    fastas = planted_set(
        {"ctcf": jaspar_pwm("MA0139")[1]}, 300, sites=2, none_class=True, seed=2
    ).write_fasta(folder / "fa")
    return fastas, train_tiny(runner, fastas, folder / "run", "cnn", epochs=12)


@pytest.fixture(scope="module")
def outcome(planted, tmp_path_factory):
    """`find_motifs` with the command's defaults (JASPAR, the baseline) on the planted files."""
    fastas, run = planted
    out = tmp_path_factory.mktemp("job") / "motifs"
    return find_motifs(run, [f"{c}={p}" for c, p in fastas.items()], out, threads=1)


def test_the_planted_motif_is_recovered_and_named(outcome):
    ctcf = [m for m in outcome.motifs if m.class_name == "ctcf"]
    assert ctcf and ctcf[0] is outcome.motifs[0], [m.id for m in outcome.motifs]
    top = ctcf[0]
    assert top.match is not None and top.match.name.upper() == "CTCF" and top.q < 1e-10
    assert (
        top.with_site_class > 0.5 * top.n_class
        and top.with_site_background < 0.5 * top.n_background
    )
    assert outcome.method == "gradient_x_input" and outcome.letters == "ACGT"
    assert not [m for m in outcome.motifs if m.class_name == "none"]
    assert outcome.baseline and outcome.baseline[0].class_name == "ctcf"
    reports = {(r.source, r.class_name): r for r in outcome.reports}
    assert set(reports) == {(s, c) for s in ("model", "baseline") for c in ("none", "ctcf")}
    assert reports["model", "ctcf"].motifs == len(ctcf) and reports["model", "none"].motifs == 0


def test_the_outcome_is_what_the_folder_holds(outcome):
    assert outcome.rows() == read_tsv(outcome.out / "motifs.tsv")
    written = sorted(path for path in outcome.out.rglob("*") if path.is_file())
    assert outcome.files == written
    assert {path.name for path in written} >= {*OUTPUTS, "summary.html"}
    assert (outcome.out / "logos" / f"{outcome.motifs[0].id}.png") in written
    assert not [p for p in outcome.out.parent.iterdir() if p.name.startswith(".")]
    lines = outcome.lines()
    assert lines[: len(outcome.reports)] == [report.line() for report in outcome.reports]
    assert lines[-1].startswith(f"{len(outcome.motifs)} motifs (gradient_x_input) written to ")
    assert f"top: {outcome.motifs[0].id} {consensus(outcome.motifs[0].pwm)} ~ CTCF" in lines[-1]


def test_the_command_writes_the_same_files_and_prints_the_outcome(
    runner, planted, outcome, tmp_path
):
    fastas, run = planted
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        ["motifs", str(run), *(f"{c}={p}" for c, p in fastas.items())]
        + ["--out", str(out), "--quiet", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == sorted(
        p.relative_to(outcome.out) for p in outcome.files
    )
    for name in OUTPUTS:
        assert (out / name).read_text() == (outcome.out / name).read_text(), name
    printed = [" ".join(line.split()) for line in result.output.splitlines()]
    for line in outcome.lines()[:-1]:  # the last one holds the seconds taken
        assert " ".join(line.split()) in printed


def test_a_loaded_run_and_sequences_in_memory_with_the_notes_on_the_reporter(
    planted, outcome, tmp_path
):
    """What the notebook API hands in: a loaded run, and each class's sequences held in memory.
    The run says it did not learn: the warning is told, kept in the notes and in summary.html."""
    fastas, run = planted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    description = json.loads((copy / "model.json").read_text())
    description.update(learned=False, learning={"learned": False, "message": "loss is chance"})
    (copy / "model.json").write_text(json.dumps(description))
    inputs = [
        LabelledInput(
            name,
            Path(f"<{name}>"),
            SequencesSource({r.id: r.sequence.decode() for r in read_fasta(path)}),
        )
        for name, path in fastas.items()
    ]
    reporter = Reporter()
    found = find_motifs(
        load_run(copy),
        inputs,
        tmp_path / "motifs",
        classes=["ctcf"],
        no_compare=True,
        no_baseline=True,
        reporter=reporter,
    )
    warning = reporter.texts("warning")
    assert len(warning) == 1 and "did not learn: loss is chance" in warning[0]
    assert warning[0].endswith("; motifs from its scores are not meaningful")
    assert found.notes == reporter.texts() and warning[0] in found.notes
    assert warning[0] in (tmp_path / "motifs" / "summary.html").read_text()
    assert found.baseline is None and not (tmp_path / "motifs" / "baseline.tsv").exists()
    assert found.motifs and all(m.class_name == "ctcf" and m.match is None for m in found.motifs)
    assert consensus(found.motifs[0].pwm) == consensus(outcome.motifs[0].pwm)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "magic"}, "--method magic: valid values: auto, gradient, ism, attention"),
        ({"classes": ["nope"]}, "--class nope: not one of the run's classes: "),
    ],
)
def test_bad_options_are_errors_that_leave_nothing(planted, tmp_path, options, message):
    _, run = planted
    with pytest.raises(DnanetError, match=message):
        find_motifs(run, None, tmp_path / "motifs", **options)
    assert list(tmp_path.iterdir()) == []
