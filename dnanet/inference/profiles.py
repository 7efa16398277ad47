"""A profile run's predicted reads per base: for every window and track, expm1(the predicted
log(1 + total reads)) x the predicted probability of each of the W output bases (BPNet's two
heads put together), float32 ``(N, T, W)``; summed over the W bases they give the TSV's
``pred_<track>`` (`dnanet.data.tasks.Task.prediction_cells`).

- `predicted_reads`: activated flat outputs ``(N, T + T*W)`` -> reads per base ``(N, T, W)``;
- `profile_arrays`: the reads of some inputs in memory (`dnanet.api.Run.profiles`);
- `profile_file`: what `dnanet predict --profiles OUT.npz` writes beside its TSV, collected batch by
  batch into memory-mapped .npy side files of the claimed output's temporary and packed at the
  end (memory stays flat) into an uncompressed .npz holding ``ids`` (N,) and one float32
  ``(N, W)`` array per track name; renamed into place only when complete.

A profile is predicted for windows of the run's input width only: the W output bases sit at the
centre of the model's input, so a record of another length (or a batch of mixed lengths, padded
to the longest) would put them elsewhere. Such records are refused by id.
"""

from __future__ import annotations

import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from numpy.lib.format import open_memmap, write_array

from dnanet.data.streaming import Batch, iter_batches
from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.files.outputs import Output
from dnanet.inference.predict import predict_batch
from dnanet.progress import Reporter
from dnanet.runs.load import Run

IDS = "ids"  # the .npz member of the record ids


def check_profile_run(run: Run, option: str = "--profiles") -> None:
    """Refuse a run that predicts no per-base profile (a counts or labelled run), naming
    `option`."""
    kind = run.task.kind
    if kind == "profile":
        return
    what = (
        "a counts run (--task counts): it predicts total reads per window, the TSV's pred_<track>"
        if kind == "counts"
        else f"a {kind} run"
    )
    raise DnanetError(
        f"{run.folder}: {option} needs a profile run (trained with --task profile); this is {what}"
    )


def predicted_reads(task: Task, outputs: np.ndarray) -> np.ndarray:
    """A profile task's activated outputs float32 ``(N, T + T*W)`` -> predicted reads per base
    float32 ``(N, T, W)``: expm1(log total) x probability."""
    tracks = len(task.names)
    totals = np.expm1(outputs[:, :tracks].astype(np.float64))  # (N, T)
    probabilities = outputs[:, tracks:].reshape(len(outputs), tracks, task.width)
    return (totals[:, :, None] * probabilities).astype(np.float32)


def check_window_records(batch: Batch, width: int, option: str) -> None:
    """Refuse the first record of `batch` that is not `width` bases (the run's input width)."""
    wrong = np.flatnonzero(np.asarray(batch.lengths) != width)
    if len(wrong):
        index = int(wrong[0])
        raise DnanetError(
            f"record {batch.ids[index]}: {int(batch.lengths[index])} bases; {option} are predicted "
            f"for windows of the run's input width, {width} bases: give BED intervals with "
            f"--genome (read at that width) or FASTA records of {width} bases"
        )


def profile_arrays(
    run: Run, items: list, *, batch_size: int = 256, reporter: Reporter | None = None
) -> tuple[list[str], dict[str, np.ndarray]]:
    """The predicted reads per base of every record of `items` (resolved inputs,
    `dnanet.inputs.sources.resolve_inputs`), in input order: (ids, {track: float32 ``(N, W)``}),
    the arrays `dnanet predict --profiles` writes. `reporter` hears the progress."""
    check_profile_run(run, "profiles")
    reporter = reporter if reporter is not None else Reporter()
    ids: list[str] = []
    parts = []
    with reporter.counter("predicting") as progress:
        for batch in iter_batches(items, batch_size):
            check_window_records(batch, run.window, "profiles")
            parts.append(predicted_reads(run.task, _outputs(run, batch)))
            ids.extend(batch.ids)
            progress(len(ids))
    reads = (
        np.concatenate(parts)
        if parts
        else np.zeros((0, len(run.task.names), run.task.width), dtype=np.float32)
    )
    return ids, {
        name: np.ascontiguousarray(reads[:, track]) for track, name in enumerate(run.task.names)
    }


def _outputs(run: Run, batch: Batch) -> np.ndarray:
    return predict_batch(
        run.model,
        batch.codes,
        batch.lengths,
        run.reverse_complement_average,
        activate=run.task.activate,
    ).numpy()


def check_profiles_path(path: Path) -> None:
    """Refuse at once a --profiles path that is no .npz."""
    if path.suffix.lower() != ".npz":
        raise DnanetError(f"{path}: --profiles writes a NumPy .npz file; name it NAME.npz")


class ProfileFile:
    """The per-base reads of `count` records, added batch by batch (`add`, in record order) into
    one memory-mapped float32 ``(count, W)`` .npy per track beside `temporary`, then packed into
    `temporary` as an .npz (`save`). The side files share the temporary's stem, so the output's
    `dnanet.files.outputs.Output.writing` removes them whatever happens."""

    def __init__(self, temporary: Path, task: Task, window: int, count: int):
        if IDS in task.names:
            raise DnanetError(
                f"--profiles: a track named '{IDS}' would collide with the .npz's array of ids"
            )
        self.temporary, self.task, self.window, self.count = temporary, task, window, count
        self.ids: list[str] = []
        self.arrays = {
            name: _block(temporary.with_suffix(f".track{index}.npy"), (count, task.width))
            for index, name in enumerate(task.names)
        }

    def add(self, batch: Batch, outputs: np.ndarray) -> None:
        """One batch's records and activated outputs ``(B, T + T*W)``."""
        check_window_records(batch, self.window, "--profiles")
        rows = slice(len(self.ids), len(self.ids) + len(batch.ids))
        if rows.stop > self.count:
            raise DnanetError(f"--profiles: more records than the {self.count} counted")
        reads = predicted_reads(self.task, outputs)
        for track, array in enumerate(self.arrays.values()):
            array[rows] = reads[:, track]
        self.ids.extend(batch.ids)

    def save(self) -> None:
        """Pack ``ids`` and every track's rows so far into the .npz `temporary`, streamed."""
        done = len(self.ids)
        with zipfile.ZipFile(self.temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            _member(archive, IDS, np.array(self.ids, dtype=str))
            for name, array in self.arrays.items():
                _member(archive, name, array[:done])
        self.arrays.clear()


def _block(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A float32 array of `shape`, memory-mapped from `path` (in memory when it has no rows: an
    empty map cannot be made)."""
    if shape[0] == 0:
        return np.zeros(shape, dtype=np.float32)
    return open_memmap(path, mode="w+", dtype=np.float32, shape=shape)


def _member(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
        write_array(handle, array, allow_pickle=False)


@contextmanager
def profile_file(
    output: Output | None, run: Run, count: int
) -> Iterator[Callable[[Batch, np.ndarray], None] | None]:
    """For the block: the ``observe(batch, outputs)`` of `dnanet.inference.predict.
    write_predictions` that collects `count` records' per-base reads into the claimed `output`
    (written when the block ends without error); None without an output."""
    if output is None:
        yield None
        return
    with output.writing() as temporary:
        collected = ProfileFile(temporary, run.task, run.window, count)
        yield collected.add
        collected.save()
