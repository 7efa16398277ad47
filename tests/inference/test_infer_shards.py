"""Inference split across jobs and processes: `--shard K/N` outputs laid end to end are the
unsharded output, and `torchrun -m dnanet predict/embed` writes one output equal to a single
process's, with no part files left behind (after success or a failure in one process)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dnanet.cli import app
from dnanet.examples import example_path

REPO = Path(__file__).resolve().parents[2]
HELDOUT = [
    str(example_path("heldout_bound.fa")),
    str(example_path("heldout_background.fa")),
]  # 75 + 75 records


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, runner) -> Path:
    """A run trained for one epoch on the bundled example: predictions need a model, not a good
    one."""
    out = tmp_path_factory.mktemp("shards") / "run"
    result = runner.invoke(
        app, ["train", "--out", str(out), "--epochs", "1", "--threads", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return out


def assert_same_rows(merged: pd.DataFrame, single: pd.DataFrame, atol: float = 2e-6) -> None:
    """Same columns, ids and text cells; numbers equal to the last printed digit (batches of other
    sizes may sum in another order, so a rounded last digit can differ)."""
    assert merged.columns.tolist() == single.columns.tolist()
    numbers = merged.select_dtypes("number").columns
    pd.testing.assert_frame_equal(merged.drop(columns=numbers), single.drop(columns=numbers))
    np.testing.assert_allclose(
        merged[numbers].to_numpy(), single[numbers].to_numpy(), rtol=1e-6, atol=atol
    )


def read_tsvs(*paths: Path) -> pd.DataFrame:
    """The files laid end to end (`cat`), read as one TSV."""
    return pd.read_csv(io.StringIO("".join(path.read_text() for path in paths)), sep="\t")


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
    return path


# --- --shard K/N -----------------------------------------------------------------------------


def invoke(runner, *arguments):
    result = runner.invoke(app, [*arguments, "--threads", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    return result


def test_predict_shards_concatenate_to_the_unsharded_tsv(runner, quick_run, tmp_path):
    invoke(runner, "predict", str(quick_run), *HELDOUT, "--out", str(tmp_path / "all.tsv"))
    shards = []
    for k in (1, 2, 3):  # 50 records each; shard 2 spans both files
        shards.append(tmp_path / f"p.{k}.tsv")
        result = invoke(
            runner,
            "predict",
            str(quick_run),
            *HELDOUT,
            "--out",
            str(shards[-1]),
            "--shard",
            f"{k}/3",
        )
        assert f"shard {k}/3: 50 predictions written" in result.output
    assert_same_rows(read_tsvs(*shards), read_tsvs(tmp_path / "all.tsv"))
    assert shards[0].read_text().startswith("id\t") and not shards[1].read_text().startswith("id\t")


def test_embed_shards_put_together_equal_the_unsharded_output_in_every_format(
    runner, quick_run, tmp_path
):
    for suffix in (".tsv", ".npy", ".parquet"):
        invoke(runner, "embed", str(quick_run), *HELDOUT, "--out", str(tmp_path / f"all{suffix}"))
        for k in (1, 2, 3):
            invoke(
                runner,
                "embed",
                str(quick_run),
                *HELDOUT,
                "--out",
                str(tmp_path / f"e.{k}{suffix}"),
                "--shard",
                f"{k}/3",
            )
    shards = [tmp_path / f"e.{k}" for k in (1, 2, 3)]
    assert_same_rows(
        read_tsvs(*[Path(f"{s}.tsv") for s in shards]), read_tsvs(tmp_path / "all.tsv")
    )
    np.testing.assert_allclose(
        np.concatenate([np.load(f"{s}.npy") for s in shards]),
        np.load(tmp_path / "all.npy"),
        rtol=1e-6,
        atol=1e-6,
    )
    assert (
        "".join(Path(f"{s}.ids.txt").read_text() for s in shards)
        == (tmp_path / "all.ids.txt").read_text()
    )
    merged = pd.concat([pd.read_parquet(f"{s}.parquet") for s in shards], ignore_index=True)
    assert_same_rows(merged, pd.read_parquet(tmp_path / "all.parquet"), atol=1e-6)


def test_more_shards_than_records_leaves_empty_shards_that_still_concatenate(
    runner, quick_run, tmp_path
):
    fasta = write_fasta(tmp_path / "two.fa", {"a": "ACGTACGTAC" * 10, "b": "TTGCA" * 20})
    invoke(runner, "embed", str(quick_run), str(fasta), "--out", str(tmp_path / "all.tsv"))
    for k in (1, 2, 3):  # shard 1 is empty (0 of 2 records), yet it carries the header
        invoke(
            runner,
            "embed",
            str(quick_run),
            str(fasta),
            "--out",
            str(tmp_path / f"e.{k}.tsv"),
            "--shard",
            f"{k}/3",
        )
        invoke(
            runner,
            "embed",
            str(quick_run),
            str(fasta),
            "--out",
            str(tmp_path / f"e.{k}.npy"),
            "--shard",
            f"{k}/3",
        )
    assert_same_rows(
        read_tsvs(*[tmp_path / f"e.{k}.tsv" for k in (1, 2, 3)]), read_tsvs(tmp_path / "all.tsv")
    )
    assert np.load(tmp_path / "e.1.npy").shape == (
        0,
        128,
    )  # the vectors' width, so np.concatenate works
    assert np.concatenate([np.load(tmp_path / f"e.{k}.npy") for k in (1, 2, 3)]).shape == (2, 128)


@pytest.mark.parametrize("command", ["predict", "embed"])
@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_bad_shards_are_one_line_errors_before_any_work(
    runner, quick_run, tmp_path, command, value
):
    out = tmp_path / "out.tsv"
    result = runner.invoke(app, [command, str(quick_run), "--out", str(out), "--shard", value])
    assert result.exit_code == 1 and "expected K/N with 1 <= K <= N" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_shard_under_torchrun_is_refused(runner, quick_run, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = runner.invoke(
        app, ["predict", str(quick_run), "--out", str(tmp_path / "p.tsv"), "--shard", "1/2"]
    )
    assert (
        result.exit_code == 1
        and "under torchrun the processes split the input themselves" in result.output
    )
    assert len(result.output.strip().splitlines()) == 1


# --- torchrun ----------------------------------------------------------------------------------


def torchrun(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "dnanet",
        *arguments,
        "--threads",
        "1",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


needs_distributed = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)


@needs_distributed
def test_torchrun_predict_writes_one_tsv_equal_to_a_single_process(runner, quick_run, tmp_path):
    invoke(runner, "predict", str(quick_run), *HELDOUT, "--out", str(tmp_path / "single.tsv"))
    done = torchrun(
        "predict", str(quick_run), *HELDOUT, "--out", str(tmp_path / "dist" / "p.tsv"), cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stderr.split())  # rich wraps long lines
    assert said.count("150 predictions written to") == 1 and said.endswith(
        "by 2 processes"
    )  # rank 0 alone
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["p.tsv"]  # no part files left
    assert_same_rows(read_tsvs(tmp_path / "dist" / "p.tsv"), read_tsvs(tmp_path / "single.tsv"))


@needs_distributed
def test_torchrun_embed_writes_one_output_and_plot_equal_to_a_single_process(
    runner, quick_run, tmp_path
):
    invoke(runner, "embed", str(quick_run), *HELDOUT, "--out", str(tmp_path / "single.npy"))
    dist = tmp_path / "dist"
    done = torchrun(
        "embed",
        str(quick_run),
        *[f"{c}={p}" for c, p in zip(("bound", "background"), HELDOUT)],
        "--out",
        str(dist / "e.npy"),
        "--plot",
        str(dist / "e.png"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert said.count("150 vectors of 128 values written") == 1 and said.endswith("by 2 processes")
    assert sorted(p.name for p in dist.iterdir()) == ["e.ids.txt", "e.npy", "e.png"]
    np.testing.assert_allclose(
        np.load(dist / "e.npy"), np.load(tmp_path / "single.npy"), rtol=1e-6, atol=1e-6
    )
    assert (dist / "e.ids.txt").read_text() == (tmp_path / "single.ids.txt").read_text()


@needs_distributed
def test_torchrun_failure_in_one_process_is_reported_once_and_leaves_nothing(quick_run, tmp_path):
    fasta = tmp_path / "in.fa"
    fasta.write_text(
        example_path("heldout_bound.fa").read_text() + ">broken\nACGT-ACGT\n"
    )  # in process 1's half
    done = torchrun(
        "predict",
        str(quick_run),
        str(fasta),
        "--out",
        str(tmp_path / "new" / "p.tsv"),
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert done.stderr.count("error: process 1 of 2 failed, so no output was written") == 1, (
        done.stderr
    )
    assert "record 'broken' has an illegal character '-'" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa"]  # no output, parts or new folder
