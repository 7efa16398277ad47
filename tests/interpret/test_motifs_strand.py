"""`dnanet motifs` on single-strand (RNA) data: a model trained on the forward strand only gets
its motifs in its own orientation with forward-strand sites, in RNA letters; --motif-db takes
the user's MEME file; summary.html shows each motif beside its best known motif."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from dnanet.cli import app
from dnanet.inputs.encode import sequences_to_codes
from dnanet.interpret.motifs import alphabet, cluster, enrich
from dnanet.interpret.motifs.compare import read_motif_file
from dnanet.interpret.motifs.write import consensus

PUM = (
    "TGTAHATA"  # PUM2's site UGUAHAUA (H: A, C or U) as DNA letters; not its own reverse complement
)


def read_tsv(path) -> list[dict]:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def write_rna_fasta(path, sequences: list[str]) -> None:
    path.write_text("".join(f">s{i}\n{s.replace('T', 'U')}\n" for i, s in enumerate(sequences)))


@pytest.fixture(scope="module")
def rna_set(tmp_path_factory) -> dict:
    """300 RNA sequences (U, no T) of 100 nt with one UGUAHAUA on the forward strand (class
    bound) and 300 without (class other)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("rna")
    paths = {}
    for name in ("bound", "other"):
        sequences = []
        for _ in range(300):
            bases = rng.choice(list("ACGT"), 100, p=[0.29, 0.21, 0.21, 0.29])
            if name == "bound":
                start = rng.integers(0, 92)
                bases[start : start + 8] = list(PUM.replace("H", rng.choice(list("ACT"))))
            sequences.append("".join(bases))
        paths[name] = folder / f"{name}.fa"
        write_rna_fasta(paths[name], sequences)
    return paths


@pytest.fixture(scope="module")
def rna_run(rna_set, tmp_path_factory):
    """A small CNN trained forward-strand only (reverse_complement: false) on `rna_set`."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("rna_run")
    config = folder / "cnn.yaml"
    config.write_text(
        "model: {name: cnn, channels: 32, layers: 2, hidden: 32}\n"
        "train: {reverse_complement: false}\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "train",
            *(f"{c}={p}" for c, p in rna_set.items()),
            "-c",
            str(config),
            "--out",
            str(folder / "run"),
            "--epochs",
            "10",
            "--batch-size",
            "30",
            "--quiet",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder / "run"


def meme_file(path, motifs: dict[str, np.ndarray], letters: str = "ACGU") -> None:
    """A MEME file of `motifs` ({"ID NAME": (4, W)})."""
    lines = ["MEME version 4", "", f"ALPHABET= {letters}", "", "strands: +", ""]
    for name, pwm in motifs.items():
        lines += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {pwm.shape[1]}"]
        lines += [" ".join(f"{v:.4f}" for v in column) for column in pwm.T] + [""]
    path.write_text("\n".join(lines))


@pytest.fixture(scope="module")
def rna_db(tmp_path_factory):
    """An RNA MEME file: PUM2's UGUAHAUA among 30 random motifs."""
    rng = np.random.default_rng(1)
    pum = np.full((4, 8), 0.02)
    for column, letter in enumerate(PUM):
        if letter == "H":
            pum[[0, 1, 3], column] = 0.32
        else:
            pum["ACGT".index(letter), column] = 0.94
    motifs = {"RBP_PUM2 PUM2": pum / pum.sum(0)}
    motifs.update(
        {
            f"RND{i} decoy{i}": rng.dirichlet(np.full(4, 0.4), rng.integers(6, 12)).T
            for i in range(30)
        }
    )
    path = tmp_path_factory.mktemp("db") / "rbp.meme"
    meme_file(path, motifs)
    return path


@pytest.mark.parametrize("motif", ["TGTACATA", "GCATTGCA"])
def test_forward_only_clustering_keeps_the_planted_orientation(motif):
    """Both-strand clustering reports these as their reverse complements (TATGTACA, TGCAATGC);
    forward-only clustering must not."""
    rng = np.random.default_rng(0)
    site = sequences_to_codes([motif.encode()])[0][0]
    regions, null = (
        rng.integers(0, 4, (300, 35)).astype(np.uint8),
        rng.integers(0, 4, (300, 35)).astype(np.uint8),
    )
    for row in range(200):
        start = rng.integers(0, 35 - 8)
        regions[row, start : start + 8] = site
    found = cluster.find_pwms(regions, null, max_motifs=2, min_seqlets=10, both_strands=False)
    assert consensus(found[0].pwm) == motif and found[0].seqlets >= 190


def test_forward_only_scan_reports_forward_sites_only():
    pwm = np.full((4, 8), 0.01)
    pwm[sequences_to_codes([b"TGTACATA"])[0][0], np.arange(8)] = 0.97
    codes = sequences_to_codes([b"AAAATGTACATAAAAA" + b"CCCTATGTACACCCCC"])[0]
    one_hot = (codes[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)
    both = enrich.scan(pwm, one_hot, np.array([32]), 1e-4)
    forward = enrich.scan(pwm, one_hot, np.array([32]), 1e-4, both_strands=False)
    assert sorted(both["strand"]) == ["+", "-"]
    assert list(forward["strand"]) == ["+"] and list(forward["start"]) == [4]


def test_input_letters_tell_rna_from_dna(tmp_path):
    write_rna_fasta(tmp_path / "rna.fa", ["ACGTTGCA", "GGTT"])
    (tmp_path / "dna.fa").write_text(">a\nACGTTGCA\n")
    (tmp_path / "sites.bed").write_text("chr1\t10\t20\n")
    assert alphabet.input_letters([tmp_path / "rna.fa"]) == "ACGU"
    assert alphabet.input_letters([tmp_path / "rna.fa", tmp_path / "sites.bed"]) == "ACGU"
    assert alphabet.input_letters([tmp_path / "rna.fa", tmp_path / "dna.fa"]) == "ACGT"
    assert consensus(np.eye(4)[[3, 2, 3, 0]].T, "ACGU") == "UGUA"


def test_rna_model_gets_forward_motifs_in_rna_letters_and_user_database(
    runner, rna_set, rna_run, rna_db, tmp_path
):
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        [
            "motifs",
            str(rna_run),
            *(f"{c}={p}" for c, p in rna_set.items()),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
            "--class",
            "bound",
            "--motif-db",
            str(rna_db),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "strands: forward only" in result.output and "JASPAR" not in result.output
    motifs = read_tsv(out / "motifs.tsv")
    assert motifs and all(re.fullmatch("UGUA[ACUHMWYN]AUA", m["consensus"]) for m in motifs), motifs
    top = motifs[0]
    assert float(top["q"]) < 1e-10 and top["best_match"] == "PUM2" and float(top["match_q"]) < 0.05
    assert len(top["top_matches"].split("; ")) == 3 and top["top_matches"].startswith(
        "PUM2 RBP_PUM2 q="
    )
    sites = read_tsv(out / "sites.tsv")
    # every motif is PUM (above), so its sites together hold half the 300 planted, or more
    assert len(sites) > 150 and {s["strand"] for s in sites} == {"+"}
    meme = (out / "motifs.meme").read_text()
    assert (
        "ALPHABET= ACGU" in meme
        and "strands: +\n" in meme
        and f"MOTIF {top['motif']} {top['consensus']}" in meme
    )
    assert "ALPHABET= ACGU" in (out / "baseline.meme").read_text()
    assert set(read_motif_file(out / "motifs.meme").motifs) == {
        f"{m['motif']} {m['consensus']}" for m in motifs
    }
    summary = (out / "summary.html").read_text()
    for m in motifs:
        assert (
            f'src="logos/{m["motif"]}.png"' in summary
            and f'src="logos/{m["motif"]}_match.png"' in summary
        )
        assert (out / "logos" / f"{m['motif']}_match.png").stat().st_size > 1000
    assert "PUM2 <small>RBP_PUM2</small>" in summary and "forward only" in summary


def test_rna_model_against_jaspar_says_jaspar_is_for_dna_binding_proteins(
    runner, rna_set, rna_run, tmp_path
):
    out = tmp_path / "motifs"
    result = runner.invoke(
        app,
        [
            "motifs",
            str(rna_run),
            *(f"{c}={p}" for c, p in rna_set.items()),
            "--out",
            str(out),
            "--quiet",
            "--threads",
            "1",
            "--class",
            "bound",
            "--no-baseline",
        ],
    )
    assert result.exit_code == 0, result.output
    note = [line for line in result.output.splitlines() if line.startswith("note: JASPAR CORE")]
    assert len(note) == 1 and "DNA-binding proteins" in note[0] and "--motif-db" in note[0]
    assert (
        "note: JASPAR CORE holds motifs of DNA-binding proteins"
        in (out / "summary.html").read_text()
    )
    assert re.fullmatch("UGUA.AUA", read_tsv(out / "motifs.tsv")[0]["consensus"])


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n"
            "0.1 0.2 0.7\n0.25 0.25 0.25 0.25\n",
            "line 5: expected 4 probabilities",
        ),
        (
            "MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n"
            "0.5 0.5 0.5 0.5\n",
            "MOTIF a: each matrix row must be 4 probabilities summing to 1",
        ),
        ("just some text\n", "no motifs found"),
    ],
)
def test_malformed_motif_db_is_a_one_line_error(runner, rna_run, tmp_path, text, message):
    bad = tmp_path / "bad.meme"
    bad.write_text(text)
    out = tmp_path / "motifs"
    result = runner.invoke(
        app, ["motifs", str(rna_run), "--out", str(out), "--quiet", "--motif-db", str(bad)]
    )
    assert result.exit_code == 1 and message in result.output and "bad.meme" in result.output, (
        result.output
    )
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_kernel_cache_check_sees_an_empty_cache(tmp_path):
    """`compiled` (behind the first-use note) is False with an empty numba cache."""
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    check = "from dnanet.interpret.motifs.kernels import compiled; print(compiled())"
    output = subprocess.run(
        [sys.executable, "-c", check], env=environment, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"
