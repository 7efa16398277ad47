"""Fault injection: signals, kills, full disks, unwritable and odd --out paths, concurrent writers.

The promise under test (`dnanet.files.outputs`, docs/guide/guarantees.md): an output is
either the old one or the complete new one, never half-written; nothing hidden is left behind after
an error, Ctrl-C or SIGTERM, and what a kill -9 leaves is cleaned up by the next run on that output.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dnanet
from dnanet.cli import app
from dnanet.errors import DnanetError

REPO = Path(dnanet.__file__).resolve().parent.parent
TINY = (
    "model:\n  name: cnn\n  channels: 8\n  hidden: 8\n"
    "train:\n  epochs: {epochs}\n  patience: 1000\n"
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, runner) -> Path:
    """A small CNN trained for 2 epochs on the bundled CTCF example (enough to predict and
    embed)."""
    folder = tmp_path_factory.mktemp("faults")
    (folder / "tiny.yaml").write_text(TINY.format(epochs=2))
    result = runner.invoke(
        app,
        [
            "train",
            "-c",
            str(folder / "tiny.yaml"),
            "--out",
            str(folder / "run"),
            "-q",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder / "run"


@pytest.fixture(scope="module")
def big_fasta(tmp_path_factory) -> Path:
    """60,000 records of 150 bases: a few seconds of predicting, time to interrupt it."""
    path = tmp_path_factory.mktemp("big") / "big.fa"
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[
        np.random.default_rng(0).integers(0, 4, (60_000, 150))
    ]
    path.write_text("".join(f">r{i}\n{row.tobytes().decode()}\n" for i, row in enumerate(letters)))
    return path


def _start(arguments: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dnanet", *arguments],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(check, process: subprocess.Popen, timeout: float = 90) -> None:
    """Poll `check()` until true; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            pytest.fail(
                f"the command ended (exit {process.returncode}) before the moment to interrupt it: "
                f"{process.stderr.read()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting for the moment to interrupt")
        time.sleep(0.02)


def _hidden(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".dnanet-cache"
    )


def _partials(folder: Path, name: str) -> list[Path]:
    return list(folder.glob(f".{name}.*.partial"))


# --- --out that must be refused --------------------------------------------------------------


def test_out_at_a_symlink_fifo_socket_or_device_is_refused(runner, tmp_path):
    target = tmp_path / "target.tsv"
    target.write_text("mine\n")
    (tmp_path / "link.tsv").symlink_to(target)
    os.mkfifo(tmp_path / "fifo.tsv")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.tsv"))
    try:
        for out, kind in [
            (tmp_path / "link.tsv", "symbolic link"),
            (tmp_path / "fifo.tsv", "FIFO"),
            (tmp_path / "sock.tsv", "socket"),
            (Path("/dev/null"), "character device"),
        ]:
            for command in (
                ["predict", "no-such-run"],
                ["evaluate", "no-such-run"],
                ["embed", "no-such-run"],
            ):
                result = runner.invoke(app, [*command, "--out", str(out), "--overwrite"])
                assert result.exit_code == 1, (command, out, result.output)
                assert f"{out}: is a {kind}" in result.output
                assert len(result.output.strip().splitlines()) == 1
            result = runner.invoke(app, ["train", "--out", str(out), "--overwrite"])
            assert result.exit_code == 1 and f"is a {kind}" in result.output, result.output
    finally:
        server.close()
    assert target.read_text() == "mine\n" and (tmp_path / "link.tsv").is_symlink()
    assert _hidden(tmp_path) == []


# --- one overwrite rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command,name", [("predict", "p.tsv"), ("evaluate", "m.json"), ("embed", "e.tsv")]
)
def test_an_existing_output_is_refused_unless_overwrite(runner, tiny_run, tmp_path, command, name):
    out = tmp_path / name
    out.write_text("old\n")
    result = runner.invoke(app, [command, str(tiny_run), "--out", str(out), "--threads", "1"])
    assert (
        result.exit_code == 1
        and f"{out}: already exists" in result.output
        and "--overwrite" in result.output
    )
    assert out.read_text() == "old\n"
    result = runner.invoke(
        app, [command, str(tiny_run), "--out", str(out), "--threads", "1", "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() != "old\n" and _hidden(tmp_path) == []


# --- disk full, no space, unwritable ---------------------------------------------------------


def test_disk_full_while_predicting_keeps_the_old_output_and_names_the_path(
    runner, tiny_run, tmp_path, monkeypatch
):
    import dnanet.inference.predict

    out = tmp_path / "p.tsv"
    out.write_text("old predictions\n")
    real = dnanet.inference.predict.write_predictions

    def fills_the_disk(handle, *args, **kwargs):
        handle.write("id\tpredicted\n" + "half a row")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dnanet.inference.predict, "write_predictions", fills_the_disk)
    result = runner.invoke(app, ["predict", str(tiny_run), "--out", str(out), "--overwrite", "-q"])
    assert result.exit_code == 1
    assert f"error: {out}: could not be written: No space left on device" in result.output
    assert ".partial" not in result.output
    assert out.read_text() == "old predictions\n" and _hidden(tmp_path) == []
    monkeypatch.setattr(dnanet.inference.predict, "write_predictions", real)


def test_train_overwrite_that_fails_keeps_the_old_run(runner, tiny_run, tmp_path, monkeypatch):
    import dnanet.training.experiment

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}  # report/ is a folder
    (tmp_path / "tiny.yaml").write_text(TINY.format(epochs=1))

    def fills_the_disk(folder, result):
        (folder / "model.json").write_text("{")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "model.json"))

    monkeypatch.setattr(dnanet.training.experiment, "write_run", fills_the_disk)
    result = runner.invoke(
        app,
        [
            "train",
            "-c",
            str(tmp_path / "tiny.yaml"),
            "--out",
            str(run),
            "--overwrite",
            "-q",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 1
    assert (
        f"error: {run}: could not be written: No space left on device; "
        "nothing was written (the old one is kept)" in result.output
    )
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert not _partials(tmp_path, "run") and ".run.lock" not in _hidden(tmp_path)


def test_too_little_free_space_fails_before_training(runner, tmp_path, monkeypatch):
    free = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: free._replace(free=1 << 20))
    started = time.monotonic()
    result = runner.invoke(
        app, ["train", "--out", str(tmp_path / "runs" / "r"), "-q", "--threads", "1"]
    )
    assert result.exit_code == 1 and "r: only 1.0 MB free on its file system" in result.output, (
        result.output
    )
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []  # not even the runs/ folder it would have made


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_fails_at_once(runner, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        started = time.monotonic()
        result = runner.invoke(app, ["train", "--out", str(folder / "r"), "-q"])
        assert (
            result.exit_code == 1 and f"{folder / 'r'}: cannot write in {folder}" in result.output
        ), result.output
        assert time.monotonic() - started < 10 and list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# --- interruptions ---------------------------------------------------------------------------


@pytest.mark.parametrize("command,name", [("predict", "p.tsv"), ("embed", "e.npy")])
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_while_writing_leaves_nothing_and_the_next_run_cleans_up(
    runner, tiny_run, big_fasta, tmp_path, monkeypatch, command, name, how
):
    out = tmp_path / name
    arguments = [command, str(tiny_run), str(big_fasta), "--out", name, "-q", "--threads", "1"]
    process = _start(arguments, tmp_path)
    _wait_for(
        lambda: any(
            p.stat().st_size > 0
            for p in tmp_path.glob(f".{name}.*")
            if p.suffix in (".partial", ".rows")
        ),
        process,
    )
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    assert not out.exists()  # nothing half-written under the user's name
    if how == signal.SIGTERM:
        assert process.returncode == 143
        assert (
            stderr.strip().splitlines()[-1]
            == "terminated (SIGTERM); no output was written, temporary files removed"
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == []
        return
    assert process.returncode == -signal.SIGKILL and _partials(tmp_path, name)
    monkeypatch.chdir(tmp_path)
    again = runner.invoke(app, [command, str(tiny_run), "--out", name, "-q", "--threads", "1"])
    assert again.exit_code == 0, again.output
    assert f"removed (left by process {process.pid}, which is no longer running)" in again.output
    expected = [name] + (["e.ids.txt"] if name == "e.npy" else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    if name == "e.npy":
        assert (
            np.load(out).shape[0] == len((tmp_path / "e.ids.txt").read_text().splitlines()) == 150
        )


def test_sigterm_and_a_concurrent_train_then_sigkill_and_the_next_run(
    runner, tmp_path, monkeypatch
):
    (tmp_path / "long.yaml").write_text(TINY.format(epochs=500))
    arguments = ["train", "-c", "long.yaml", "--out", "runs/r", "-q", "--threads", "1"]
    first = _start(arguments, tmp_path)
    _wait_for(lambda: (tmp_path / "runs" / ".r.checkpoint" / "state.json").exists(), first)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    second = runner.invoke(app, [*arguments, "--overwrite"])
    assert second.exit_code == 1 and time.monotonic() - started < 10
    assert (
        f"runs/r: another dnanet process (pid {first.pid}) is writing it right now" in second.output
    )
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 143, stderr
    assert (
        "terminated (SIGTERM); the finished epochs are kept: "
        "continue with dnanet train --resume runs/r" in stderr
    )
    assert (
        _hidden(tmp_path / "runs") == [".r.checkpoint"] and not (tmp_path / "runs" / "r").exists()
    )

    killed = _start([*arguments, "--overwrite"], tmp_path)
    _wait_for(
        lambda: (
            (tmp_path / "runs" / ".r.checkpoint" / "state.json").exists()
            and killed.pid == _lock_holder(tmp_path / "runs" / ".r.lock")
        ),
        killed,
    )
    killed.kill()
    killed.wait(timeout=60)
    assert not (tmp_path / "runs" / "r").exists()
    again = runner.invoke(app, [*arguments, "--overwrite", "--epochs", "1"])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".dnanet-cache", "r"]
    assert {"model.safetensors", "model.json", "metrics.json", "history.csv"} <= {
        p.name for p in (tmp_path / "runs" / "r").iterdir()
    }


def _lock_holder(path: Path) -> int | None:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return None


def test_a_second_predict_to_the_same_file_fails_at_once(
    runner, tiny_run, big_fasta, tmp_path, monkeypatch
):
    arguments = ["predict", str(tiny_run), str(big_fasta), "--out", "p.tsv", "-q", "--threads", "1"]
    first = _start(arguments, tmp_path)
    _wait_for(lambda: bool(_partials(tmp_path, "p.tsv")), first)
    monkeypatch.chdir(tmp_path)
    second = runner.invoke(app, [*arguments, "--overwrite"])
    assert second.exit_code == 1
    assert second.output.strip() == (
        f"error: p.tsv: another dnanet process (pid {first.pid}) is writing it right "
        "now; wait for it to finish or choose another --out"
    )
    assert first.poll() is None  # the first is still at work, and finishes normally
    assert first.wait(timeout=120) == 0
    assert len((tmp_path / "p.tsv").read_text().splitlines()) == 60_001
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tsv"]


# --- a kill in the middle of the swap ---------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_run_killed_mid_swap_is_put_back_by_the_next_claim(tmp_path):
    """Killed after setting the old folder aside and before renaming the new one in: the old one
    is restored (the new one might be incomplete), and the half-made new one removed."""
    from dnanet.files.outputs import Output

    pid = _dead_pid()
    (tmp_path / f".run.{pid}-abc.old").mkdir()
    (tmp_path / f".run.{pid}-abc.old" / "model.json").write_text("{}")
    (tmp_path / f".run.{pid}-abc.partial").mkdir()
    output = Output(tmp_path / "run", overwrite=False, folder=True)
    with pytest.raises(DnanetError, match="already exists"):
        output.claim()
    assert (tmp_path / "run" / "model.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_live_process_temporaries_are_named_not_removed(tmp_path):
    from dnanet.files.outputs import Output

    mine = tmp_path / f".p.tsv.{os.getppid()}-xyz.partial"  # a process that runs: our parent
    mine.write_text("in progress")
    output = Output(tmp_path / "p.tsv").claim()
    try:
        assert mine.exists() and output.notes == [
            f"{mine}: left in place: process {os.getppid()}, which made it, is still running"
        ]
    finally:
        output.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]


def test_a_half_built_sequence_store_of_a_killed_run_is_removed(runner, tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY.format(epochs=1))
    arguments = [
        "train",
        "-c",
        str(tmp_path / "tiny.yaml"),
        "--out",
        str(tmp_path / "r"),
        "-q",
        "--threads",
        "1",
    ]
    assert runner.invoke(app, arguments).exit_code == 0
    cache = tmp_path / ".dnanet-cache"
    [store] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    shutil.rmtree(store)
    stale = cache / f".{store.name}.partial-{_dead_pid()}"
    stale.mkdir()
    (stale / "codes.u8").write_bytes(b"\0" * 100)
    assert runner.invoke(app, [*arguments, "--overwrite"]).exit_code == 0
    assert sorted(p.name for p in cache.iterdir()) == [store.name]


def test_example_keeps_other_files_and_refuses_its_own_names_without_overwrite(runner, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me\n")
    assert runner.invoke(app, ["example", str(tmp_path)]).exit_code == 0
    (tmp_path / "bound.fa").write_text(">edited\nACGT\n")
    again = runner.invoke(app, ["example", str(tmp_path)])
    assert again.exit_code == 1 and f"{tmp_path / 'bound.fa'}: already exists" in again.output
    assert (tmp_path / "bound.fa").read_text() == ">edited\nACGT\n"
    assert runner.invoke(app, ["example", str(tmp_path), "--overwrite"]).exit_code == 0
    assert (tmp_path / "bound.fa").read_text().startswith(">") and (
        tmp_path / "mine.txt"
    ).read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "SOURCE.txt",
        "background.fa",
        "bound.fa",
        "heldout_background.fa",
        "heldout_bound.fa",
        "mine.txt",
    ]
