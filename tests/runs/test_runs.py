"""Run folders are checked as a whole before a model is built (`dnanet.runs.load`,
`dnanet.runs.schema`): every kind of tampered or damaged folder ends in one error line that names
the file and the key or tensor, exit code 1, no traceback, no output, no hang.

Not detectable, hence not tested as an error: names swapped consistently in both ``task.names``
and ``classes`` (the weights carry no names); a swap in one of the two is caught.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.data.streaming import iter_batches
from dnanet.errors import DnanetError
from dnanet.examples import example_path, heldout_inputs
from dnanet.inference.predict import predict_batch
from dnanet.models import build_model
from dnanet.runs.load import load_run
from dnanet.runs.save import save_model

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
BOUND = str(dict(heldout_inputs())["bound"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A CNN trained for one epoch on the bundled CTCF example (2 classes, position_bins 8)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    result = runner.invoke(
        app, ["train", "--out", str(out), "--epochs", "1", "--quiet", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


def copy_run(tiny_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


def edit_description(run: Path, change) -> None:
    description = json.loads((run / "model.json").read_text())
    change(description)
    (run / "model.json").write_text(json.dumps(description))


def edit_weights(run: Path, change) -> None:
    weights = load_file(run / "model.safetensors")
    change(weights)
    save_file(weights, str(run / "model.safetensors"), metadata={"format": "pt"})


def three_names(d):
    d["task"]["names"] = d["classes"] = ["bound", "background", "other"]
    d["task"]["kind"] = "multiclass"


def poison(weights, value):
    weights["blocks.1.0.weight"][0, 0, 0] = value


# (tampering, the fragments the one error line must hold)
DESCRIPTION_CASES = {
    "three names on a 2-output model": (
        three_names,
        [
            "model.json: 'task.names' lists 3 names, but "
            "model.safetensors holds a model with 2 outputs"
        ],
    ),
    "names swapped in one place": (
        lambda d: d["task"].update(names=["background", "bound"]),
        ["model.json: 'classes' ['bound', 'background'] differs from 'task.names'"],
    ),
    "format_version 99": (
        lambda d: d.update(format_version=99),
        ["model.json: 'format_version' 99 is not a run format this dnanet reads"],
    ),
    "format_version as text": (lambda d: d.update(format_version="2"), ["'format_version' '2'"]),
    "rc average 'no'": (
        lambda d: d.update(reverse_complement_average="no"),
        ["model.json: 'reverse_complement_average' must be true or false, got 'no'"],
    ),
    "huge position_bins": (
        lambda d: d["model"]["arguments"].update(position_bins=30000),
        ["model.json: 'model.arguments.position_bins' must be between 0 and 4096, got 30000"],
    ),
    "position_bins the weights lack": (
        lambda d: d["model"]["arguments"].update(position_bins=9),
        [
            "model.safetensors: tensor 'dense.0.weight' has shape [128, 1280], but the "
            "model in model.json ('model.arguments') needs [128, 1408]"
        ],
    ),
    "dropout as text": (
        lambda d: d["model"]["arguments"].update(dropout="high"),
        ["'model.arguments.dropout' must be a number, got 'high'"],
    ),
    "unknown argument": (
        lambda d: d["model"]["arguments"].update(wings=2),
        ["unknown key 'model.arguments.wings'"],
    ),
    "fractional channels": (
        lambda d: d["model"]["arguments"].update(channels=8.5),
        ["'model.arguments.channels' must be an integer, got 8.5"],
    ),
    "encoder not the model's": (
        lambda d: d["encoder"].update(name="kmer"),
        ["model.json: 'encoder.name' ('kmer') differs from 'model.arguments.encoder'"],
    ),
    "constructor refuses": (
        lambda d: (
            d["encoder"].update(name="protein"),
            d["model"]["arguments"].update(encoder="protein"),
        ),
        ["model.json: 'model.arguments': unknown encoder 'protein'; valid encoders: onehot, kmer"],
    ),
    "unknown task kind": (
        lambda d: d["task"].update(kind="ranking"),
        ["'task.kind' 'ranking' is not a task kind"],
    ),
    "duplicate class": (
        lambda d: (
            d["task"].update(names=["bound", "bound"]) or d.update(classes=["bound", "bound"])
        ),
        ["'task.names' lists 'bound' twice"],
    ),
    "tab in a name": (
        lambda d: d["task"].update(names=["bo\tund", "background"]),
        ["'task.names' must be a list of non-empty printable names"],
    ),
    "learned 'yes'": (
        lambda d: d.update(learned="yes"),
        ["'learned' must be true or false, got 'yes'"],
    ),
    "negative window": (
        lambda d: d["inputs"][0].update(window=-5),
        ["'inputs[0].window' must be a whole number"],
    ),
    "unknown model": (
        lambda d: d["model"].update(name="resnet"),
        ["unknown model 'resnet' in 'model.name'"],
    ),
}

WEIGHT_CASES = {
    "NaN weight": (
        lambda w: poison(w, float("nan")),
        ["model.safetensors: tensor 'blocks.1.0.weight' holds NaN or infinite values"],
    ),
    "infinite weight": (
        lambda w: poison(w, float("inf")),
        ["tensor 'blocks.1.0.weight' holds NaN or infinite"],
    ),
    "missing tensor": (
        lambda w: w.pop("dense.0.weight"),
        ["model.safetensors has no tensor 'dense.0.weight'"],
    ),
    "extra tensor": (
        lambda w: w.update(extra=torch.zeros(3)),
        ["model.safetensors has a tensor 'extra' that is not"],
    ),
    "wrong shape": (
        lambda w: w.update({"dense.0.weight": torch.zeros(128, 7)}),
        [
            "model.safetensors: tensor 'dense.0.weight' has shape [128, 7], but the model in "
            "model.json ('model.arguments') needs [128, 1280]"
        ],
    ),
    "wrong dtype": (
        lambda w: w.update({"dense.0.bias": w["dense.0.bias"].double()}),
        ["model.safetensors: tensor 'dense.0.bias' is F64; the model needs F32"],
    ),
}


def assert_one_error(result, out: Path, *fragments: str) -> None:
    """Exit code 1, exactly one 'error:' line holding every fragment, no traceback, no output."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists()


def predict(run: Path, out: Path):
    return runner.invoke(
        app, ["predict", str(run), BOUND, "--out", str(out), "--quiet", "--threads", "1"]
    )


def test_the_untouched_run_predicts(tiny_run, tmp_path):
    out = tmp_path / "p.tsv"
    result = predict(tiny_run, out)
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    assert (
        rows[0].split("\t") == ["id", "predicted", "prob_bound", "prob_background"]
        and len(rows) > 10
    )


@pytest.mark.parametrize("case", DESCRIPTION_CASES)
def test_a_tampered_model_json_is_one_error(tiny_run, tmp_path, case):
    change, fragments = DESCRIPTION_CASES[case]
    run = copy_run(tiny_run, tmp_path)
    edit_description(run, change)
    started = time.monotonic()
    assert_one_error(predict(run, tmp_path / "p.tsv"), tmp_path / "p.tsv", *fragments)
    assert time.monotonic() - started < 10  # refused from the description: nothing big was built


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_tampered_weights_are_one_error_naming_the_tensor(tiny_run, tmp_path, case):
    change, fragments = WEIGHT_CASES[case]
    run = copy_run(tiny_run, tmp_path)
    edit_weights(run, change)
    assert_one_error(predict(run, tmp_path / "p.tsv"), tmp_path / "p.tsv", f"{run}: ", *fragments)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"format": "dnanet-run", "format": "dnanet-run"}', "key 'format' is given twice"),
        ('{"format": "dnanet-run", "x": NaN}', "NaN is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (" " * (1 << 20) + "{}", "larger than the 1,048,576 bytes allowed"),
        ("[1, 2]", "not a dnanet model description"),
    ],
)
def test_malformed_json_is_one_error(tiny_run, tmp_path, text, fragment):
    run = copy_run(tiny_run, tmp_path)
    (run / "model.json").write_text(text)
    assert_one_error(
        predict(run, tmp_path / "p.tsv"), tmp_path / "p.tsv", f"{run / 'model.json'}: ", fragment
    )


def test_truncated_weights_are_one_error(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) - 100])
    assert_one_error(
        predict(run, tmp_path / "p.tsv"),
        tmp_path / "p.tsv",
        f"{run}: model.safetensors is not a readable safetensors file",
        "not fully covered",
    )


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m dnanet ARGS` in a subprocess that is killed (and the test failed) if it hangs."""
    return subprocess.run(
        [sys.executable, "-m", "dnanet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "weights-fifo"])
def test_a_special_file_in_a_run_is_refused_without_opening_it(tiny_run, tmp_path, kind):
    """A FIFO would block a reader forever; /dev/zero would be read until memory runs out."""
    run = copy_run(tiny_run, tmp_path)
    target = run / ("model.safetensors" if kind == "weights-fifo" else "model.json")
    target.unlink()
    if kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        os.mkfifo(target)
    out = tmp_path / "p.tsv"
    done = run_cli("predict", str(run), BOUND, "--out", str(out), "--quiet", "--threads", "1")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    expected = {
        "fifo": f"{target}: a FIFO, expected a regular file",
        "dev-zero": f"{target}: a device, expected a regular file",
        "weights-fifo": f"{run}: model.safetensors is not a regular file",
    }[kind]
    assert lines[0] == f"error: {expected}" or lines[0].startswith(f"error: {expected}"), lines[0]
    assert not out.exists()


def ternary_arguments():
    return {
        "encoder": "kmer",
        "k": 3,
        "stride": 1,
        "hidden": 4,
        "layers": 1,
        "features": "count",
        "ternary": True,
    }


@pytest.mark.parametrize(
    "name, arguments",
    [
        (
            "cnn",
            {
                "encoder": "kmer",
                "k": 4,
                "stride": 2,
                "kmer_dim": 8,
                "channels": 8,
                "hidden": 8,
                "position_bins": 3,
            },
        ),
        (
            "lstm",
            {"encoder": "onehot", "conv_channels": 8, "lstm_size": 4, "layers": 2, "hidden": 8},
        ),
        (
            "transformer",
            {
                "encoder": "onehot",
                "d_model": 16,
                "heads": 2,
                "layers": 1,
                "ff_dim": 16,
                "max_len": 64,
                "positions": "sinusoidal",
                "pooling": "mean",
            },
        ),
        (
            "transformer",
            {"encoder": "kmer", "k": 3, "d_model": 8, "heads": 2, "layers": 1, "ff_dim": 8},
        ),
        ("ternary_mlp", ternary_arguments()),
    ],
)
def test_every_model_family_saves_and_loads_through_the_checks(tiny_run, tmp_path, name, arguments):
    """The checked loader gives back the exact weights of each family (buffers and k-mer
    embeddings included), with the task from model.json."""
    description = json.loads((tiny_run / "model.json").read_text())
    for key in ("format", "format_version"):
        description.pop(key)
    description["model"] = {"name": name, "arguments": arguments}
    description["encoder"] = {
        "name": arguments["encoder"],
        "k": arguments.get("k", 6),
        "stride": arguments.get("stride", 1),
    }
    description["task"] = {"kind": "multilabel", "names": ["a", "b", "c"], "mean": [], "std": []}
    description["classes"] = ["a", "b", "c"]
    model = build_model(name, 3, arguments)
    save_model(tmp_path, model, description)
    loaded = load_run(tmp_path)
    assert (
        loaded.model_name == name
        and loaded.task.names == ["a", "b", "c"]
        and loaded.task.kind == "multilabel"
    )
    assert loaded.model.training is False
    saved = model.state_dict()
    assert saved.keys() == loaded.model.state_dict().keys()
    assert all(torch.equal(saved[key], value) for key, value in loaded.model.state_dict().items())


def test_saved_and_loaded_model_predicts_identically(trained_run):
    loaded = load_run(trained_run)
    model, again = loaded.model, load_run(trained_run).model
    batch = next(iter_batches([example_path("heldout_bound.fa")], batch_size=64))
    activate = loaded.task.activate
    first = predict_batch(model, batch.codes, batch.lengths, True, activate=activate)
    assert torch.equal(
        first, predict_batch(again, batch.codes, batch.lengths, True, activate=activate)
    )
    assert model.training is False and first.shape == (64, 2)


def test_a_regression_run_needs_one_positive_std_per_target(tmp_path):
    arguments = ternary_arguments()
    description = {
        "model": {"name": "ternary_mlp", "arguments": arguments},
        "classes": ["y"],
        "config": {},
        "task": {"kind": "regression", "names": ["y"], "mean": [1.5], "std": [0.0]},
        "reverse_complement_average": False,
    }
    save_model(tmp_path, build_model("ternary_mlp", 1, arguments), description)
    with pytest.raises(
        DnanetError, match=r"model.json: 'task.std' must be 1 positive numbers .* got \[0.0\]"
    ):
        load_run(tmp_path)


@pytest.mark.parametrize(
    "command", ["evaluate", "embed", "motifs", "attribute", "variants", "crn export"]
)
def test_every_command_that_reads_a_run_checks_it(tiny_run, tmp_path, command):
    run = copy_run(tiny_run, tmp_path)
    edit_weights(run, lambda w: poison(w, float("nan")))
    genome, vcf = tmp_path / "g.fa", tmp_path / "v.vcf"
    genome.write_text(">chr1\n" + "ACGT" * 250 + "\n")
    vcf.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t100\t.\tA\tG\t.\t.\t.\n"
    )
    out = tmp_path / {"motifs": "motifs_out", "embed": "e.parquet", "attribute": "a.npz"}.get(
        command, "o.tsv"
    )
    extra = {
        "evaluate": [BOUND, f"background={dict(heldout_inputs())['background']}"],
        "embed": [BOUND],
        "attribute": [BOUND],
        "variants": ["--vcf", str(vcf), "--genome", str(genome)],
    }.get(command, [])
    result = runner.invoke(app, [*command.split(), str(run), *extra, "--out", str(out)])
    assert_one_error(result, out, f"{run}: model.safetensors: tensor 'blocks.1.0.weight' holds NaN")
