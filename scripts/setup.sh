#!/usr/bin/env bash
# Set up dnanet in ./.venv: `bash scripts/setup.sh`.
#
# torch: a torch that the system Python already has (e.g. your CUDA build) is kept and reused
# (the venv sees system site-packages); otherwise torch==2.13.0 is installed (override with
# DNANET_TORCH, e.g. DNANET_TORCH="torch --index-url https://download.pytorch.org/whl/cpu").
# Then dnanet itself is installed in editable mode with its test extras, and the numba kernels of
# `dnanet motifs` (memelite's FIMO and TomTom) are compiled once, so its first run does not spend
# a minute compiling (skip with DNANET_NO_WARMUP=1). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if "$python" -c "import torch" 2>/dev/null; then
        echo "setup: reusing the system's torch $("$python" -c 'import torch; print(torch.__version__)')"
        "$python" -m venv --system-site-packages .venv
    else
        "$python" -m venv .venv
    fi
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install --quiet ${DNANET_TORCH:-torch==2.13.0}
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python -c "import dnanet, torch; print(f'setup: dnanet {dnanet.__version__} with torch {torch.__version__} in .venv')"
if [ -z "${DNANET_NO_WARMUP:-}" ]; then
    .venv/bin/python -m dnanet.interpret.motifs.kernels
fi
