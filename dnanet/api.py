"""The Python API: dnanet in a notebook, on the same code paths as the command line.

    import dnanet

    run = dnanet.train(["bound=bound.fa", "background=background.fa"], out="runs/ctcf", epochs=20)
    table = run.predict("unknown.fa")                   # a pandas DataFrame, as `dnanet predict`
    table = run.predict(["ACGT...", "TTGA..."])         # or sequences held in memory
    ids, reads = run.profiles("peaks.bed", genome="hg38.fa")  # a profile run: reads per base
    ids, vectors = run.embed({"enh1": "ACGT...", "enh2": "GGCA..."})
    metrics = run.evaluate(["bound=more_bound.fa", "background=more_bg.fa"])
    run = dnanet.train(["peaks=peaks.bed", "bg=gc-matched"], out="runs/chip", genome="hg38.fa",
                       window=1000, signal=["chip=chip.bw"], task="profile")   # coverage
    ids, reads = run.profiles("peaks.bed", genome="hg38.fa")  # {track: (N, W) reads per base}
    run = dnanet.load_run("runs/ctcf")                  # checked as the CLI checks it
    run.check().passed                                  # check-run: saved answers still computed
    run.export_onnx("ctcf.onnx", length=101)            # ONNX, outputs as predict's

Nothing here prints or exits: errors are `dnanet.DnanetError` with the messages the command line
prints, and what the command line would say as a note is kept in ``run.notes`` (and in the
``reporter`` you pass, a `dnanet.progress.Reporter`: subclass it to show progress).

``sequences`` (predict, embed, attribute) is a FASTA path (or BED path with ``genome=``), a list of
strings (ids "0", "1", ... by position) or a mapping id -> sequence; inputs of ``train`` and
``evaluate`` are what the command line takes: paths, ``CLASS=PATH``, a ``labels=`` table, BED
files with ``genome=``, and ``CLASS=gc-matched|shuffle|flank`` backgrounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dnanet.errors import DnanetError
from dnanet.examples import heldout_inputs
from dnanet.files.json_files import parse_json, read_regular_file
from dnanet.inference.embed_files import embed_arrays
from dnanet.inference.export import export_run
from dnanet.inference.predictions import predictions_frame
from dnanet.inference.profiles import profile_arrays
from dnanet.inference.run_check import check_run
from dnanet.inputs.sources import GenomeSettings, resolve_inputs, sequences_input
from dnanet.interpret.attribution_workflow import attribute_arrays
from dnanet.interpret.variant_job import NullChoice, variants_frame
from dnanet.progress import Reporter
from dnanet.report.evaluation import evaluate_run
from dnanet.report.page import write_run_report
from dnanet.runs import load as run_folder
from dnanet.runtime.device import prepare_device
from dnanet.training.folds import train_folds
from dnanet.training.tracking import Tracking
from dnanet.training.workflow import train_run

METRICS_LIMIT = 1 << 20  # metrics.json is a few kB; anything far larger is not a run's
TRAIN_OPTIONS = (
    "labels", "id_column", "label_column", "task", "model", "epochs", "seed", "batch_size", "lr",
    "precision", "split", "val_chroms", "test_chroms", "val", "test", "keep_duplicates",
    "overwrite", "cache", "genome", "window", "background_ratio", "exclude", "signal", "control",
    "target_width", "jitter", "profile_loss", "counts_weight", "signal_dtype", "device", "threads",
    "monitor", "folds", "fold", "require_all", "tensorboard", "wandb",
)  # fmt: skip


@dataclass
class Run:
    """A trained run folder, loaded and checked: its model (eval mode), its task and description
    (model.json), and what there is to do with it. Get one from `train` or `load_run`."""

    path: Path
    loaded: run_folder.Run = field(repr=False)
    device: torch.device = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def model(self) -> torch.nn.Module:
        """The model, a plain ``nn.Module`` (trunk ``embed`` + head)."""
        return self.loaded.model

    @property
    def description(self) -> dict[str, Any]:
        """model.json as a dict: architecture, classes, config, inputs, split, metrics' context."""
        return self.loaded.record

    @property
    def task(self):
        """The task (`dnanet.data.tasks.Task`): kind, class or target names, activation."""
        return self.loaded.task

    @property
    def test_metrics(self) -> dict:
        """metrics.json of the run: the test split's metrics (the keys `dnanet train` prints)."""
        path = self.path / "metrics.json"
        return parse_json(read_regular_file(path, METRICS_LIMIT), path)

    def _call(self, sequences, genome, window, reporter):
        """(the input of `sequences`, its genome settings, a reporter whose notes are kept)."""
        settings = GenomeSettings(
            Path(genome) if genome is not None else None,
            window,
            trained_window=self.loaded.input_width,
        )
        return [sequences_input(sequences)], settings, _Kept(self.notes, reporter)

    def predict(
        self,
        sequences,
        *,
        genome: str | Path | None = None,
        window: int | None = None,
        batch_size: int = 256,
        reporter: Reporter | None = None,
        conformal: float | None = None,
        calibrated: bool = False,
    ) -> pd.DataFrame:
        """One row per record, in input order: ``id`` and the prediction columns, the same columns,
        order and values as the TSV `dnanet predict` writes (each class's probability and the
        predicted class; the regression targets in the data's units; or a signal run's predicted
        total reads per track, ``pred_<track>``). `conformal` ALPHA, `calibrated`: as the
        command's --conformal and --calibrated (``set`` column, or ``low_``/``high_``, from the
        run's calibration.json)."""
        items, settings, kept = self._call(sequences, genome, window, reporter)
        items = resolve_inputs(items, settings)
        return predictions_frame(
            self.loaded,
            items,
            batch_size=batch_size,
            reporter=kept,
            conformal=conformal,
            calibrated=calibrated,
        )

    def profiles(
        self,
        sequences,
        *,
        genome: str | Path | None = None,
        window: int | None = None,
        batch_size: int = 256,
        reporter: Reporter | None = None,
    ) -> tuple[list[str], dict[str, np.ndarray]]:
        """A profile run's predicted reads per base, as `dnanet predict --profiles` writes them:
        (ids, {track: float32 ``(N, W)``}), expm1(predicted log total) x the probability of each
        of the W output bases; records must be the run's input width (BED with `genome`)."""
        items, settings, kept = self._call(sequences, genome, window, reporter)
        items = resolve_inputs(items, settings)
        return profile_arrays(self.loaded, items, batch_size=batch_size, reporter=kept)

    def embed(
        self,
        sequences,
        *,
        layer: str = "embedding",
        pool: str | None = None,
        members: str | None = None,
        batch_size: int = 256,
        genome: str | Path | None = None,
        window: int | None = None,
        reporter: Reporter | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """One vector per record: (ids, float32 array ``(N, D)``), the vectors `dnanet embed`
        writes for the same `layer` (embedding, trunk, tokens) and `pool`; an ensemble's members'
        side by side (`members` concat, the default) or averaged (mean)."""
        items, settings, kept = self._call(sequences, genome, window, reporter)
        return embed_arrays(
            self.loaded,
            items,
            layer=layer,
            pool=pool,
            members=members,
            batch_size=batch_size,
            settings=settings,
            reporter=kept,
        )

    def attribute(
        self,
        sequences,
        *,
        method: str = "saliency",
        target: str | None = None,
        profile: bool = False,
        region: str | tuple[int, int] | None = None,
        batch_size: int = 128,
        references: int = 20,
        seed: int = 0,
        genome: str | Path | None = None,
        window: int | None = None,
        reporter: Reporter | None = None,
    ):
        """Per-base attributions by `method` (`dnanet.interpret.attribution.METHODS`) toward
        output `target` (default: a binary run's positive class, or a single regression target or
        track; `profile`: a profile run's predicted profile instead of its counts), as `dnanet
        attribute` writes them: a `dnanet.interpret.attribution_workflow.RecordAttributions` with
        ``ids``, ``attributions`` and one-hot ``sequences``, float32 ``(N, 4, L)`` (shorter
        records padded with zero columns), for ISM the ``deltas``, and for deepliftshap and
        integrated_gradients (against `references` dinucleotide shuffles seeded by `seed`) the
        per-record ``baseline`` and ``summation_error``."""
        items, settings, kept = self._call(sequences, genome, window, reporter)
        return attribute_arrays(
            self.loaded,
            items,
            method=method,
            target=target,
            profile=profile,
            region=region,
            batch_size=batch_size,
            references=references,
            seed=seed,
            settings=settings,
            reporter=kept,
        )

    def evaluate(
        self,
        inputs: list | None = None,
        *,
        labels: str | Path | None = None,
        id_column: str = "id",
        label_column: str | list[str] = "label",
        genome: str | Path | None = None,
        window: int | None = None,
        background_ratio: int = 1,
        seed: int = 0,
        batch_size: int = 256,
        signal: dict[str, str | Path] | None = None,
        reporter: Reporter | None = None,
        conformal: float | None = None,
    ) -> dict:
        """The metrics of the run on labelled `inputs` (what `dnanet evaluate` takes: paths or
        ``CLASS=PATH``, a `labels` table, BED with `genome`; None: the bundled held-out example),
        with metrics.json's keys. A signal run is scored on BED `inputs` against the coverage of
        its tracks: those it was trained on (checked unchanged), or `signal` {track name: bigWig
        path} given anew. `conformal` ALPHA adds ``calibration``: the coverage the run's conformal
        sets or intervals reach, per class, and the ECE before and after temperature scaling."""

        columns = [label_column] if isinstance(label_column, str) else list(label_column)
        outcome = evaluate_run(
            self.loaded,
            list(inputs or []),
            labels=Path(labels) if labels is not None else None,
            id_column=id_column,
            label_columns=columns,
            default=heldout_inputs,
            genome=Path(genome) if genome is not None else None,
            window=window,
            background_ratio=background_ratio,
            seed=seed,
            batch_size=batch_size,
            reporter=_Kept(self.notes, reporter),
            signal=[f"{name}={path}" for name, path in (signal or {}).items()],
            conformal=conformal,
        )
        return outcome.metrics

    def check(self):
        """`dnanet check-run`: the run's check records (check.safetensors) predicted again and
        compared with the answers saved at training, a `dnanet.inference.run_check.RunCheck`
        (``passed``, ``lines()``, ``failure()``); a run without check records is a DnanetError."""
        return check_run(self.path)

    def export_onnx(self, out: str | Path, length: int | None = None) -> Path:
        """`dnanet export --format onnx`: write the run as an ONNX model whose outputs are
        `predict`'s, for records of `length` bases (default: the run's); returns the file."""
        return export_run(self.path, out, "onnx", length).path

    def variants(
        self,
        *,
        vcf: str | Path | None = None,
        genome: str | Path | None = None,
        pairs: str | Path | None = None,
        window: int | None = None,
        batch_size: int = 256,
        null: str = "none",
        null_size: int = 100,
        reporter: Reporter | None = None,
    ) -> pd.DataFrame:
        """The effect of each variant on the run's outputs, one row per variant in input order:
        the columns `dnanet variants` writes (chrom, pos, id, ref, alt, status, note, then ref,
        alt and diff per output; a signal run: ref, alt, lfc, and jsd for a profile run, per
        track; an ensemble: sd per output; with `null` "shuffle" or "snv": p, q and null_sd per
        output from `null_size` control draws per variant). A VCF with its `genome`, or a FASTA
        of ref/alt `pairs`."""
        return variants_frame(
            self.loaded,
            vcf=Path(vcf) if vcf is not None else None,
            genome=Path(genome) if genome is not None else None,
            pairs=Path(pairs) if pairs is not None else None,
            window=window,
            batch_size=batch_size,
            null=NullChoice(null, null_size),
            reporter=_Kept(self.notes, reporter),
        )


class _Kept(Reporter):
    """A reporter that keeps each note's text in `kept` (a run's notes) and passes it on."""

    def __init__(self, kept: list[str], inner: Reporter | None):
        super().__init__()
        self.kept, self.inner = kept, inner

    def say(self, text: str, kind: str) -> None:
        self.kept.append(text)
        if self.inner is not None:
            self.inner.note(text, kind)

    def counter(self, what, total=None, unit="records"):
        return (self.inner or Reporter()).counter(what, total, unit)


def load_run(path: str | Path, device: str = "auto", threads: int | None = None) -> Run:
    """Open a run folder made by `dnanet train` (or `train` here), checked as the command line
    checks it (model.json's schema, every tensor's name and shape) before the model is built. A
    run whose model did not learn loads with that warning in ``run.notes``."""
    torch_device = prepare_device(threads, device)
    loaded = run_folder.load_run(path, torch_device)
    warning = run_folder.not_learned(loaded.record, str(path))
    return Run(Path(path), loaded, torch_device, [warning] if warning else [])


def train(
    inputs: list | None = None,
    out: str | Path | None = None,
    config: str | Path | None = None,
    *,
    reporter: Reporter | None = None,
    **overrides,
) -> Run:
    """Train a model as `dnanet train` does and return the loaded run.

    `inputs`: what the command line takes (FASTA paths, ``CLASS=PATH``, BED files with
    ``genome=``, ``CLASS=gc-matched|shuffle|flank``; None: the bundled CTCF example); `out`: the
    run folder to write; `config`: a YAML config (None: the model's shipped config). `overrides`
    are the command's options by name: ``model``, ``epochs``, ``seed``, ``batch_size``, ``lr``,
    ``precision``, ``labels``, ``id_column``, ``label_column``, ``task``, ``split``,
    ``val_chroms``, ``test_chroms``, ``val``, ``test``, ``keep_duplicates``, ``overwrite``,
    ``cache``, ``genome``, ``window``, ``background_ratio``, ``exclude``, ``device``,
    ``threads``; for signal models ``signal``, ``control`` (lists of ``NAME=track.bw``),
    ``target_width``, ``jitter``, ``profile_loss``, ``counts_weight``, ``signal_dtype``; for a
    K-fold ensemble (`dnanet.training.folds`) ``folds=K`` (and ``require_all``), whose loaded
    ensemble is returned (``fold=I`` trains one member and returns it). ``tensorboard=DIR`` and
    ``wandb=PROJECT`` log the run as the command's --tensorboard and --wandb do
    (`dnanet.training.tracking`)."""

    if out is None:
        raise DnanetError("out is required: the run folder to create")
    unknown = sorted(set(overrides) - set(TRAIN_OPTIONS))
    if unknown:
        raise DnanetError(
            f"dnanet.train: unknown option {', '.join(unknown)}; the options are "
            + ", ".join(TRAIN_OPTIONS)
        )
    for name in ("label_column", "val", "test", "signal", "control"):  # one value: a list of it
        if isinstance(overrides.get(name), (str, Path)):
            overrides[name] = [overrides[name]]
    notes: list[str] = []
    tracking = Tracking.of(overrides.pop("tensorboard", None), overrides.pop("wandb", None))
    trainer = train_folds if overrides.get("folds") else train_run
    outcome = trainer(
        list(inputs or []),
        Path(out),
        config=config,
        reporter=_Kept(notes, reporter),
        write_report=write_run_report,
        tracking=tracking,
        **overrides,
    )
    if overrides.get("folds") and not outcome.complete:  # one member of several trained
        out = Path(out) / f"fold_{overrides['fold']}"
    run = load_run(out, overrides.get("device", "auto"), overrides.get("threads"))
    run.notes[:0] = [note for note in notes if note not in run.notes]
    return run
