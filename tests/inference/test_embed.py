"""`dnanet embed`: ids and order, formats that agree, determinism, batch-size invariance, and
embeddings that carry the signal (a linear probe separates CTCF-bound from background)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from dnanet.cli import app
from dnanet.examples import example_path

HELDOUT = [
    f"bound={example_path('heldout_bound.fa')}",
    f"background={example_path('heldout_background.fa')}",
]


def fasta_ids(path):
    return [line[1:].split()[0] for line in open(path) if line.startswith(">")]


EXPECTED_IDS = fasta_ids(example_path("heldout_bound.fa")) + fasta_ids(
    example_path("heldout_background.fa")
)


def embed(runner, run, out, *extra):
    result = runner.invoke(app, ["embed", str(run), *HELDOUT, "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return out


def test_formats_agree_and_keep_input_order(runner, trained_run, tmp_path):
    parquet = pd.read_parquet(embed(runner, trained_run, tmp_path / "e.parquet"))
    vectors = np.load(embed(runner, trained_run, tmp_path / "e.npy"))
    ids = (tmp_path / "e.ids.txt").read_text().split("\n")[:-1]
    tsv = pd.read_csv(embed(runner, trained_run, tmp_path / "e.tsv"), sep="\t")
    assert parquet["id"].tolist() == ids == tsv["id"].tolist() == EXPECTED_IDS
    assert vectors.dtype == np.float32 and vectors.shape == (150, 128)
    assert list(parquet.columns) == ["id", "class", *[f"dim_{i}" for i in range(128)]]
    classes = ["bound"] * 75 + ["background"] * 75  # each record's input file's class
    assert parquet["class"].tolist() == tsv["class"].tolist() == classes
    np.testing.assert_array_equal(parquet.iloc[:, 2:].to_numpy(), vectors)
    np.testing.assert_allclose(tsv.iloc[:, 2:].to_numpy(), vectors, rtol=1e-6, atol=1e-6)


def test_vectors_are_deterministic_and_batch_size_invariant(runner, trained_run, tmp_path):
    first = np.load(embed(runner, trained_run, tmp_path / "a.npy", "--batch-size", "256"))
    again = np.load(embed(runner, trained_run, tmp_path / "b.npy", "--batch-size", "256"))
    single = np.load(embed(runner, trained_run, tmp_path / "c.npy", "--batch-size", "1"))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(single, first, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "extra", [[], ["--layer", "tokens", "--pool", "max"], ["--layer", "tokens"]]
)
def test_a_linear_probe_on_heldout_embeddings_separates_bound_from_background(
    runner, trained_run, tmp_path, extra
):
    vectors = np.load(embed(runner, trained_run, tmp_path / "e.npy", *extra))
    labels = np.array([1] * 75 + [0] * 75)
    scores = cross_val_predict(
        LogisticRegression(max_iter=2000), vectors, labels, cv=5, method="predict_proba"
    )[:, 1]
    assert roc_auc_score(labels, scores) >= 0.9


def test_plot_is_a_png(runner, trained_run, tmp_path):
    plot = tmp_path / "pca.png"
    embed(runner, trained_run, tmp_path / "e.parquet", "--plot", str(plot))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--pool", "max"], "--pool applies to --layer tokens"),
        (
            ["--layer", "tokens", "--pool", "cls"],
            "--pool cls needs a transformer trained with 'pooling: cls'",
        ),
        (["--layer", "attention"], "unknown --layer 'attention'; valid: embedding, tokens"),
    ],
)
def test_bad_representations_are_one_line_errors(runner, trained_run, tmp_path, extra, message):
    out = tmp_path / "e.npy"
    result = runner.invoke(app, ["embed", str(trained_run), *HELDOUT, "--out", str(out), *extra])
    assert result.exit_code == 1 and message in result.output and not out.exists()
    assert not (tmp_path / "e.ids.txt").exists() and not list(tmp_path.iterdir())


def test_unknown_output_format_is_refused_before_work(runner, trained_run, tmp_path):
    result = runner.invoke(app, ["embed", str(trained_run), "--out", str(tmp_path / "e.h5")])
    assert (
        result.exit_code == 1
        and "unknown output format '.h5'; use one of .parquet, .npy, .tsv" in result.output
    )


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_token_features_of_every_family_pool_to_finite_vectors(name):
    """--layer tokens works for each family, long transformer inputs included (chunk and pool)."""
    import torch

    from dnanet.config.run_config import load_config
    from dnanet.inference.embed import represent
    from dnanet.inputs.encode import sequences_to_codes
    from dnanet.models import build_model
    from dnanet.training.experiment import model_arguments_of

    arguments = {
        **model_arguments_of(load_config(model=name)),
        **({"max_len": 8} if name == "transformer" else {}),
    }
    torch.manual_seed(0)
    model = build_model(name, 2, arguments).eval()
    rng = np.random.default_rng(0)
    sequences = [rng.choice(list(b"ACGT"), size=n).astype(np.uint8).tobytes() for n in (40, 150)]
    codes = torch.from_numpy(sequences_to_codes(sequences)[0])
    with torch.no_grad():
        features, mask = model.features(codes)
        pooled = [represent(model, codes, "tokens", pool) for pool in ("mean", "max")]
        alone = represent(model, codes[:1, :40], "tokens", "mean")
    assert (
        features.shape[0] == 2
        and features.shape[2] == mask.shape[1]
        and mask[0].sum() < mask[1].sum()
    )
    assert all(torch.isfinite(p).all() and p.shape == (2, features.shape[1]) for p in pooled)
    torch.testing.assert_close(alone, pooled[0][:1], rtol=1e-5, atol=1e-5)


def test_tokens_of_a_model_without_positions_is_a_one_line_error(runner, tmp_path):
    """A ternary_mlp reads k-mer counts of the whole sequence: no per-position layer to pool."""
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "encoder: {name: kmer, k: 2, stride: 1}\nmodel: {name: ternary_mlp, hidden: 4, layers: 1}\n"
        "train: {epochs: 1, reverse_complement: false}\n"
    )
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "-c", str(config), "--out", str(run), "--quiet", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "e.tsv"
    result = runner.invoke(
        app, ["embed", str(run), *HELDOUT, "--out", str(out), "--layer", "tokens"]
    )
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert (
        "--layer tokens: this TernaryMLP model has no per-position features" in result.stderr
        and not out.exists()
    )
    result = runner.invoke(app, ["embed", str(run), *HELDOUT, "--out", str(out)])
    assert result.exit_code == 0 and len(out.read_text().splitlines()) > 1, result.output
