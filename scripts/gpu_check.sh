#!/usr/bin/env bash
# The GPU check in one command: bash scripts/gpu_check.sh [options of scripts/gpu_check.py]
#
# Trains cnn, lstm and transformer (shipped configs) for a few hundred steps on a CUDA GPU on
# planted data, prints a table of training and inference seq/s, peak GPU memory, the precision
# used and the largest GPU-vs-CPU probability difference against its tolerance; exits 1 if a
# difference is over its tolerance, 2 if there is no CUDA GPU. Python: $PYTHON, else ./.venv's,
# else python3. A smoke run of the script's logic on the CPU: --device cpu --steps 6.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
    python=$PYTHON
elif [ -x .venv/bin/python ]; then
    python=.venv/bin/python
else
    python=python3
fi
exec "$python" scripts/gpu_check.py "$@"
