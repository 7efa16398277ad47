"""docs/run-folder.md is complete: a reader written from it alone, with json, numpy and
safetensors.numpy and no dnanet, loads a CNN run folder and reproduces `dnanet predict`'s
probabilities (records of other lengths, lower case, unknown bases, both strands) and the run's
check.safetensors. Everything above `test_` below is that reader; dnanet is only the reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from safetensors.numpy import load_file
from typer.testing import CliRunner

# --- the reader: from docs/run-folder.md, no dnanet --------------------------------------------

BASES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}  # any other allowed letter: unknown (4)


def read_run(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    description = json.loads((folder / "model.json").read_text())
    assert description["format"] == "dnanet-run" and description["format_version"] <= 2
    weights = {
        name: value.astype(np.float64)
        for name, value in load_file(folder / "model.safetensors").items()
    }
    return description, weights


def codes_of(sequence: str) -> np.ndarray:
    return np.array([BASES.get(letter, 4) for letter in sequence.upper()], dtype=np.int64)


def conv_same(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(C_in, L) -> (C_out, L): left (w-1)//2 zeros, right the rest."""
    width = weight.shape[2]
    left = (width - 1) // 2
    padded = np.pad(x, ((0, 0), (left, width - 1 - left)))
    windows = sliding_window_view(padded, width, axis=1)  # (C_in, L, w)
    return np.einsum("oiw,ilw->ol", weight, windows) + bias[:, None]


def max_pool_ceil(x: np.ndarray, size: int) -> np.ndarray:
    count = -(-x.shape[1] // size)
    padded = np.pad(x, ((0, 0), (0, count * size - x.shape[1])), constant_values=-np.inf)
    return padded.reshape(x.shape[0], count, size).max(2)


def bin_max(x: np.ndarray, bins: int) -> np.ndarray:
    """Max within `bins` equal stretches (position p in bin p * bins // W), channel-major."""
    place = np.arange(x.shape[1]) * bins // x.shape[1]
    pooled = np.zeros((x.shape[0], bins))
    for b in range(bins):
        if (place == b).any():
            pooled[:, b] = x[:, place == b].max(1)
    return pooled.ravel()


def cnn_logits(arguments: dict, w: dict[str, np.ndarray], codes: np.ndarray) -> np.ndarray:
    assert arguments["encoder"] == "onehot"
    x = (codes[None, :] == np.arange(4)[:, None]).astype(np.float64)  # (4, L): A C G T
    for i in range(arguments["layers"]):
        x = conv_same(x, w[f"blocks.{i}.0.weight"], w[f"blocks.{i}.0.bias"])
        norm = f"blocks.{i}.1"
        scale = w[f"{norm}.weight"] / np.sqrt(w[f"{norm}.running_var"] + 1e-5)
        x = (x - w[f"{norm}.running_mean"][:, None]) * scale[:, None] + w[f"{norm}.bias"][:, None]
        x = np.maximum(x, 0.0)
        if i < arguments["layers"] - 1:
            x = max_pool_ceil(x, arguments["pool"])
    features = [x.mean(1), x.max(1)]
    if arguments["position_bins"]:
        features.append(bin_max(x, arguments["position_bins"]))
    e = w["dense.0.weight"] @ np.concatenate(features) + w["dense.0.bias"]
    e = np.where(e > 0, e, 0.01 * e)
    return w["head.1.weight"] @ e + w["head.1.bias"]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def predict(description: dict, w: dict[str, np.ndarray], codes: np.ndarray) -> np.ndarray:
    """One record's codes -> the probabilities `dnanet predict` writes (binary/multiclass)."""
    arguments = description["model"]["arguments"]
    probabilities = softmax(cnn_logits(arguments, w, codes))
    if description["reverse_complement_average"]:
        reverse = np.where(codes < 4, 3 - codes, 4)[::-1]
        probabilities = (probabilities + softmax(cnn_logits(arguments, w, reverse))) / 2
    return probabilities


# --- the tests ---------------------------------------------------------------------------------


def records(example: Path, count: int) -> list[tuple[str, str]]:
    """The first `count` records of a FASTA file as (id, sequence)."""
    found = []
    for block in example.read_text().split(">")[1 : count + 1]:
        header, *lines = block.splitlines()
        found.append((header.split()[0], "".join(lines)))
    return found


def test_a_reader_without_dnanet_reproduces_predict(family_runs, tmp_path):
    from dnanet.cli import app  # the reference only
    from dnanet.examples import example_path

    folder = family_runs["cnn"]
    description, weights = read_run(folder)
    assert description["model"]["name"] == "cnn" and description["task"]["kind"] == "binary"
    chosen = records(example_path("heldout_bound.fa"), 4) + records(
        example_path("heldout_background.fa"), 4
    )
    chosen[1] = (chosen[1][0], chosen[1][1][:60])  # a shorter record: padded in predict's batch
    chosen[2] = (chosen[2][0], chosen[2][1][:40] + "NNRY" + chosen[2][1][44:].lower())
    fasta = tmp_path / "records.fa"
    fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in chosen))
    table = tmp_path / "predictions.tsv"
    result = CliRunner().invoke(app, ["predict", str(folder), str(fasta), "--out", str(table)])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(table, sep="\t")
    columns = [f"prob_{name}" for name in description["task"]["names"]]
    ours = np.stack([predict(description, weights, codes_of(sequence)) for _, sequence in chosen])
    assert list(predicted["id"]) == [name for name, _ in chosen]
    assert np.abs(ours - predicted[columns].to_numpy()).max() <= 1e-5
    assert ours[:, 0].max() - ours[:, 0].min() > 0.05  # a model that tells records apart


def test_the_reader_reproduces_the_runs_check_records(family_runs):
    folder = family_runs["cnn"]
    description, weights = read_run(folder)
    check = load_file(folder / "check.safetensors")
    arguments = description["model"]["arguments"]
    for codes, length, logits, outputs in zip(
        check["codes"], check["lengths"], check["logits"], check["outputs"]
    ):
        record = codes[:length].astype(np.int64)
        assert np.abs(cnn_logits(arguments, weights, record) - logits).max() <= 1e-5
        assert np.abs(predict(description, weights, record) - outputs).max() <= 1e-5
