"""The scripts under scripts/ (benchmarks, GPU check, motif recall) start: every library name they
import still exists, so a benchmark run does not die at its first line after a change of the
library's layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))
HELPERS = {"benchmark_data.py", "benchmark_tuned.py"}  # imported by benchmark.py, no command line


@pytest.mark.parametrize(
    "script", [s for s in SCRIPTS if s.name not in HELPERS], ids=lambda s: s.name
)
def test_a_script_starts_and_explains_itself(script):
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "usage" in shown.stdout.lower()
