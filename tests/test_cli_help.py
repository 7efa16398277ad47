"""The command line as a new user meets it: --help (order, sections, choices from the registries),
tab completion, class names from file names, and one-line errors for missing inputs and bad
flags, with nothing printed before them. One tiny run (1 epoch) is shared by this module."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnanet.cli import app
from dnanet.examples import example_path

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "run"
    result = runner.invoke(
        app, ["train", "--out", str(out), "--epochs", "1", "--quiet", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


def invoke(*args: object, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def help_text(*command: str) -> str:
    """A command's --help as plain words: the panels' borders dropped and the lines run together."""
    result = invoke(*command, "--help", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def one_line_error(result, *fragments: str) -> str:
    """Exit code 1, no usage box, nothing on stdout, and one 'error:' line holding every
    fragment."""
    assert result.exit_code == 1, result.output
    assert "Usage" not in result.output and "Traceback" not in result.output, result.output
    assert result.stdout == "", result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


# --- dnanet --help --------------------------------------------------------------------------


def test_help_lists_the_everyday_commands_first_and_the_research_commands_apart():
    text = help_text()
    commands = text[text.index("Commands") :]
    everyday = [
        "train",
        "evaluate",
        "predict",
        "embed",
        "motifs",
        "variants",
        "attribute",
        "example",
        "example-genome",
    ]
    places = [commands.index(f" {name} ") for name in everyday]
    assert places == sorted(places), commands
    research = commands.index("Research commands")
    assert places[-1] < research < commands.index(" bottleneck ") and research < commands.index(
        " crn "
    )


def test_every_command_summary_is_its_first_whole_sentence_on_one_line():
    """`dnanet --help` showed a docstring's first paragraph with its line breaks, so a summary
    stopped mid-sentence ("... Give --vcf with"): each row is now the first sentence, whole."""
    import typer.main

    group = typer.main.get_command(app)
    result = invoke("--help", env={"COLUMNS": "100"})
    rows = [line.strip("│ ") for line in result.output.splitlines() if line.startswith("│")]
    listing = " ".join(" ".join(rows).split())
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        first = " ".join(command.help.split("\n\n")[0].split())
        assert command.short_help.endswith(".") and first.startswith(command.short_help), name
        assert f"{name} {command.short_help}" in listing, name
    assert "Give --vcf with" not in listing


def test_completion_can_be_installed_and_completes_commands_and_registry_values(monkeypatch):
    import typer.completion

    assert "--install-completion" in help_text() and "--show-completion" in help_text()
    # the user's shell is found from the process tree (shellingham), which differs between a
    # terminal, CI and a background job: the test fixes it to bash
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    script = invoke("--show-completion", prog_name="dnanet")
    assert script.exit_code == 0 and "_DNANET_COMPLETE=complete_bash" in script.output, (
        script.output,
        script.exception,
    )

    def complete(words: str) -> list[str]:
        result = runner.invoke(
            app,
            [],
            prog_name="dnanet",
            env={
                "_DNANET_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split(" ")) - 1),
            },
        )
        assert result.exit_code == 0, result.output
        return result.output.split()

    assert complete("dnanet ev") == ["evaluate"]
    assert complete("dnanet train --model t") == ["transformer", "ternary_mlp"]
    assert complete("dnanet embed run --pool ") == ["mean", "max", "cls"]


@pytest.mark.parametrize(
    "command, option, registry, extra",
    [
        ("train", "--model", ("dnanet.models", "MODELS"), ()),
        ("train", "--task", ("dnanet.data.tasks", "KINDS"), ("auto",)),
        ("train", "--precision", ("dnanet.runtime.precision", "SETTINGS"), ()),
        ("attribute", "--method", ("dnanet.interpret.attribution", "METHODS"), ()),
        ("motifs", "--method", ("dnanet.interpret.motifs.scores", "METHODS"), ("auto",)),
        ("motifs", "--aggregation", ("dnanet.interpret.motifs.scores", "AGGREGATIONS"), ()),
        ("embed", "--pool", ("dnanet.inference.embed", "POOLS"), ()),
        ("embed", "--layer", ("dnanet.inference.embed", "LAYERS"), ()),
        ("bottleneck", "--optimizer", ("dnanet.bottleneck", "OPTIMIZERS"), ()),
        ("export", "--format", ("dnanet.inference.export", "FORMATS"), ()),
    ],
)
def test_option_help_lists_every_value_of_its_registry(command, option, registry, extra):
    import importlib

    names = [*extra, *getattr(importlib.import_module(registry[0]), registry[1])]
    text = help_text(command)
    described = text[text.index(f" {option} ", text.index(" Options ")) :]
    assert f"Choices: {', '.join(names)}." in described[:900], described[:900]


def test_model_help_names_ternary_mlp_and_every_registered_model():
    from dnanet.models import MODELS

    assert "ternary_mlp" in MODELS
    assert f"Choices: {', '.join(MODELS)}." in help_text("train")


def test_the_precision_choices_are_the_ones_the_config_accepts():
    """--precision is listed from dnanet.runtime.precision.SETTINGS and checked by the config's
    Literal."""
    import typing

    from dnanet.config.run_config import TrainConfig
    from dnanet.runtime.precision import SETTINGS

    assert typing.get_args(typing.get_type_hints(TrainConfig)["precision"]) == SETTINGS


def test_choices_are_listed_once_however_often_the_help_is_shown():
    assert help_text("embed").count("Choices: mean, max, cls.") == 1
    assert help_text("embed").count("Choices: mean, max, cls.") == 1


def test_a_value_outside_the_registry_is_one_line_naming_the_valid_ones(tmp_path):
    one_line_error(
        invoke("train", "--model", "mlp", "--out", tmp_path / "run"),
        "--model mlp: unknown model 'mlp'; valid models: cnn, lstm, transformer, ternary_mlp",
    )


@pytest.mark.parametrize(
    "command, opening",
    [(("train",), "Sequences are"), (("crn", "verify"), "Compiles RUN")],
)
def test_prose_of_a_command_help_wraps_to_the_terminal_and_examples_keep_their_lines(
    command, opening
):
    """At 80 columns, a docstring's 100-character lines used to break in two (a long line, then
    a stub); prose now fills each line, and an example stays on lines of its own."""
    result = invoke(*command, "--help", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(opening))
    paragraph = []
    for line in lines[start:]:
        if not line.strip():
            break
        paragraph.append(line.strip())
    assert len(paragraph) >= 4
    assert all(len(line) > 60 for line in paragraph[:-1]), paragraph
    assert any(line.strip().startswith(f"dnanet {' '.join(command)} ") for line in lines)


# --- flags that override the config ---------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--epochs", "0", "--epochs 0: train.epochs must be at least 1"),
        ("--batch-size", "0", "--batch-size 0: train.batch_size must be at least 1"),
        (
            "--precision",
            "half",
            "--precision half: 'train.precision' must be one of auto, fp32, bf16, fp16, got 'half'",
        ),
        (
            "--split",
            "chrom",
            "--split chrom: 'data.split' must be one of random, chromosome, got 'chrom'",
        ),
    ],
)
def test_a_bad_flag_value_names_the_flag_not_the_shipped_config(tmp_path, flag, value, message):
    line = one_line_error(invoke("train", flag, value, "--out", tmp_path / "run"), message)
    assert ".yaml" not in line
    assert not (tmp_path / "run").exists()


def test_a_config_file_value_still_names_the_file(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  name: cnn\ntrain:\n  epochs: 0\n")
    line = one_line_error(
        invoke("train", "-c", config, "--out", tmp_path / "run"), "train.epochs must be at least 1"
    )
    assert line.startswith(f"error: {config}: ")
    # the flag overrides the file's 0; the next bad value came from a flag, and the flag is named
    line = one_line_error(
        invoke("train", "-c", config, "--epochs", "2", "--lr", "-1", "--out", tmp_path / "run"),
        "--lr -1.0: train.lr must be positive",
    )
    assert str(config) not in line


# --- class names from file names --------------------------------------------------------------


def test_class_names_from_file_names_drop_txt_gz_and_fasta_endings(tiny_run, tmp_path):
    bound = tmp_path / "bound.txt"
    shutil.copyfile(example_path("heldout_bound.fa"), bound)
    background = tmp_path / "background.fasta.gz"
    background.write_bytes(gzip.compress(example_path("heldout_background.fa").read_bytes()))
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", tiny_run, bound, background, "--out", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert {name: scores["n"] for name, scores in metrics["per_class"].items()} == {
        "bound": 75,
        "background": 75,
    }


def test_a_class_the_run_does_not_know_suggests_class_equals_path(tiny_run, tmp_path):
    promoters = tmp_path / "prob_sigma24promoter.txt"
    shutil.copyfile(example_path("heldout_bound.fa"), promoters)
    one_line_error(
        invoke("evaluate", tiny_run, promoters),
        "class 'prob_sigma24promoter' is not one of the model's classes: bound, background",
        "name each file's class as CLASS=PATH (e.g. bound=FILE)",
    )


# --- missing inputs: one line naming the file, before anything else -------------------------------


MISSING_INPUT_CASES = {
    "train FASTA": lambda run, m, out: ["train", m / "bound.fa", "--out", out],
    "train --labels": lambda run, m, out: [
        "train",
        example_path("bound.fa"),
        "--labels",
        m / "labels.tsv",
        "--out",
        out,
    ],
    "train --config": lambda run, m, out: ["train", "--config", m / "cnn.yaml", "--out", out],
    "evaluate RUN": lambda run, m, out: ["evaluate", m / "run"],
    "evaluate FASTA": lambda run, m, out: [
        "evaluate",
        run,
        f"bound={m / 'bound.fa'}",
        "--out",
        out,
    ],
    "predict FASTA": lambda run, m, out: ["predict", run, m / "bound.fa", "--out", out],
    "predict --genome": lambda run, m, out: [
        "predict",
        run,
        "--genome",
        m / "genome.fa",
        "--region",
        "chr1",
        "--out",
        out.with_suffix(".bedGraph"),
    ],
    "embed FASTA": lambda run, m, out: [
        "embed",
        run,
        m / "bound.fa",
        "--out",
        out.with_suffix(".tsv"),
    ],
    "attribute FASTA": lambda run, m, out: [
        "attribute",
        run,
        m / "bound.fa",
        "--out",
        out.with_suffix(".npz"),
    ],
    "motifs FASTA": lambda run, m, out: ["motifs", run, f"bound={m / 'bound.fa'}", "--out", out],
    "motifs --motif-db": lambda run, m, out: [
        "motifs",
        run,
        "--motif-db",
        m / "jaspar.meme",
        "--out",
        out,
    ],
    "variants --vcf": lambda run, m, out: [
        "variants",
        run,
        "--vcf",
        m / "calls.vcf",
        "--genome",
        m / "genome.fa",
        "--out",
        out,
    ],
    "crn simulate": lambda run, m, out: [
        "crn",
        "simulate",
        m / "net.json",
        m / "bound.fa",
        "--out",
        out,
    ],
}


@pytest.mark.parametrize("case", MISSING_INPUT_CASES)
def test_a_missing_input_is_one_line_naming_it_with_nothing_before(tiny_run, tmp_path, case):
    missing, out = tmp_path / "missing", tmp_path / "out"
    arguments = MISSING_INPUT_CASES[case](tiny_run, missing, out)
    named = next(str(a).split("=")[-1] for a in arguments if str(missing) in str(a))
    one_line_error(invoke(*arguments), named)
    assert not list(tmp_path.glob("out*"))


def test_an_unreadable_input_is_one_line_naming_it(tiny_run, tmp_path):
    unreadable = tmp_path / "bound.fa"
    shutil.copyfile(example_path("heldout_bound.fa"), unreadable)
    unreadable.chmod(0)
    try:
        if os.access(unreadable, os.R_OK):
            pytest.skip("running as root: file permissions do not stop reading")
        for command in (
            ["predict", tiny_run, unreadable, "--out", "-"],
            ["evaluate", tiny_run, unreadable],
            ["embed", tiny_run, unreadable, "--out", tmp_path / "e.tsv"],
        ):
            one_line_error(invoke(*command), f"{unreadable}: Permission denied")
    finally:
        unreadable.chmod(0o644)


def test_predict_to_stdout_prints_nothing_before_an_error(tiny_run, tmp_path):
    one_line_error(
        invoke("predict", tiny_run, tmp_path / "missing.fa", "--out", "-"),
        "missing.fa: no such file",
    )
    not_fasta = tmp_path / "notes.fa"
    not_fasta.write_text("these are my notes, not sequences\n")
    one_line_error(invoke("predict", tiny_run, not_fasta, "--out", "-"), str(not_fasta))


def test_predict_to_stdout_still_writes_the_header_and_every_row(tiny_run):
    result = invoke("predict", tiny_run, example_path("heldout_bound.fa"), "--out", "-")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0] == "id\tpredicted\tprob_bound\tprob_background" and len(rows) == 1 + 75


# --- metrics with a class missing from the evaluated set ---------------------------------------


def test_evaluate_on_one_class_notes_the_missing_one_in_the_table_and_the_json(tiny_run, tmp_path):
    out = tmp_path / "metrics.json"
    result = invoke(
        "evaluate",
        tiny_run,
        f"bound={example_path('heldout_bound.fa')}",
        "--out",
        out,
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["per_class"]["background"]["n"] == 0 and metrics["per_class"]["bound"]["n"] == 75
    assert metrics["note"] == (
        "no records of class background here (n: 0): its AUROC, AUPRC, recall and F1 are "
        "undefined and it is left out of every macro average"
    )
    assert metrics["note"] in " ".join(result.stdout.split())
