"""Signal targets: coverage (bigWig) read for every window into a memory-mapped store.

A signal run (``--signal NAME=track.bw``, with BED intervals and ``--genome``) trains on the
reads each window holds instead of a label. Every record is a genome window whose id names it
(``chrom:start-end(strand)``, `dnanet.inputs.bed.record_id`), so background windows (gc-matched,
flank) get their real coverage like the peaks; shuffled backgrounds have no place on the genome
and are refused.

Windows are read ``2 x jitter`` bases wider than the model's input (``--window``): training cuts
the input out at a random shift of up to ``jitter`` bases each way, with the targets cut at the
same shift (bpnet-lite's ``max_jitter``); validation, test and prediction cut the centre. The
targets of each window and track are stored once, for every shift:

    counts:  float32 (N, T, 2J + 1)   reads summed over the target width at each shift
    profile: float32 or float16 (N, T, W + 2J)   reads per base over the output width and jitter

in ``STORE/signal-<key>/targets.npy`` (a .npy file, memory-mapped: 10^6 windows x 1 kb x 4
tracks never need RAM), named by the SHA-256 of the windows (their ids), the tracks' contents and
these settings, and written under a temporary name then renamed, like the sequence store.
A window on the ``-`` strand is read reverse-complemented, so its profile is stored reversed.
Control tracks (``--control``) are read alike and stored after the tracks in the same block
``(N, T + C, ...)``; a batch gives them to the model as its ``control`` input
(`dnanet.models.profile`), cut at the batch's shifts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from dnanet.data.sets import SequenceSet
from dnanet.data.signal_task import PROFILE_LOSSES
from dnanet.data.tasks import SIGNAL, Task
from dnanet.errors import DnanetError
from dnanet.inputs.bed import parse_record_id
from dnanet.inputs.coverage import Coverage, Track, parse_tracks
from dnanet.inputs.encode import pad_flat_codes
from dnanet.progress import Reporter

SIGNAL_FORMAT = 1
DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class SignalSettings:
    """How coverage becomes targets: the `tracks` (one task output each), the task `kind`
    (counts or profile), the `target_width` (counts summed over, or the profile's output width;
    None: the input window), the `jitter` (bases each way), the profile loss and lambda (0: from
    the data), and the stored profile's `dtype`."""

    tracks: tuple[Track, ...]
    kind: str = "counts"
    controls: tuple[Track, ...] = ()  # --control: inputs of the model (BPNet), read like the tracks
    target_width: int | None = None
    jitter: int = 0
    profile_loss: str = "multinomial"
    counts_weight: float = 0.0
    dtype: str = "float32"

    def __post_init__(self):
        if self.kind not in SIGNAL:
            raise DnanetError(
                f"--task {self.kind} cannot be trained on --signal tracks: use counts or profile"
            )
        if self.jitter < 0:
            raise DnanetError(f"--jitter must be 0 or more bases, not {self.jitter}")
        if self.target_width is not None and self.target_width < 1:
            raise DnanetError(f"--target-width must be at least 1 base, not {self.target_width}")
        if self.profile_loss not in PROFILE_LOSSES:
            raise DnanetError(
                f"--profile-loss {self.profile_loss}: one of {', '.join(PROFILE_LOSSES)}"
            )
        if self.dtype not in DTYPES:
            raise DnanetError(f"--signal-dtype {self.dtype}: one of {', '.join(DTYPES)}")

    def width(self, window: int) -> int:
        """The target width for an input `window`, checked: at most the window, and centred on it
        (the difference even)."""
        width = self.target_width or window
        if width > window or (window - width) % 2:
            raise DnanetError(
                f"--target-width {width} must be at most the --window {window} and differ from it "
                "by an even number of bases (so the targets sit at the window's centre)"
            )
        return width

    def task(self, window: int) -> Task:
        """The task these settings train, for input windows of `window` bases."""
        names = [track.name for track in self.tracks]
        controls = [track.name for track in self.controls]
        if self.kind == "counts":
            return Task("counts", names, controls=controls)
        return Task(
            "profile",
            names,
            width=self.width(window),
            profile_loss=self.profile_loss,
            counts_weight=self.counts_weight,
            controls=controls,
        )

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for key in ("tracks", "controls"):
            data[key] = [
                {"name": t.name, "path": str(Path(t.path).resolve())} for t in getattr(self, key)
            ]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SignalSettings":
        tracks = {
            key: tuple(Track(entry["name"], Path(entry["path"])) for entry in data.get(key, []))
            for key in ("tracks", "controls")
        }
        return cls(**{**data, **tracks})


class SignalTargets:
    """Each window's stored coverage (see the module docstring) read as flat task targets.

    ``self[indices]`` and ``rows(indices, shifts)`` give float32 ``(B, K)`` rows in the task's
    layout (`dnanet.data.tasks`): counts ``(B, T)`` log(1 + reads); profile ``(B, T + T*W)``.
    Without shifts, the centre (shift `jitter`)."""

    def __init__(
        self,
        stored: np.ndarray,
        kind: str,
        width: int,
        jitter: int,
        control: np.ndarray | None = None,
    ):
        self.stored, self.kind, self.width, self.jitter = stored, kind, width, jitter
        self.tracks = stored.shape[1]
        self.control = control  # the control tracks, stored alike ``(N, C, ...)``, or None

    def __len__(self) -> int:
        return len(self.stored)

    @property
    def shape(self) -> tuple[int, int]:
        columns = self.tracks if self.kind == "counts" else self.tracks * (1 + self.width)
        return (len(self), columns)

    def __getitem__(self, indices) -> np.ndarray:
        if isinstance(indices, slice):
            indices = np.arange(len(self))[indices]
        indices = np.asarray(indices, dtype=np.int64)
        return self.rows(indices, np.full(len(indices), self.jitter))

    def rows(self, indices: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """Rows ``(B, K)`` of windows `indices` cut at `shifts` (0 .. 2 x jitter) ``(B,)``."""
        return self._cut(self.stored, indices, shifts)

    def control_rows(self, indices: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
        """The model's control input for windows `indices` at `shifts` (default: the centre):
        counts, log(1 + control reads) ``(B, C)``; profile, log(1 + control reads) per output
        base ``(B, C, W)``."""
        indices = np.asarray(indices, dtype=np.int64)
        shifts = np.full(len(indices), self.jitter) if shifts is None else shifts
        rows = self._cut(self.control, indices, shifts)
        if self.kind == "counts":
            return rows
        channels = self.control.shape[1]
        return np.log1p(rows[:, channels:].reshape(len(rows), channels, self.width))

    def _cut(self, stored: np.ndarray, indices: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        order = np.argsort(indices, kind="stable")  # memory-mapped reads in file order
        block = np.empty((len(indices), *stored.shape[1:]), dtype=stored.dtype)
        block[order] = stored[indices[order]]
        if self.kind == "counts":
            reads = block[np.arange(len(indices)), :, shifts]  # (B, T)
            return np.log1p(np.maximum(reads, 0)).astype(np.float32)
        cut = shifts[:, None] + np.arange(self.width)  # (B, W)
        profiles = np.take_along_axis(block, cut[:, None, :], axis=2).astype(np.float32)
        totals = np.log1p(profiles.sum(-1))  # (B, T)
        return np.concatenate([totals, profiles.reshape(len(indices), -1)], axis=1)


class SignalSet(SequenceSet):
    """A `SequenceSet` of windows read ``2 x jitter`` bases wider than the model's input, with
    `SignalTargets`: codes and targets are cut at the same shift (the centre unless a training
    batch draws one)."""

    def __init__(self, ids, flat, offsets, targets: SignalTargets, jitter: int):
        super().__init__(ids, flat, offsets, targets)
        self.jitter = jitter
        widths = np.unique(np.diff(offsets))
        if len(widths) > 1:
            raise DnanetError(
                "signal targets need windows of one width: give --window (intervals of "
                f"{widths.min()} to {widths.max()} bases were read)"
            )
        self.input_width = int(widths[0]) - 2 * jitter if len(widths) else 0
        self.provenance: dict = {}  # model.json's "signal": widths, jitter, the tracks' SHA-256

    @property
    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.input_width, dtype=np.int64)

    def codes(self, indices, shifts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        shifts = np.full(len(indices), self.jitter) if shifts is None else shifts
        lengths = np.full(len(indices), self.input_width, dtype=np.int64)
        return pad_flat_codes(self.flat, lengths, self.offsets[indices] + shifts), lengths

    def batch(self, indices: np.ndarray, jitter: bool = False) -> dict[str, np.ndarray]:
        """A batch as `dnanet.data.sets.SequenceSet.batch`, with the control input (``control``)
        when there are control tracks; with `jitter` cut at random shifts drawn from a seed made of
        the batch's indices (the same batch of a resumed run gets the same shifts; loader workers
        need no shared state)."""
        indices = np.asarray(indices, dtype=np.int64)
        shifts = np.full(len(indices), self.jitter)
        if jitter and self.jitter:
            rng = np.random.default_rng([len(indices), *indices[:8]])
            shifts = rng.integers(0, 2 * self.jitter + 1, len(indices))
        codes, lengths = self.codes(indices, shifts)
        batch = {"codes": codes, "lengths": lengths, "targets": self.targets.rows(indices, shifts)}
        if self.targets.control is not None:
            batch["control"] = self.targets.control_rows(indices, shifts).astype(np.float32)
        return batch

    def subset(self, indices: np.ndarray) -> SequenceSet:
        """The given windows' centres as a plain `SequenceSet` in memory, without targets (what
        the strand test reads: a sample of 50,000 windows' profiles would be 200 MB per kb)."""
        codes, lengths = self.codes(indices)
        offsets = np.arange(len(indices) + 1, dtype=np.int64) * self.input_width
        empty = np.zeros((len(indices), 0), dtype=np.float32)
        return SequenceSet([self.ids[i] for i in indices], codes.ravel(), offsets, empty)


def signal_set(
    records, settings: SignalSettings, genome, window: int, store: Path, reporter: Reporter
) -> SignalSet:
    """Records read at ``window + 2 x jitter`` bases (`dnanet.data.labelled`) -> a `SignalSet`
    whose targets come from the store of these windows and tracks, built first when missing.
    `genome`: the `dnanet.inputs.genome.Genome` the windows were cut from."""
    width = settings.width(window)
    span = width + 2 * settings.jitter
    coverage = Coverage([*settings.tracks, *settings.controls], genome.sizes, genome.path)
    try:
        key = _store_key(records.ids, coverage, settings, window)
        folder = Path(store) / f"signal-{key}"
        if not (folder / "targets.npy").exists():
            _build(folder, records, coverage, settings, window, width, span, reporter)
        stored = np.load(folder / "targets.npy", mmap_mode="r")
    finally:
        coverage.close()
    tracks = len(settings.tracks)
    control = stored[:, tracks:] if settings.controls else None
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("nan_bases"):
        reporter.note(
            f"{manifest['nan_bases']:,} bases without data (NaN) in the tracks were read as 0 reads"
        )
    targets = SignalTargets(stored[:, :tracks], settings.kind, width, settings.jitter, control)
    sequences = SignalSet(records.ids, records.flat, records.offsets, targets, settings.jitter)
    sequences.provenance = {
        "input_width": window,
        "target_width": width,
        "jitter": settings.jitter,
        "tracks": manifest["tracks"][:tracks],
        "controls": manifest["tracks"][tracks:],
        "nan_bases": manifest["nan_bases"],
        "store": folder.name,
    }
    return sequences


def _store_key(ids, coverage: Coverage, settings: SignalSettings, window: int) -> str:
    digest = hashlib.sha256()
    blob = getattr(ids, "blob", None)
    digest.update(bytes(blob) if blob is not None else "\n".join(ids).encode())
    described = {
        "format": SIGNAL_FORMAT,
        "tracks": [entry["sha256"] for entry in coverage.fingerprints()],
        "settings": {**settings.to_dict(), "tracks": None, "profile_loss": None},
        "window": window,
    }
    digest.update(json.dumps(described, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _build(folder, records, coverage, settings, window, width, span, reporter) -> None:
    """Write the targets of every record into `folder` (a temporary first, renamed at the end)."""
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    tracks = len(settings.tracks) + len(settings.controls)
    columns = span if settings.kind == "profile" else 2 * settings.jitter + 1
    dtype = settings.dtype if settings.kind == "profile" else "float32"
    stored = np.lib.format.open_memmap(
        temporary / "targets.npy", mode="w+", dtype=dtype, shape=(len(records), tracks, columns)
    )
    with reporter.counter("coverage read", len(records), "windows") as progress:
        for index, (chrom, start, strand) in enumerate(_windows(records, window, settings)):
            if not coverage.has(chrom):
                raise DnanetError(
                    f"record {records.ids[index]}: chromosome '{chrom}' is not in every --signal "
                    "track; leave its intervals out (e.g. grep -v) or give tracks that cover it"
                )
            left = start + (window - width) // 2  # the span's first base (shift 0's target)
            reads = coverage.fetch(chrom, left, left + span)  # (T, span)
            if strand == "-":
                reads = reads[:, ::-1]
            stored[index] = reads if settings.kind == "profile" else _shift_sums(reads, width)
            if index % 4096 == 0:
                progress(index)
        progress(len(records))
    stored.flush()
    del stored
    manifest = {
        "format": SIGNAL_FORMAT,
        "windows": len(records),
        "tracks": coverage.fingerprints(),
        "nan_bases": coverage.nan_bases,
    }
    (temporary / "manifest.json").write_text(json.dumps(manifest))
    try:
        temporary.rename(folder)
    except OSError:  # another process built it first
        shutil.rmtree(temporary, ignore_errors=True)


def _shift_sums(reads: np.ndarray, width: int) -> np.ndarray:
    """Reads ``(T, W + 2J)`` -> the sum over `width` bases at each shift ``(T, 2J + 1)``."""
    cumulative = np.concatenate(
        [np.zeros((len(reads), 1)), np.cumsum(reads, 1, dtype=np.float64)], 1
    )
    return cumulative[:, width:] - cumulative[:, :-width]


def _windows(records, window: int, settings: SignalSettings) -> Iterator[tuple[str, int, str]]:
    """(chromosome, start, strand) of every record's window, from its id."""
    for index in range(len(records)):
        record_id = records.ids[index]
        place = parse_record_id(record_id)
        if "/shuffle" in record_id:
            raise DnanetError(
                f"{records.where(index)}: record '{record_id}' is a shuffled sequence, which has "
                "no coverage: give --signal runs gc-matched or flank backgrounds (genome windows)"
            )
        if place is None:
            raise DnanetError(
                f"{records.where(index)}: record '{record_id}' is not a genome window "
                "(chrom:start-end(strand)); --signal targets need BED intervals with --genome "
                "and gc-matched or flank backgrounds (a shuffled sequence has no coverage)"
            )
        chrom, start, end, strand = place
        if end - start != window + 2 * settings.jitter:
            raise DnanetError(
                f"{records.where(index)}: window {record_id} is {end - start} bases, not "
                f"{window + 2 * settings.jitter}: give every input as intervals read with --window"
            )
        yield chrom, start, strand


def signal_settings(
    signal: list[str] | tuple[str, ...],
    task: str = "auto",
    target_width: int | None = None,
    jitter: int = 0,
    profile_loss: str = "multinomial",
    counts_weight: float = 0.0,
    control: list[str] | tuple[str, ...] = (),
    dtype: str = "float32",
) -> SignalSettings | None:
    """`dnanet train`'s signal options -> settings (None without ``--signal``). ``--task auto``
    with tracks trains counts; a labelled task with tracks, or a signal task without them, is
    refused."""
    if not signal:
        if control:
            raise DnanetError("--control tracks go with the --signal tracks they control")
        if task in SIGNAL:
            raise DnanetError(
                f"--task {task} is trained on coverage: give the tracks with --signal NAME=track.bw"
            )
        return None
    if task not in ("auto", *SIGNAL):
        raise DnanetError(
            f"--signal tracks make counts or profile targets, not {task}: use --task counts "
            "(reads per window) or --task profile (reads per base), or drop --signal"
        )
    tracks = tuple(parse_tracks(list(signal), "--signal"))
    controls = tuple(parse_tracks(list(control or ()), "--control"))
    names = [track.name for track in tracks]
    for track in controls:
        if track.name not in names:
            raise DnanetError(
                f"--control {track.name}={track.path}: no --signal track is named "
                f"'{track.name}' (tracks: {', '.join(names)}); name each control after its track"
            )
    return SignalSettings(
        tracks,
        "counts" if task == "auto" else task,
        controls,
        target_width,
        jitter,
        profile_loss,
        counts_weight,
        dtype,
    )


class TargetRows:
    """The targets of some records, read only when sliced: `targets` (an array or
    `SignalTargets`) at `indices`. What a run's statistics read in chunks (`Task.with_statistics`)
    without holding a profile target block of the whole training split in memory."""

    def __init__(self, targets, indices: np.ndarray):
        self.targets, self.indices = targets, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, rows):
        return self.targets[self.indices[rows]]


def training_targets(targets, indices: np.ndarray):
    """`targets` at `indices`: in memory, or for a profile `SignalTargets` a `TargetRows` view."""
    if isinstance(targets, SignalTargets) and targets.kind == "profile":
        return TargetRows(targets, indices)
    return targets[indices]
