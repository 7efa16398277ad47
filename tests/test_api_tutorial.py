"""The Python API tutorial (docs/tutorials/python-api.md) runs as written, in a fresh folder, and
means what it says: the DataFrame `Run.predict` returns holds the TSV `dnanet predict` writes,
cell for cell."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from dnanet.cli import app

PAGE = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "python-api.md"


def python_example() -> str:
    """The page's ```python blocks, one after another, as one notebook runs its cells."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, f"no python block in {PAGE.name}"
    return "\n".join(blocks)


def test_the_python_api_tutorial_runs(tmp_path, monkeypatch, runner):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(python_example(), "docs/tutorials/python-api.md", "exec"), scope)

    run, table = scope["run"], scope["table"]
    assert (tmp_path / "runs" / "notebook" / "model.json").is_file()
    assert scope["metrics"]["auroc"] > 0.8  # CTCF bound vs background: the model learned
    assert scope["vectors"].shape[0] == len(scope["ids"]) == 2
    assert len(table) == 75 and set(table["predicted"]) <= {"bound", "background"}
    assert scope["same_run"].description == run.description

    result = runner.invoke(
        app, ["predict", str(run.path), "--out", str(tmp_path / "cli.tsv"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "cli.tsv", sep="\t", dtype={"id": str})
    held_out = run.predict(scope["held_out_fasta"])
    same_records = written[written["id"].isin(held_out["id"])].reset_index(drop=True)
    assert len(same_records) == len(held_out) > 0
    pd.testing.assert_frame_equal(held_out, same_records, check_exact=True)
