"""`dnanet export --format onnx`: for a run of every family, onnxruntime's outputs on records the
run never saw equal `predict`'s (strand averaging and an ensemble's mean included), for batch
sizes other than the traced one; the length is the run's or --length, and a missing onnx package
or a length the run does not fix is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.inference.predict import predict_batch
from dnanet.runs.load import load_run

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

runner = CliRunner()
FAMILIES = ["cnn", "lstm", "transformer", "kmer", "ternary_mlp", "ensemble", "profile", "counts"]
CTCF_LENGTH = 101  # the bundled example's records
SIGNAL_WINDOW = 100


def random_codes(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """Records of random bases with a few Ns (code 4) ``(n, length)``."""
    codes = rng.integers(0, 4, (n, length), dtype=np.uint8)
    codes[rng.random((n, length)) < 0.02] = 4
    return codes


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_outputs_equal_predicts_for_every_family(family_runs, family, tmp_path):
    folder = family_runs[family]
    signal = family in ("profile", "counts")
    given = [] if signal else ["--length", str(CTCF_LENGTH)]  # a signal run fixes its window
    out = tmp_path / "model.onnx"
    result = runner.invoke(app, ["export", str(folder), "--out", str(out), *given])
    assert result.exit_code == 0, result.output
    run = load_run(folder)
    length = SIGNAL_WINDOW if signal else CTCF_LENGTH
    session = onnxruntime.InferenceSession(str(out))
    rng = np.random.default_rng(1)
    for n in (1, 7):
        codes = random_codes(rng, n, length)
        expected = predict_batch(
            run.model,
            codes,
            np.full(n, length),
            run.reverse_complement_average,
            activate=run.task.activate,
        ).numpy()
        (got,) = session.run(None, {"codes": codes})
        assert got.shape == expected.shape == (n, run.task.n_outputs)
        assert np.abs(got - expected).max() <= 1e-4, (family, np.abs(got - expected).max())
    properties = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert properties["dnanet_length"] == str(length)
    assert len(json.loads(properties["dnanet_outputs"])) == run.task.n_outputs


def test_a_run_of_mixed_lengths_asks_for_length(family_runs, tmp_path):
    description = json.loads((family_runs["cnn"] / "model.json").read_text())
    if "training_lengths" in description:  # the bundled example: 101 bases each
        description["training_lengths"] = {"min": 90, "max": 101}
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(description))
    (folder / "model.safetensors").write_bytes(
        (family_runs["cnn"] / "model.safetensors").read_bytes()
    )
    result = runner.invoke(app, ["export", str(folder), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1
    assert "give it with --length BASES" in " ".join(result.output.split())
    assert not (tmp_path / "m.onnx").exists()


def test_export_without_onnx_tells_how_to_install_it(family_runs, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    result = runner.invoke(
        app, ["export", str(family_runs["cnn"]), "--out", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 1
    assert "pip install 'dnanet[export]'" in " ".join(result.output.split())


def test_an_existing_file_is_replaced_only_with_overwrite(family_runs, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_text("an older file")
    command = ["export", str(family_runs["cnn"]), "--out", str(out), "--length", "101"]
    result = runner.invoke(app, command)
    assert result.exit_code == 1 and "pass --overwrite" in " ".join(result.output.split())
    assert out.read_text() == "an older file"
    assert runner.invoke(app, [*command, "--overwrite"]).exit_code == 0
    assert onnx.load(str(out)).graph.input[0].name == "codes"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]  # no temporaries
