"""memelite's FIMO and TomTom are numba kernels compiled on first use and cached on disk
(``cache=True``: memelite's __pycache__, or NUMBA_CACHE_DIR). The first `dnanet motifs` of an
installation would spend about a minute compiling (measured: 42 s TomTom + 11 s FIMO on a
shared 2-core machine, then 0.9 s + 2.9 s warm), so `scripts/setup.sh` runs `warm_up` once, and
`dnanet motifs` prints a one-line note when the cache is still empty (`compiled`).

    python -m dnanet.interpret.motifs.kernels   # compile and cache the kernels now
"""

from __future__ import annotations

import importlib
import os
import time
import warnings

import numpy as np

COMPILING_NOTE = (
    "first use: compiling memelite's FIMO and TomTom kernels (numba, about a minute, "
    "once per installation; scripts/setup.sh does it ahead)"
)


def compiled() -> bool:
    """Whether the kernels of memelite's FIMO and TomTom are in numba's on-disk cache (an index
    file for at least one lazily compiled kernel of each module). Unknown layouts count as yes,
    so the note is never wrong about a warm cache."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:
        return True
    for name in ("memelite.fimo", "memelite.tomtom"):
        module = importlib.import_module(name)
        lazy = [
            f for f in vars(module).values() if isinstance(f, CPUDispatcher) and not f.signatures
        ]
        paths = [
            getattr(getattr(getattr(f, "_cache", None), "_cache_file", None), "_index_path", None)
            for f in lazy
        ]
        paths = [p for p in paths if p]
        if paths and not any(os.path.exists(p) for p in paths):
            return False
    return True


def warm_up() -> float:
    """Run FIMO and TomTom once on tiny random inputs of the dtypes `dnanet motifs` uses, so
    their kernels are compiled and cached; returns the seconds it took."""
    from memelite import fimo, tomtom

    started = time.monotonic()
    rng = np.random.default_rng(0)
    queries = [rng.dirichlet(np.ones(4), 8).T for _ in range(2)]  # (4, 8) float64
    targets = [rng.dirichlet(np.ones(4), 10).T for _ in range(30)]
    one_hot = (
        np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 120))].transpose(0, 2, 1).copy()
    )  # (3, 4, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for both in (True, False):
            tomtom(queries, targets, n_jobs=1, reverse_complement=both)
            fimo({"m": queries[0]}, one_hot, threshold=1e-2, reverse_complement=both)
    return time.monotonic() - started


if __name__ == "__main__":
    if compiled():
        print("setup: memelite's FIMO and TomTom kernels are already compiled")
    else:
        print(
            "setup: compiling memelite's FIMO and TomTom kernels for `dnanet motifs` (numba, once) "
            "...",
            flush=True,
        )
        print(f"setup: compiled and cached in {warm_up():.0f} s")
