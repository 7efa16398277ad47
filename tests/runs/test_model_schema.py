"""The JSON Schema shipped as dnanet/runs/model.schema.json: model.json of a fresh run of every
family (and of an ensemble and its members) is valid; what dnanet refuses when it loads a run
(`dnanet.runs.schema`) the schema refuses too; its model arguments are the registry's."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path

import pytest

from dnanet.errors import DnanetError
from dnanet.models import MODELS
from dnanet.runs.schema import (
    ARGUMENT_RANGES,
    RUN_FORMAT_VERSION,
    _constructor_arguments,
    check_description,
)

jsonschema = pytest.importorskip("jsonschema")

FAMILIES = ["cnn", "lstm", "transformer", "kmer", "ternary_mlp", "profile", "counts"]


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(files("dnanet.runs").joinpath("model.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def description(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text())


@pytest.mark.parametrize("family", FAMILIES)
def test_a_fresh_run_of_every_family_is_valid(family_runs, validator, family):
    record = description(family_runs[family])
    assert not list(validator.iter_errors(record)), family
    with_lengths = {**record, "training_lengths": {"min": 101, "max": 101}}  # optional key
    assert validator.is_valid(with_lengths)


def test_an_ensemble_and_its_members_are_valid(family_runs, validator):
    folder = family_runs["ensemble"]
    record = description(folder)
    assert record["format"] == "dnanet-ensemble" and validator.is_valid(record)
    for member in record["members"]:
        assert validator.is_valid(description(folder / member["path"]))
    outside = copy.deepcopy(record)
    outside["members"][0]["path"] = "../elsewhere"
    assert not validator.is_valid(outside)


def _regression(d):
    d["task"].update(kind="regression", names=["y"], mean=[1.0], std=[0.0])
    d["classes"] = ["y"]


def _profile_without_width(d):
    d["task"].update(kind="profile", names=["chip"], profile_loss="multinomial", counts_weight=1.0)
    d["classes"] = ["chip"]


# what dnanet refuses when it loads a run: each the schema refuses too
REFUSED = {
    "no model": lambda d: d.pop("model"),
    "no task": lambda d: d.pop("task"),
    "no classes": lambda d: d.pop("classes"),
    "no config": lambda d: d.pop("config"),
    "no strand averaging": lambda d: d.pop("reverse_complement_average"),
    "format_version 99": lambda d: d.update(format_version=99),
    "format_version as text": lambda d: d.update(format_version="2"),
    "a cnn of format 1": lambda d: d.update(format_version=1),
    "rc average 'no'": lambda d: d.update(reverse_complement_average="no"),
    "huge position_bins": lambda d: d["model"]["arguments"].update(position_bins=30000),
    "dropout as text": lambda d: d["model"]["arguments"].update(dropout="high"),
    "unknown argument": lambda d: d["model"]["arguments"].update(wings=2),
    "fractional channels": lambda d: d["model"]["arguments"].update(channels=8.5),
    "unknown encoder": lambda d: d["model"]["arguments"].update(encoder="protein"),
    "unknown model": lambda d: d["model"].update(name="resnet"),
    "unknown task kind": lambda d: d["task"].update(kind="ranking"),
    "three names on a binary task": lambda d: d["task"].update(names=["a", "b", "c"]),
    "duplicate class": lambda d: d["task"].update(names=["bound", "bound"]),
    "tab in a name": lambda d: d["task"].update(names=["bo\tund", "background"]),
    "regression std 0": _regression,
    "profile without width": _profile_without_width,
    "learned 'yes'": lambda d: d.update(learned="yes"),
    "negative window": lambda d: d["inputs"][0].update(window=-5),
    "signal without input width": lambda d: d.update(signal={}),
    "learning message a number": lambda d: d.update(learning={"message": 3}),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_dnanet_refuses_the_schema_refuses(family_runs, validator, case):
    record = description(family_runs["cnn"])
    assert validator.is_valid(record)
    REFUSED[case](record)
    with pytest.raises(DnanetError):
        check_description(record, Path("model.json"))
    assert not validator.is_valid(record), case


def test_the_schema_lists_each_models_arguments_and_ranges(validator):
    defined = validator.schema["$defs"]["arguments"]
    assert set(defined) == set(MODELS)
    for name in MODELS:
        properties = defined[name]["properties"]
        assert set(properties) == set(_constructor_arguments(name)), name
        for key, (low, high) in ARGUMENT_RANGES.items():
            if key in properties:
                assert (properties[key]["minimum"], properties[key]["maximum"]) == (low, high)
    version = validator.schema["$defs"]["run"]["properties"]["format_version"]
    assert version["maximum"] == RUN_FORMAT_VERSION
