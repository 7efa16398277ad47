"""`dnanet train --folds K`: the folds (every record outside the test part validates once, whole
chromosomes per fold), the ensemble folder (members checked by SHA-256, left out when they did not
learn), and what every command makes of an ensemble (the members' mean, their spread)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dnanet.cli import app
from dnanet.config.run_config import DataConfig
from dnanet.data.folds import chromosome_folds, fold_split
from dnanet.data.splits import make_split
from dnanet.errors import DnanetError
from dnanet.examples import example_path
from dnanet.models.ensemble import Ensemble
from dnanet.runs.load import load_run

SMALL = (
    "seed: 1\nmodel: {name: cnn, channels: 16, hidden: 16}\ntrain: {epochs: 6, batch_size: 32}\n"
)


def _folds(split, data, ids, strata=None):
    return [
        fold_split(split, DataConfig(**{**data.__dict__, "fold": k}), ids, 0, strata)
        for k in range(data.folds)
    ]


def test_random_folds_share_the_test_part_and_validate_every_other_record_once():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    ids = [f"r{i}" for i in range(600)]
    single = make_split(DataConfig(), ids, 7, labels)
    data = DataConfig(folds=4)
    members = _folds(make_split(data, ids, 7, labels), data, ids, labels)
    validated = np.concatenate([member.validation for member in members])
    assert sorted(validated) == sorted(np.concatenate([single.train, single.validation]))
    for member in members:
        assert np.array_equal(member.test, single.test)  # the single run's test part
        assert not set(member.train) & set(member.validation)
        shares = np.bincount(labels[member.validation], minlength=3) / len(member.validation)
        assert np.allclose(shares, np.bincount(labels, minlength=3) / 600, atol=0.03)


def test_chromosome_folds_hold_out_whole_chromosomes_balanced_by_records():
    sizes = {f"chr{n}": 400 - 15 * n for n in range(1, 10)}  # no chr10, the default val_chroms
    ids = [
        f"{chrom}:{i * 300}-{i * 300 + 200}" for chrom, count in sizes.items() for i in range(count)
    ]
    data = DataConfig(split="chromosome", test_chroms=("chr8", "chr9"), folds=3)
    members = _folds(make_split(data, ids, 0), data, ids)
    test_chromosomes = {ids[i].split(":")[0] for i in members[0].test}
    assert test_chromosomes == {"chr8", "chr9"}
    seen = []
    for member in members:
        validation = {ids[i].split(":")[0] for i in member.validation}
        train = {ids[i].split(":")[0] for i in member.train}
        assert not validation & train and not validation & test_chromosomes
        assert sorted(validation) == sorted(member.chromosomes["validation"])
        seen += sorted(validation)
    assert sorted(seen) == sorted(set(sizes) - {"chr8", "chr9"})  # each validates once
    counts = [len(member.validation) for member in members]
    assert max(counts) - min(counts) <= max(sizes.values())  # greedy balance: within one chromosome


def test_fold_errors_are_one_line():
    index = np.array([0, 0, 1])
    with pytest.raises(DnanetError, match="lie on 2 chromosome"):
        chromosome_folds(index, ["chr1", "chr2"], 3)
    ids = [f"r{i}" for i in range(60)]
    parts = np.zeros(60, dtype=np.int8)
    parts[:10] = 1  # a fixed validation set
    data = DataConfig(folds=2)
    with pytest.raises(DnanetError, match="fixed validation set"):
        fold_split(make_split(data, ids, 0, parts=parts), data, ids, 0)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory, runner) -> Path:
    """A 3-fold CNN ensemble on the bundled example (the shipped config, 8 epochs)."""
    out = tmp_path_factory.mktemp("folds") / "ens"
    result = runner.invoke(
        app,
        ["train", "--folds", "3", "--epochs", "8", "--out", str(out), "--quiet", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "ensemble of 3 members written" in result.output
    assert "members, same records" in result.output
    return out


def test_the_ensemble_folder_lists_its_members_with_checksums(ensemble):
    record = json.loads((ensemble / "model.json").read_text())
    assert record["format"] == "dnanet-ensemble"
    assert [member["path"] for member in record["members"]] == ["fold_0", "fold_1", "fold_2"]
    table = pd.read_csv(ensemble / "folds.tsv", sep="\t")
    assert list(table["status"]) == ["member"] * 3
    metrics = json.loads((ensemble / "metrics.json").read_text())
    members = [json.loads((ensemble / f"fold_{k}" / "metrics.json").read_text()) for k in range(3)]
    assert metrics["n"] == members[0]["n"] == 128  # the same test part as a single run
    assert set(metrics["members"]) == {"fold_0", "fold_1", "fold_2"}
    run = load_run(ensemble)
    assert run.is_ensemble and isinstance(run.model, Ensemble) and len(run.members) == 3


def test_predictions_are_the_members_mean_with_their_spread(ensemble, runner, tmp_path):
    fasta = example_path("heldout_bound.fa")
    tables = []
    for folder in [ensemble, *(ensemble / f"fold_{k}" for k in range(3))]:
        out = tmp_path / f"{folder.name}.tsv"
        result = runner.invoke(app, ["predict", str(folder), str(fasta), "--out", str(out)])
        assert result.exit_code == 0, result.output
        tables.append(pd.read_csv(out, sep="\t"))
    whole, members = tables[0], tables[1:]
    probabilities = np.stack([member["prob_bound"].to_numpy() for member in members])
    assert np.allclose(whole["prob_bound"], probabilities.mean(0), atol=2e-6)
    assert np.allclose(whole["sd_bound"], probabilities.std(0), atol=2e-5)
    assert whole["sd_bound"].max() > 0  # the members differ


def test_evaluate_reports_the_ensemble_and_each_member_on_unseen_data(ensemble, runner, tmp_path):
    out = tmp_path / "metrics.json"
    result = runner.invoke(app, ["evaluate", str(ensemble), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())  # the bundled held-out files: never trained on
    member_aurocs = [metrics["members"][f"fold_{k}"]["auroc"] for k in range(3)]
    assert metrics["auroc"] > 0.85
    assert metrics["auroc"] >= np.mean(member_aurocs) - 0.005  # averaging does not hurt


def test_ensemble_attributions_are_the_members_mean(ensemble):
    from dnanet.interpret.attribution import input_gradient

    run = load_run(ensemble)
    codes = torch.randint(0, 4, (3, 101), dtype=torch.uint8)
    lengths = torch.full((3,), 101)

    def gradient(model):
        return input_gradient(model, codes, lengths, lambda logits: logits[0][:, 0])[0]

    mean = torch.stack([gradient(member.model) for member in run.members]).mean(0)
    assert torch.allclose(gradient(run.model), mean, atol=1e-6)


def test_a_changed_member_is_refused(ensemble, tmp_path):
    copy = tmp_path / "ens"
    shutil.copytree(ensemble, copy)
    weights = copy / "fold_1" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4:] = np.float32(0.5).tobytes()  # one weight changed, still a valid file
    weights.write_bytes(bytes(data))
    with pytest.raises(DnanetError, match="fold_1: model.safetensors is not the file"):
        load_run(copy)


def test_members_trained_as_separate_jobs_and_one_that_did_not_learn(tmp_path, runner):
    out = tmp_path / "ens"
    command = [
        "train",
        "--folds",
        "2",
        "--epochs",
        "3",
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "1",
    ]
    first = runner.invoke(app, [*command, "--fold", "0"])
    assert first.exit_code == 0, first.output
    assert "1 of 2 members done" in first.output and not (out / "model.json").exists()
    description = out / "fold_0" / "model.json"  # as if member 0 had not learned
    record = json.loads(description.read_text())
    record.update(learned=False, learning={"message": "loss stayed at the class prior"})
    description.write_text(json.dumps(record))
    refused = runner.invoke(app, [*command, "--require-all-folds"])
    assert refused.exit_code == 1
    assert "fold_0: did not learn" in refused.output
    again = runner.invoke(app, ["train", "--resume", str(out), "--quiet"])  # fold_1 is kept
    assert again.exit_code == 0, again.output
    assert "fold_0 left out: did not learn" in again.output
    record = json.loads((out / "model.json").read_text())
    assert [member["path"] for member in record["members"]] == ["fold_1"]
    assert record["left_out"][0]["path"] == "fold_0"


def test_regression_members_are_averaged_in_the_data_units():
    torch.manual_seed(0)
    members = [torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)]
    scales = torch.tensor([[1.0, 1.0], [2.0, 0.5]])
    shifts = torch.tensor([[0.0, 0.0], [1.0, -3.0]])
    ensemble = Ensemble(members, scales=scales, shifts=shifts)
    x = torch.randn(5, 4)
    # member 1's logits z1 in member 0's units: z1 * std1 / std0 + (mean1 - mean0) / std0
    expected = (members[0](x) + members[1](x) * scales[1] + shifts[1]) / 2
    assert torch.allclose(ensemble(x), expected, atol=1e-6)


def test_a_transformer_ensembles_attention_is_its_members_mean():
    from dnanet.interpret.motifs.attention import attention_scores
    from dnanet.interpret.motifs.scores import has_attention
    from dnanet.models import build_model

    torch.manual_seed(0)
    members = [build_model("transformer", 2, {"d_model": 16, "heads": 2}) for _ in range(2)]
    ensemble = Ensemble(members)
    codes = torch.randint(0, 4, (2, 120), dtype=torch.uint8)
    assert has_attention(ensemble)
    expected = (attention_scores(members[0], codes) + attention_scores(members[1], codes)) / 2
    assert torch.allclose(attention_scores(ensemble, codes), expected, atol=1e-6)


def test_an_ensemble_calibrates_on_out_of_fold_validation_and_covers_new_data(
    ensemble, runner, tmp_path
):
    calibration = json.loads((ensemble / "calibration.json").read_text())
    assert calibration["source"] == "out-of-fold validation"
    members = [json.loads((ensemble / f"fold_{k}" / "model.json").read_text()) for k in range(3)]
    assert calibration["n"] == sum(m["split"]["validation"] for m in members)  # every fold once
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app, ["evaluate", str(ensemble), "--conformal", "0.2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["calibration"]
    # 150 held-out records, never trained on: coverage near 0.8 (binomial sd about 0.03)
    assert 0.7 <= report["coverage"] <= 0.95, report
