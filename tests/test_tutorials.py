"""Every command in the tutorials runs as written: each ```bash block of docs/tutorials/*.md, in
page order, in one fresh folder per page, with `dnanet` and `python` the ones of this
environment and the checkout on PYTHONPATH. A block that fails fails its page's test, naming the
block and showing its command and the end of its output.

The pages run side by side, one per CPU core (each command on one torch thread), so together
they take about as long as the slowest page, or half their sum on 2 cores. A tutorial may only
use what dnanet ships (`dnanet example`, `dnanet example-genome`, files it writes itself) and must
stay quick. A ```bash block in a tutorial is always run; show a command that should not run (an
installation, a cluster job) in a ```console block instead. (docs/tutorials/python-api.md has no
bash block: tests/test_api_tutorial.py runs its Python.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
BLOCK_SECONDS = 300
OUTPUT_SHOWN = 4000


def bash_blocks(page: Path) -> list[str]:
    """The page's ```bash blocks, in order."""
    return re.findall(r"^```bash\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)


def pages_with_commands() -> list[Path]:
    return [page for page in sorted(TUTORIALS.glob("*.md")) if bash_blocks(page)]


def tutorial_environment() -> dict[str, str]:
    """PATH with this interpreter's folder first (its `dnanet` console script and `python`),
    PYTHONPATH with the checkout first (the code under test, not an installed copy), and one
    torch thread per process (the commands are the page's; threads are the machine's business)."""
    environment = dict(os.environ)
    scripts = Path(sys.executable).parent
    environment["PATH"] = os.pathsep.join([str(scripts), environment.get("PATH", "")])
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="100")
    environment.pop("DNANET_DEBUG", None)
    return environment


def test_the_tutorials_have_commands():
    assert {page.stem for page in pages_with_commands()} >= {
        "fasta-classes",
        "genome",
        "signal",
        "tuning",
        "ensembles",
    }


def run_blocks(name: str, blocks: list[str], folder: Path) -> str | None:
    """Run `blocks` one after another in `folder` (bash -euo pipefail: any failing command fails
    its block). None when all pass; else what failed: the block's number, its command, the end of
    its output."""
    environment = tutorial_environment()
    for number, block in enumerate(blocks, start=1):
        try:
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=folder,
                env=environment,
                capture_output=True,
                text=True,
                timeout=BLOCK_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return f"{name}, block {number} ran over {BLOCK_SECONDS} s:\n{block}"
        if result.returncode != 0:
            return (
                f"{name}, block {number} failed (exit code {result.returncode}):\n{block}\n"
                f"--- stderr (end) ---\n{result.stderr[-OUTPUT_SHOWN:]}\n"
                f"--- stdout (end) ---\n{result.stdout[-OUTPUT_SHOWN:]}"
            )
    return None


@pytest.fixture(scope="module")
def tutorial_failures(tmp_path_factory) -> dict[str, str | None]:
    """Every tutorial run once, each in its own fresh folder, as many at a time as there are CPU
    cores (each command uses one torch thread): page name -> what failed, or None."""
    pages = pages_with_commands()
    folders = [tmp_path_factory.mktemp(page.stem) for page in pages]
    with ThreadPoolExecutor(max_workers=min(len(pages), os.cpu_count() or 1)) as pool:
        failures = pool.map(
            lambda job: run_blocks(job[0].name, bash_blocks(job[0]), job[1]), zip(pages, folders)
        )
        return {page.name: failure for page, failure in zip(pages, failures)}


def test_a_failing_command_fails_with_the_command_and_its_error_shown(tmp_path: Path):
    blocks = [
        "dnanet --version > version.txt",
        "cat version.txt\ndnanet predict no-such-run --out p.tsv\necho after",
    ]
    message = run_blocks("page.md", blocks, tmp_path)
    assert message is not None
    assert "page.md, block 2 failed (exit code 1)" in message
    assert "dnanet predict no-such-run" in message and "no-such-run" in message.split("stderr")[1]
    assert (tmp_path / "version.txt").read_text().startswith("dnanet ")
    assert "after" not in message.split("stdout (end) ---")[1]


@pytest.mark.parametrize("page", pages_with_commands(), ids=lambda page: page.stem)
def test_every_command_of_the_tutorial_runs(page: Path, tutorial_failures):
    assert (Path(sys.executable).parent / "dnanet").is_file(), (
        f"no dnanet console script beside {sys.executable}"
    )
    failure = tutorial_failures[page.name]
    if failure:
        pytest.fail(failure, pytrace=False)
