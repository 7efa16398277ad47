"""dnanet.interpret.motifs and `dnanet motifs`: scores, shuffles, clustering, and the command end to
end on a CNN trained on the bundled CTCF example (the session's `trained_run`)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from dnanet.cli import app
from dnanet.inputs import shuffle
from dnanet.inputs.encode import PAD, sequences_to_codes
from dnanet.interpret.motifs import cluster, scores
from dnanet.interpret.motifs.attention import attention_scores
from dnanet.interpret.motifs.write import consensus
from dnanet.models import build_model


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


def test_planted_motif_on_either_strand_is_recovered_as_one_pwm():
    rng = np.random.default_rng(0)
    motif_codes = sequences_to_codes([b"TTGACCTAGCA"])[0][0]
    regions, null = random_codes(rng, 300, 35), random_codes(rng, 300, 35)
    for row in range(200):
        site = motif_codes if row % 2 else cluster.reverse_complement_codes(motif_codes)
        start = rng.integers(0, 35 - len(site))
        regions[row, start : start + len(site)] = site
    found = cluster.find_pwms(regions, null, max_motifs=3, min_seqlets=10)
    assert found and found[0].seqlets >= 180
    best = consensus(found[0].pwm)
    assert "TTGACCTAGCA" in best or "TGCTAGGTCAA" in best


def test_a_long_motif_found_in_pieces_is_one_candidate_not_eight(monkeypatch):
    """Seqlets holding CTCF sites drawn from JASPAR's matrix (19 bases, either strand) leave
    seqlets the first PWM misses; their k-mers once seeded one piece of CTCF after another, and
    the 8 candidates were 8 copies of it. Pieces now join the motif found first, so the planted
    second motif (GATA) gets a candidate of its own."""
    from dnanet.interpret.motifs.compare import jaspar_motifs

    known = jaspar_motifs()
    ctcf = next(pwm for name, pwm in known.items() if name.endswith(" CTCF"))
    rng = np.random.default_rng(3)
    regions, null = random_codes(rng, 600, 40), random_codes(rng, 600, 40)
    for row in range(600):
        if row % 3 == 2:
            site = sequences_to_codes([b"AGATAAGA"])[0][0]
        else:
            site = np.array([rng.choice(4, p=column / column.sum()) for column in ctcf.T])
        site = site if rng.random() < 0.5 else cluster.reverse_complement_codes(site)
        start = rng.integers(0, 40 - len(site))
        regions[row, start : start + len(site)] = site

    def copies(found) -> int:
        return sum(cluster.same_motif(m.pwm, [ctcf], True) is not None for m in found)

    found = cluster.find_pwms(regions, null, max_motifs=8, min_seqlets=10)
    assert copies(found) == 1 and any(
        "GATAA" in consensus(m.pwm) or "TTATC" in consensus(m.pwm) for m in found
    )
    monkeypatch.setattr(cluster, "SAME_MOTIF_P", 0.0)  # as before: every piece a candidate
    before = cluster.find_pwms(regions, null, max_motifs=8, min_seqlets=10)
    monkeypatch.undo()
    assert copies(before) > 1


@pytest.mark.parametrize("encoder", ["onehot", "kmer"])
def test_attention_scores_shape_masking_and_windows(encoder):
    torch.manual_seed(0)
    model = build_model(
        "transformer",
        2,
        {
            "encoder": encoder,
            "k": 3,
            "d_model": 32,
            "heads": 2,
            "ff_dim": 32,
            "max_len": 8,
            "overlap": 2,
            "stem_pool": 2,
        },
    ).eval()
    codes = torch.from_numpy(random_codes(np.random.default_rng(0), 3, 40))
    codes[1, 25:] = PAD  # a shorter sequence; 40 bases = 20 tokens = several windows of 8
    for aggregation in ("rollout", "cls", "mean"):
        values = attention_scores(model, codes, aggregation)
        assert values.shape == (3, 40)
        assert (
            torch.isfinite(values).all() and (values[1, 25:] == 0).all() and (values[0] > 0).all()
        )
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
        assert (
            values.shape == (2, 30) and torch.isfinite(values).all() and (values[1, 20:] == 0).all()
        )
    assert model.training is False


def test_ctcf_cnn_motif_matches_jaspar_ctcf(runner, trained_run, tmp_path):
    from memelite.io import read_meme

    out = tmp_path / "motifs"
    result = runner.invoke(
        app, ["motifs", str(trained_run), "--out", str(out), "--quiet", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (out / "motifs.tsv").read_text().splitlines()]
    top = dict(zip(rows[0], rows[1]))
    assert (
        top["class"] == "bound"
        and top["best_match"].upper() == "CTCF"
        and float(top["match_q"]) < 0.05
        and "More than 3 adjacent zinc fingers" in top["best_match_family"]
    )
    assert float(top["faithfulness"]) > 0.2 and float(top["class_with_site"]) > 0.5 > float(
        top["background_with_site"]
    )
    assert top["method"] == "gradient_x_input" and float(top["q"]) < 1e-10
    parsed = read_meme(str(out / "motifs.meme"))
    assert len(parsed) == len(rows) - 1 and next(iter(parsed)).startswith(top["motif"])
    assert (out / "logos" / f"{top['motif']}.png").stat().st_size > 1000
    assert (out / "summary.html").exists() and (out / "sites.tsv").read_text().startswith(
        "motif\tsequence"
    )


def test_attention_on_a_cnn_falls_back_to_gradients_and_says_so(runner, trained_run, tmp_path):
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        [
            "motifs",
            str(trained_run),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
            "--method",
            "attention",
            "--no-compare",
            "--class",
            "bound",
            "--background",
            "shuffled",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no attention layers" in result.output
    assert "gradient_x_input" in (out / "motifs.tsv").read_text().splitlines()[1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "magic"], "--method magic: valid values"),
        (["--class", "nope"], "--class nope: not one of the run's classes"),
        (["--motif-db", "missing.meme"], "missing.meme: no such motif file"),
        (["--background", "genome"], "--background genome: valid values"),
    ],
)
def test_bad_options_are_one_line_errors_and_leave_nothing(
    runner, trained_run, tmp_path, extra, message
):
    out = tmp_path / "motifs"
    result = runner.invoke(app, ["motifs", str(trained_run), "--out", str(out), "--quiet", *extra])
    assert (
        result.exit_code == 1
        and message in result.output
        and len(result.output.strip().splitlines()) == 1
    )
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_run_and_fasta_are_one_line_errors(runner, trained_run, tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nACGT!!\n")
    for arguments, message in (
        ([str(tmp_path / "norun")], "no such run folder"),
        ([str(trained_run), f"bound={bad}"], "bad.fa"),
    ):
        result = runner.invoke(app, ["motifs", *arguments, "--out", str(tmp_path / "o"), "--quiet"])
        assert result.exit_code == 1 and message in result.output, result.output
        assert not (tmp_path / "o").exists()


def test_class_weighted_attention_keeps_only_what_argues_for_the_class():
    attention = torch.ones(1, 9)
    gradient = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0, 0.0, -3.0, -3.0, 0.0]])
    weighted = scores.class_weighted_attention(attention, gradient, window=3)
    assert torch.allclose(weighted, torch.tensor([[0.0, 1.0, 2.0, 3.0, 2.0, 0.0, 0.0, 0.0, 0.0]]))


# Planted data sets: the truth is known, so each method must recover it.
PLANTED = {"ctcf": "MA0139", "rest": "MA0138"}  # JASPAR CTCF and REST: distinct, ~20 bits each


@pytest.fixture(scope="module")
def planted_binary(tmp_path_factory) -> dict:
    """A binary planted set: class ctcf carries two CTCF sites per sequence, class rest two REST
    sites."""
    from dnanet.synthetic.planted import jaspar_pwm, planted_set

    folder = tmp_path_factory.mktemp("planted_binary")
    pwms = {name: jaspar_pwm(matrix)[1] for name, matrix in PLANTED.items()}
    return planted_set(pwms, 400, sites=2, none_class=False, seed=0).write_fasta(folder)


def train_tiny(runner, fastas: dict, folder, model: str, epochs: int):
    """A small model (a few seconds on one thread) trained on `fastas` ({class: path})."""
    config = folder.parent / f"{model}.yaml"
    config.write_text(
        {
            "cnn": "model: {name: cnn, channels: 32, layers: 2, hidden: 32}\n",
            "transformer": (
                "model: {name: transformer, d_model: 32, heads: 2, layers: 1, ff_dim: 64}\n"
                "train: {lr: 0.002}\n"
            ),
        }[model]
    )
    result = runner.invoke(
        app,
        [
            "train",
            *(f"{c}={p}" for c, p in fastas.items()),
            "-c",
            str(config),
            "--out",
            str(folder),
            "--epochs",
            str(epochs),
            "--batch-size",
            "30",
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder


def read_tsv(path) -> list[dict]:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    return [dict(zip(rows[0], row)) for row in rows[1:]]


@pytest.mark.parametrize(
    "model, method", [("cnn", "gradient_x_input"), ("transformer", "attention:rollout*gradient")]
)
def test_binary_planted_set_gets_each_class_motif(runner, planted_binary, tmp_path, model, method):
    run = train_tiny(runner, planted_binary, tmp_path / "run", model, epochs=12)
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        [
            "motifs",
            str(run),
            *(f"{c}={p}" for c, p in planted_binary.items()),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    motifs, baseline = read_tsv(out / "motifs.tsv"), read_tsv(out / "baseline.tsv")
    for class_name in PLANTED:
        own = [m for m in motifs if m["class"] == class_name]
        assert own and own[0]["method"] == method and float(own[0]["q"]) < 1e-10, (
            class_name,
            motifs,
        )
        planted_name = class_name.upper()
        base = [m for m in baseline if m["class"] == class_name]
        assert (
            own[0]["best_match"].upper() == planted_name
            or base[0]["best_match"].upper() == planted_name
        )
    assert motifs[0]["best_match"].upper() in {"CTCF", "REST"}
    lines = [line for line in result.output.splitlines() if line.startswith("model ")]
    assert len(lines) == 2 and all("sequences with a seqlet" in line for line in lines)


def test_baseline_finds_planted_motifs_without_a_model(planted_binary):
    from dnanet.data.labelled import read_labelled_inputs
    from dnanet.data.sets import SequenceSet
    from dnanet.interpret.motifs.baseline import discover_baseline
    from dnanet.interpret.motifs.compare import jaspar_motifs
    from dnanet.interpret.motifs.pipeline import MotifOptions, with_background

    names = list(planted_binary)
    records = read_labelled_inputs(
        [f"{c}={p}" for c, p in planted_binary.items()], None, "id", ["label"], None
    )
    targets = np.array([names.index(label[0]) for label in records.labels])
    pool = with_background(
        SequenceSet(list(records.ids), records.flat, records.offsets, targets), MotifOptions()
    )
    found, reports = discover_baseline(names, pool, MotifOptions(), jaspar_motifs())
    for class_name in names:
        top = next(m for m in found if m.class_name == class_name)
        assert (
            top.match.name.upper() == class_name.upper()
            and top.q < 1e-10
            and top.id.startswith("B")
        )
        assert (
            top.with_site_class > 0.8 * top.n_class
            and top.with_site_background < 0.2 * top.n_background
        )
    assert [r.class_name for r in reports] == names and all(
        r.motifs >= 1 and r.source == "baseline" for r in reports
    )


def test_classes_tsv_explains_an_empty_class(runner, tmp_path):
    from dnanet.synthetic.planted import jaspar_pwm, planted_set

    fastas = planted_set(
        {"ctcf": jaspar_pwm("MA0139")[1]}, 300, none_class=True, seed=1
    ).write_fasta(tmp_path / "fa")
    run = train_tiny(runner, fastas, tmp_path / "run", "cnn", epochs=12)
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        [
            "motifs",
            str(run),
            *(f"{c}={p}" for c, p in fastas.items()),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
            "--no-compare",
        ],
    )
    assert result.exit_code == 0, result.output
    reports = {(r["source"], r["class"]): r for r in read_tsv(out / "classes.tsv")}
    assert set(reports) == {(s, c) for s in ("model", "baseline") for c in ("none", "ctcf")}
    assert (
        int(reports["model", "ctcf"]["motifs"]) >= 1
        and int(reports["baseline", "ctcf"]["motifs"]) >= 1
    )
    for source in (
        "model",
        "baseline",
    ):  # the motif-free class: nothing kept, and the reason says why
        empty = reports[source, "none"]
        assert empty["motifs"] == "0" and int(empty["sequences"]) == 300, empty
        if int(empty["candidate_pwms"]) == 0:  # none found: the search says where it stopped
            assert empty["clustering_stopped"] in (
                "too_few_seqlets",
                "no_enriched_kmer",
                "too_few_sites",
            )
        else:  # found but dropped: every candidate is accounted for
            dropped = int(empty["dropped_not_enriched"]) + int(empty["dropped_same_sites"])
            assert dropped == int(empty["candidate_pwms"]) and "dropped" in empty["explanation"]
        assert f"{source} none: " in result.output and empty["explanation"] in " ".join(
            result.output.split()
        )
    assert "Classes: seqlets, candidate PWMs, dropped motifs" in (out / "summary.html").read_text()
    assert all(row["class"] == "ctcf" for row in read_tsv(out / "motifs.tsv"))


def test_a_run_that_did_not_learn_is_flagged_and_still_gets_the_baseline(
    runner, trained_run, tmp_path
):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    description = json.loads((run / "model.json").read_text())
    description.update(
        learned=False, learning={"learned": False, "message": "validation loss 0.69 is chance"}
    )
    (run / "model.json").write_text(json.dumps(description))
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        [
            "motifs",
            str(run),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
            "--no-compare",
            "--class",
            "bound",
        ],
    )
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "did not learn: validation loss 0.69 is chance" in warning[0]
    summary = (out / "summary.html").read_text()
    assert "did not learn: validation loss 0.69 is chance" in summary and "Baseline" in summary
    assert (
        read_tsv(out / "baseline.tsv")[0]["class"] == "bound" and (out / "baseline.meme").exists()
    )
    result = runner.invoke(
        app,
        [
            "motifs",
            str(trained_run),
            "--out",
            str(tmp_path / "o2"),
            "--quiet",
            "--threads",
            "1",
            "--no-compare",
            "--class",
            "bound",
            "--no-baseline",
        ],
    )
    assert (
        result.exit_code == 0
        and "warning" not in result.output
        and not (tmp_path / "o2" / "baseline.tsv").exists()
    )


def test_best_families_names_every_family_tied_with_the_best_match_on_q():
    """An E-box that TomTom matches to BHLHE41 and USF2 at the same q names both families; a
    match with a worse q does not count."""
    from dnanet.interpret.motifs.compare import Match, best_families, jaspar_database

    families = jaspar_database().families
    assert families["MA0139.2"] == "More than 3 adjacent zinc fingers"
    assert families["MA0093.4"] == "bHLH-ZIP" and families["MA0636.1"] == "Hairy-related factors"
    matches = [
        Match("MA0636.1", "BHLHE41", 1e-9, 6e-7, family=families["MA0636.1"]),
        Match("MA0526.5", "USF2", 2e-9, 6e-7, family=families["MA0526.5"]),
        Match("MA0831.3", "TFE3", 5e-9, 1e-6, family="bHLH-ZIP-like (worse q)"),
    ]
    assert best_families(matches) == "Hairy-related factors; bHLH-ZIP"
    assert best_families(matches[1:]) == "bHLH-ZIP" and best_families([]) == ""
