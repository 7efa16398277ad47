"""Bad input through the real CLI (Typer's CliRunner): every user error is one line on stderr
naming the file and the place, exit code 1, no traceback, and nothing left behind at --out.

Training-type errors all happen before any training, so these tests stay fast; the cases that
need a trained model share one tiny run (1 epoch on the bundled CTCF example) per module.
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnanet.cli import app

runner = CliRunner()

# Real 101 bp records from the bundled CTCF example (DNABERT sample data, Apache-2.0).
BOUND = [
    (
        "ctcf_00006",
        "GTGCGAGATGACGCACTTCCTGCCTGAGGCGGCCGCTGTTCTCGCGGCTTCCGGCAGGTGGCGCTGAGACCACGGGAAGCCAGCCTGGCTGTCGGTTAGCC",
    ),
    (
        "ctcf_00010",
        "CCGCCAGGCTCCTCTGCAGCGCGGCGCGCAGCGCCCCCTCGCGGTAGGCGCGGAGGAAGCGGCCACAGGGCTGCCGCCCGCAGAATCGCAGCTGCACGATC",
    ),
    (
        "ctcf_00011",
        "CGCAGTGGTCTTGGCAGCTGCCAGGAGTAGGTAGTGCCTCCGGACCCTCGCTAGGTGGCACTATCACAAAGGACAAAGCTGGTTGAAGCTACAGAAATCCC",
    ),
]
BACKGROUND = [
    (
        "ctcf_00000",
        "GTGGGGAGGGAGGCCGCCCCACTGCAGGTGGGCCTGTAGCAGCTGCACCTGAGGCAGGGCTGGCAGCCCCTGTGGGGAGGGAGGCCGCCCCACTGCAGGTG",
    ),
    (
        "ctcf_00001",
        "GTGTGGGATCATGTATCAGTGCAGCCTTGACCTCCTGGGCTCAAGCATTCTTCCCACCTCAACCTCTTGAGTAGCTGAAATTACAGGAACATGCCACCACA",
    ),
]


def fasta_text(records: list[tuple[str, str]], width: int = 0) -> str:
    """FASTA text; `width` > 0 wraps sequence lines."""
    lines = []
    for record_id, sequence in records:
        lines.append(f">{record_id}")
        step = width or len(sequence)
        lines += [sequence[i : i + step] for i in range(0, len(sequence), step)]
    return "\n".join(lines) + "\n"


def peaks(prefix: str, n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [
        (f"{prefix}_{i:05d}", "".join(rng.choice("ACGT") for _ in range(100))) for i in range(n)
    ]


@pytest.fixture
def bound_fa(tmp_path) -> Path:
    path = tmp_path / "bound.fa"
    path.write_text(fasta_text(BOUND + peaks("bound", 20, 1)))
    return path


@pytest.fixture
def background_fa(tmp_path) -> Path:
    path = tmp_path / "background.fa"
    path.write_text(fasta_text(BACKGROUND + peaks("background", 20, 2)))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One tiny model (1 epoch on the bundled example) shared by this module's run-based cases."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    result = runner.invoke(
        app, ["train", "--out", str(out), "--epochs", "1", "--quiet", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, out: Path, *fragments: str) -> str:
    """Exit code 1, one 'error:' line on stderr holding every fragment, no traceback, no output."""
    output = result.output
    assert result.exit_code == 1, output
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}\n{output}"
    assert "Traceback" not in output and "internal error" not in output, output
    stderr = result.stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    message = errors[0]
    # one line: the message is the last thing on stderr and has no continuation lines
    assert stderr[stderr.index("error:") :].count("\n") == 1, (
        f"message spans several lines:\n{stderr}"
    )
    assert "error:" not in result.stdout, "the error message went to stdout"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not out.exists(), f"{out} was left behind"
    assert not (out.parent / ".dnanet-cache").exists(), "the failed run left its store behind"
    leftovers = [p.name for p in out.parent.glob("*") if p.name.endswith(".partial")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return message


# --- input files ------------------------------------------------------------------------


def test_train_missing_file(tmp_path, background_fa):
    missing = tmp_path / "bound.fa"
    out = tmp_path / "run"
    assert_user_error(
        invoke("train", missing, background_fa, "--out", out), out, f"{missing}: no such file"
    )


def test_train_symlink_loop_and_broken_link(tmp_path, tiny_run, background_fa):
    loop, other = tmp_path / "loop.fa", tmp_path / "other.fa"
    loop.symlink_to(other)
    other.symlink_to(loop)
    out = tmp_path / "run"
    message = f"{loop}: a symbolic link that loops (it leads back to itself)"
    assert_user_error(invoke("train", loop, background_fa, "--out", out), out, message)
    assert_user_error(invoke("predict", tiny_run, loop, "--out", out), out, message)
    broken = tmp_path / "broken.fa"
    broken.symlink_to(tmp_path / "gone.fa")
    assert_user_error(
        invoke("train", broken, background_fa, "--out", out),
        out,
        f"{broken}: no such file (a symbolic link to a missing file)",
    )


def test_train_file_the_user_may_not_read(tmp_path, background_fa, bound_fa, monkeypatch):
    """One line, not Typer's usage box (root reads everything, so the refusal is simulated)."""
    import dnanet.inputs.read as read

    real_open = read.os.open

    def refusing(path, flags, *args):
        if Path(path) == bound_fa:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(read.os, "open", refusing)
    out = tmp_path / "run"
    assert_user_error(
        invoke("train", bound_fa, background_fa, "--out", out),
        out,
        f"{bound_fa}: permission denied (this user may not read it)",
    )


def test_a_huge_header_is_cut_in_the_message(tmp_path, background_fa):
    """A 10 MB header once made a 10 MB error line: the id is cut to its start and its length."""
    bad = tmp_path / "bound.fa"
    bad.write_text(">" + "x" * 10_000_000 + "\nACGT-ACGT\n")
    out = tmp_path / "run"
    message = assert_user_error(
        invoke("train", bad, background_fa, "--out", out), out, f"{bad} line 2, column 5"
    )
    assert len(message) < 500 and "(10,000,002 characters)" in message


def test_a_train_that_fails_after_reading_leaves_no_store(tmp_path, background_fa):
    """The store is built, then the split finds too few records: nothing is left behind."""
    small = tmp_path / "small.fa"
    small.write_text(fasta_text(BOUND))
    out = tmp_path / "run"
    assert_user_error(
        invoke("train", small, background_fa, "--out", out), out, "a class has only 3 sequences"
    )


def test_train_missing_file_named_class(tmp_path, background_fa):
    missing = tmp_path / "peaks" / "ctcf_bound.fa.gz"
    out = tmp_path / "run"
    result = invoke("train", f"bound={missing}", f"background={background_fa}", "--out", out)
    assert_user_error(result, out, f"{missing}: no such file")


def test_evaluate_missing_file(tmp_path, tiny_run, bound_fa):
    missing = tmp_path / "heldout_background.fa"
    out = tmp_path / "metrics.json"
    result = invoke(
        "evaluate", tiny_run, f"bound={bound_fa}", f"background={missing}", "--out", out
    )
    assert_user_error(result, out, f"{missing}: no such file")


def test_predict_missing_second_file(tmp_path, tiny_run, bound_fa):
    missing = tmp_path / "unknown.fa"
    out = tmp_path / "predictions.tsv"
    result = invoke("predict", tiny_run, bound_fa, missing, "--out", out)
    assert_user_error(result, out, f"{missing}: no such file")


def test_train_directory_as_fasta(tmp_path, background_fa):
    folder = tmp_path / "fasta_dir"
    folder.mkdir()
    (folder / "bound.fa").write_text(fasta_text(BOUND))
    out = tmp_path / "run"
    result = invoke("train", folder, background_fa, "--out", out)
    assert_user_error(result, out, f"{folder}: is a directory, expected a file")


def test_predict_directory_as_fasta(tmp_path, tiny_run):
    out = tmp_path / "predictions.tsv"
    folder = tmp_path / "fasta_dir"
    folder.mkdir()
    assert_user_error(
        invoke("predict", tiny_run, folder, "--out", out), out, f"{folder}: is a directory"
    )


def test_train_empty_file(tmp_path, bound_fa):
    empty = tmp_path / "background.fa"
    empty.write_bytes(b"")
    out = tmp_path / "run"
    assert_user_error(
        invoke("train", bound_fa, empty, "--out", out), out, f"{empty}: the file is empty"
    )


def test_evaluate_empty_file(tmp_path, tiny_run, bound_fa):
    empty = tmp_path / "background.fa"
    empty.write_bytes(b"")
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", tiny_run, bound_fa, empty, "--out", out)
    assert_user_error(result, out, f"{empty}: the file is empty")


@pytest.mark.parametrize(
    "text, line, found",
    [
        ("@ctcf_00006 1:N:0:1\nGTGCGAGATG\n+\nIIIIIIIIII\n", 1, "'@ctcf_00006 1:N:0:1'"),  # FASTQ
        ("sequence\tlabel\nGTGCGAGATGACGCAC\t1\n", 1, "'sequence\\tlabel'"),  # the DNABERT TSV
        (
            "\n\nGTGCGAGATGACGCACTTCC\n",
            3,
            "'GTGCGAGATGACGCACTTCC'",
        ),  # bare sequence after blank lines
    ],
)
def test_train_text_without_header(tmp_path, background_fa, text, line, found):
    path = tmp_path / "bound.fa"
    path.write_text(text)
    out = tmp_path / "run"
    result = invoke("train", path, background_fa, "--out", out)
    message = assert_user_error(
        result, out, f"{path} line {line}: expected a FASTA header starting with '>'"
    )
    assert message.endswith(f"found {found}")


def test_train_binary_png(tmp_path, background_fa):
    path = tmp_path / "bound.fa"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x00\x00\x00\x02\x00\x08\x06" + bytes(64)
    )
    out = tmp_path / "run"
    result = invoke("train", path, background_fa, "--out", out)
    assert_user_error(
        result, out, f"{path} line 1: expected a FASTA header starting with '>'", "PNG"
    )


def test_predict_random_bytes(tmp_path, tiny_run):
    path = tmp_path / "reads.fa"
    path.write_bytes(random.Random(0).randbytes(4096))
    out = tmp_path / "predictions.tsv"
    assert_user_error(
        invoke("predict", tiny_run, path, "--out", out),
        out,
        f"{path} line 1: expected a FASTA header",
    )


def _truncated_gzip(path: Path) -> Path:
    data = gzip.compress(fasta_text(BOUND + peaks("bound", 300, 3), width=60).encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def test_train_truncated_gzip(tmp_path, background_fa):
    path = _truncated_gzip(tmp_path / "bound.fa.gz")
    out = tmp_path / "run"
    result = invoke("train", path, background_fa, "--out", out)
    assert_user_error(result, out, f"{path}: truncated or corrupt gzip file")


def test_predict_truncated_gzip(tmp_path, tiny_run):
    path = _truncated_gzip(tmp_path / "unknown.fa.gz")
    out = tmp_path / "predictions.tsv"
    result = invoke("predict", tiny_run, path, "--out", out, "--batch-size", "16")
    assert_user_error(result, out, f"{path}: truncated or corrupt gzip file")


def test_train_bzip2(tmp_path, background_fa):
    path = tmp_path / "bound.fa.bz2"
    path.write_bytes(bz2.compress(fasta_text(BOUND).encode()))
    out = tmp_path / "run"
    result = invoke("train", f"bound={path}", f"background={background_fa}", "--out", out)
    assert_user_error(result, out, f"{path}: bzip2-compressed files are not supported")


def test_train_empty_sequence(tmp_path, background_fa):
    path = tmp_path / "bound.fa"
    path.write_text(
        fasta_text(BOUND[:2]) + ">chr7:27139870-27139970 no sequence\n" + fasta_text(BOUND[2:])
    )
    out = tmp_path / "run"
    result = invoke("train", path, background_fa, "--out", out)
    assert_user_error(
        result, out, f"{path} line 5: record 'chr7:27139870-27139970' has an empty sequence"
    )


@pytest.mark.parametrize("bad", ["Z", "-", "*", "7"])
def test_train_illegal_character(tmp_path, background_fa, bad):
    record_id, sequence = BOUND[1]
    broken = sequence[:70] + bad + sequence[71:]
    path = tmp_path / "bound.fa"
    path.write_text(fasta_text([BOUND[0], (record_id, broken), BOUND[2]], width=60))
    out = tmp_path / "run"
    result = invoke("train", path, background_fa, "--out", out)
    # record 2's header is line 4; base 71 is on its second sequence line (line 6), column 11
    assert_user_error(
        result,
        out,
        f"{path} line 6, column 11: record '{record_id}' has an illegal character '{bad}'",
    )


def test_evaluate_illegal_character(tmp_path, tiny_run, bound_fa):
    path = tmp_path / "background.fa"
    path.write_text(fasta_text(BACKGROUND) + ">gap_rich\nACGTNNNN----ACGT\n")
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", tiny_run, bound_fa, path, "--out", out)
    assert_user_error(
        result, out, f"{path} line 6, column 9: record 'gap_rich' has an illegal character '-'"
    )


def test_predict_bad_record_in_the_middle_of_the_second_file(tmp_path, tiny_run, bound_fa):
    second = tmp_path / "unknown.fa"
    good = peaks("unknown", 12, 4)
    second.write_text(
        fasta_text(good[:6])
        + ">sp|P04637|P53_HUMAN\nMEEPQSDPSVEPPLSQETFSDLWKLL\n"
        + fasta_text(good[6:])
    )
    out = tmp_path / "predictions.tsv"
    # a protein record (TP53) slipped in; M is an IUPAC code, E is the first illegal letter.
    # small batches: rows of the first file and the start of the second are written before the error
    result = invoke("predict", tiny_run, bound_fa, second, "--out", out, "--batch-size", "4")
    assert_user_error(
        result,
        out,
        f"{second} line 14, column 2: record 'sp|P04637|P53_HUMAN' has an illegal character 'E'",
    )


def test_predict_into_a_new_folder_leaves_no_folder_behind(tmp_path, tiny_run):
    missing = tmp_path / "unknown.fa"
    out = tmp_path / "results" / "predictions.tsv"
    assert_user_error(
        invoke("predict", tiny_run, missing, "--out", out), out, f"{missing}: no such file"
    )
    assert not out.parent.exists(), "predict created the --out folder although it failed"


# --- classes and labels -----------------------------------------------------------------


def test_train_single_file_is_a_single_class(tmp_path, bound_fa):
    out = tmp_path / "run"
    assert_user_error(
        invoke("train", bound_fa, "--out", out), out, "at least two classes", "'bound'"
    )


def test_train_two_files_with_the_same_class(tmp_path, bound_fa, background_fa):
    out = tmp_path / "run"
    result = invoke("train", f"bound={bound_fa}", f"bound={background_fa}", "--out", out)
    assert_user_error(result, out, "at least two classes", "'bound'")


def test_evaluate_class_the_model_does_not_know(tmp_path, tiny_run, bound_fa, background_fa):
    out = tmp_path / "metrics.json"
    result = invoke(
        "evaluate", tiny_run, f"bound={bound_fa}", f"enhancer={background_fa}", "--out", out
    )
    assert_user_error(
        result,
        out,
        f"{background_fa} line 1: class 'enhancer' is not one of the model's classes: "
        "bound, background",
    )


def test_evaluate_class_from_file_name_the_model_does_not_know(tmp_path, tiny_run, bound_fa):
    other = tmp_path / "promoters.fa.gz"
    other.write_bytes(gzip.compress(fasta_text(BACKGROUND).encode()))
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", tiny_run, bound_fa, other, "--out", out)
    assert_user_error(
        result, out, f"{other} line 1: class 'promoters' is not one of the model's classes"
    )


def test_train_labels_table_missing_ids(tmp_path, bound_fa, background_fa):
    table = tmp_path / "labels.tsv"
    rows = [(rid, "bound") for rid, _ in BOUND + peaks("bound", 20, 1)] + [
        (rid, "background") for rid, _ in BACKGROUND
    ]
    table.write_text("id\tlabel\n" + "".join(f"{rid}\t{label}\n" for rid, label in rows))
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "--labels", table, "--out", out)
    # background.fa: ctcf_00000 (line 1), ctcf_00001 (line 3), then background_00000 on line 5
    assert_user_error(
        result,
        out,
        f"{background_fa} line 5: record 'background_00000' has no row in the label table",
    )


def test_train_labels_table_without_label_column(tmp_path, bound_fa, background_fa):
    table = tmp_path / "labels.csv"
    table.write_text("id,class\nctcf_00006,bound\nctcf_00000,background\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "--labels", table, "--out", out)
    assert_user_error(result, out, f"{table} line 1: no column 'label'", "id, class")


def test_train_labels_table_with_duplicate_id(tmp_path, bound_fa, background_fa):
    table = tmp_path / "labels.tsv"
    table.write_text(
        "id\tlabel\nctcf_00006\tbound\nctcf_00000\tbackground\nctcf_00006\tbackground\n"
    )
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "--labels", table, "--out", out)
    assert_user_error(result, out, f"{table} lines 2 and 4: id 'ctcf_00006' appears more than once")


def test_train_labels_table_with_a_ragged_row(tmp_path, bound_fa, background_fa):
    table = tmp_path / "labels.tsv"
    table.write_text("id\tlabel\nctcf_00006\tbound\nctcf_00010\tbound\tK562\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "--labels", table, "--out", out)
    assert_user_error(result, out, f"{table}: cannot read as a TSV table", "line 3")


def test_train_labels_table_with_trailing_tabs(tmp_path, bound_fa, background_fa):
    """Spreadsheet exports often end rows with a tab: no internal error, whatever the outcome."""
    table = tmp_path / "labels.tsv"
    rows = [(rid, "bound") for rid, _ in BOUND]
    table.write_text("id\tlabel\n" + "".join(f"{rid}\t{label}\t\n" for rid, label in rows))
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "--labels", table, "--out", out)
    message = assert_user_error(result, out)
    # either the trailing tab is ignored (then bound_00000, line 7 of bound.fa, has no row)
    # or the table is rejected with a message naming it
    assert (
        f"{bound_fa} line 7: record 'bound_00000' has no row in the label table" in message
        or str(table) in message
    ), message


# --- model and config -------------------------------------------------------------------


def test_train_unknown_model(tmp_path, bound_fa, background_fa):
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "--model", "foo", "--out", out)
    assert_user_error(result, out, "unknown model 'foo'; valid models: cnn")


def test_train_config_unknown_key(tmp_path, bound_fa, background_fa):
    config = tmp_path / "my.yaml"
    config.write_text("seed: 1\ntrain:\n  epochs: 3\n  learning_rate: 0.01\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    message = assert_user_error(result, out, f"{config}: unknown key 'train.learning_rate'")
    assert "valid keys in 'train': epochs, steps_per_epoch, batch_size, lr," in message


def test_train_config_unknown_top_level_key(tmp_path, bound_fa, background_fa):
    config = tmp_path / "my.yaml"
    config.write_text("seed: 1\noptimizer:\n  name: sgd\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    assert_user_error(
        result, out, f"{config}: unknown key 'optimizer'", "seed, encoder, data, model, train"
    )


def test_train_config_unknown_model_argument(tmp_path, bound_fa, background_fa):
    config = tmp_path / "my.yaml"
    config.write_text("model:\n  name: cnn\n  filters: 64\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    assert_user_error(result, out, f"{config}: unknown key 'model.filters'", "channels")


@pytest.mark.parametrize(
    "yaml_text, key, expected",
    [
        ("train:\n  epochs: ten\n", "train.epochs", "must be an integer, got 'ten'"),
        ("train:\n  lr: fast\n", "train.lr", "must be a number, got 'fast'"),
        (
            "train:\n  reverse_complement: maybe\n",
            "train.reverse_complement",
            "must be one of auto, true, false, got 'maybe'",
        ),
        ("encoder:\n  name: bpe\n", "encoder.name", "must be one of onehot, kmer, got 'bpe'"),
        (
            "model:\n  name: cnn\n  channels: 12.5\n",
            "model.channels",
            "must be an integer, got 12.5",
        ),
    ],
)
def test_train_config_wrong_type(tmp_path, bound_fa, background_fa, yaml_text, key, expected):
    config = tmp_path / "my.yaml"
    config.write_text(yaml_text)
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    assert_user_error(result, out, f"{config}: '{key}' {expected}")


def test_train_config_invalid_yaml(tmp_path, bound_fa, background_fa):
    config = tmp_path / "my.yaml"
    config.write_text("seed: 0\ntrain:\n  epochs: 3\n   lr: 0.1\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    assert_user_error(result, out, f"{config} line 4: invalid YAML")


def test_train_config_not_a_mapping(tmp_path, bound_fa, background_fa):
    config = tmp_path / "my.yaml"
    config.write_text("- epochs: 3\n- lr: 0.1\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    assert_user_error(result, out, f"{config}: a config must be a mapping")


def test_train_config_missing(tmp_path, bound_fa, background_fa):
    config = tmp_path / "configs" / "cnn_small.yaml"
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out)
    assert_user_error(result, out, f"{config}: no such config file")


# --- run folders ------------------------------------------------------------------------


def test_predict_run_folder_without_model_json(tmp_path, tiny_run, bound_fa):
    run = tmp_path / "run_copy"
    shutil.copytree(tiny_run, run)
    (run / "model.json").unlink()
    out = tmp_path / "predictions.tsv"
    assert_user_error(
        invoke("predict", run, bound_fa, "--out", out),
        out,
        f"{run}: not a dnanet run (no model.json)",
    )


def test_evaluate_folder_that_is_not_a_run(tmp_path, bound_fa, background_fa):
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", tmp_path, bound_fa, background_fa, "--out", out)
    assert_user_error(result, out, f"{tmp_path}: not a dnanet run (no model.json)")


def test_predict_missing_run_folder(tmp_path, bound_fa):
    run = tmp_path / "runs" / "ctcf"
    out = tmp_path / "predictions.tsv"
    assert_user_error(
        invoke("predict", run, bound_fa, "--out", out), out, f"{run}: no such run folder"
    )


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_corrupt_model_safetensors(tmp_path, tiny_run, bound_fa, background_fa, damage, command):
    run = tmp_path / "run_copy"
    shutil.copytree(tiny_run, run)
    weights = run / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {
            "garbage": random.Random(5).randbytes(4096),
            "truncated": data[: len(data) // 2],
            "empty": b"",
        }[damage]
    )
    out = tmp_path / ("metrics.json" if command == "evaluate" else "predictions.tsv")
    result = invoke(command, run, bound_fa, background_fa, "--out", out)
    assert_user_error(result, out, f"{run}: model.safetensors")


def test_corrupt_model_json(tmp_path, tiny_run, bound_fa):
    run = tmp_path / "run_copy"
    shutil.copytree(tiny_run, run)
    text = (run / "model.json").read_text()
    (run / "model.json").write_text(text[: len(text) // 2])
    out = tmp_path / "predictions.tsv"
    assert_user_error(
        invoke("predict", run, bound_fa, "--out", out), out, f"{run / 'model.json'}: not valid JSON"
    )


def test_cnn_run_from_before_the_readout_change_is_refused(tmp_path, tiny_run, bound_fa):
    """Its weights would load into the new layers and silently predict differently."""
    run = tmp_path / "run_copy"
    shutil.copytree(tiny_run, run)
    description = json.loads((run / "model.json").read_text())
    (run / "model.json").write_text(json.dumps({**description, "format_version": 1}))
    out = tmp_path / "predictions.tsv"
    assert_user_error(
        invoke("predict", run, bound_fa, "--out", out),
        out,
        f"{run}: made by an older dnanet (run format 1); its cnn layers have changed",
        "train it again",
    )


# --- output paths -----------------------------------------------------------------------


def test_train_out_exists_without_overwrite(tmp_path, bound_fa, background_fa):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    result = invoke("train", bound_fa, background_fa, "--out", out)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out}: already exists; choose another --out or pass --overwrite"]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_train_out_is_an_existing_file(tmp_path, bound_fa, background_fa):
    out = tmp_path / "run"
    out.write_text("not a folder\n")
    result = invoke("train", bound_fa, background_fa, "--out", out, "--overwrite")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"error: {out}: exists and is not a directory" in result.stderr
    assert out.read_text() == "not a folder\n"


def test_train_out_exists_is_checked_before_reading_inputs(tmp_path, background_fa):
    """The --out check comes first: no time is spent reading (possibly large) inputs."""
    out = tmp_path / "run"
    out.mkdir()
    result = invoke("train", tmp_path / "missing.fa", background_fa, "--out", out)
    assert result.exit_code == 1, result.output
    assert f"{out}: already exists" in result.stderr


# --- messages are printed verbatim ------------------------------------------------------


def test_message_with_markup_like_text_is_printed_verbatim(tmp_path, background_fa):
    """An INI/TOML file given as FASTA: its first line '[metadata]' must appear in the message."""
    path = tmp_path / "setup.cfg"
    path.write_text("[metadata]\nname = dnanet\n")
    out = tmp_path / "run"
    result = invoke("train", f"bound={path}", f"background={background_fa}", "--out", out)
    assert_user_error(
        result, out, f"{path} line 1: expected a FASTA header starting with '>', found '[metadata]'"
    )


def test_message_with_closing_tag_like_text_is_printed_verbatim(tmp_path, tiny_run):
    path = tmp_path / "notes.txt"
    path.write_text("[/data] moved to /scratch\n")
    out = tmp_path / "predictions.tsv"
    result = invoke("predict", tiny_run, path, "--out", out)
    assert_user_error(
        result, out, f"{path} line 1: expected a FASTA header", "'[/data] moved to /scratch'"
    )


def test_file_name_with_brackets_is_printed_verbatim(tmp_path, background_fa):
    path = tmp_path / "bound[rep1].fa"
    path.write_text(">ctcf_00006\nGTGCGAGATGACZCAC\n")
    out = tmp_path / "run"
    result = invoke("train", f"bound={path}", f"background={background_fa}", "--out", out)
    assert_user_error(
        result, out, f"{path} line 2, column 13: record 'ctcf_00006' has an illegal character 'Z'"
    )


def test_train_model_settings_the_model_rejects(tmp_path, bound_fa, background_fa):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  name: transformer\n  d_model: 30\n  heads: 4\n")
    out = tmp_path / "run"
    result = invoke("train", bound_fa, background_fa, "-c", config, "--out", out, "--quiet")
    assert_user_error(
        result, out, "model settings: transformer: d_model (30) must be a multiple of heads (4)"
    )
