"""Reading a command's labelled inputs into records: FASTA files one per class or with a
--labels table, BED inputs and generated backgrounds (`dnanet.inputs.sources`), in memory or through
the memory-mapped store (`dnanet.data.store`); for training also the fixed --val/--test files and a
--labels 'split' column, giving each record its part (`dnanet.data.splits`). Notes (skipped
intervals, missing backgrounds, the bundled example used) go to a `dnanet.progress.Reporter`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from dnanet.data.signal import SignalSettings, signal_set
from dnanet.data.splits import PART_NAMES, TEST, TRAIN, VALIDATION
from dnanet.data.store import open_or_build_store, read_labelled, store_key
from dnanet.data.tasks import infer_task
from dnanet.errors import DnanetError
from dnanet.examples import training_inputs
from dnanet.inputs.genome import open_genome
from dnanet.inputs.read import check_input_file, read_label_table, table_columns
from dnanet.inputs.sources import (
    GenomeSettings,
    LabelledInput,
    check_input,
    check_settings_used,
    parse_inputs,
    provenance_notes,
    resolve_inputs,
)
from dnanet.progress import Reporter


def read_labelled_inputs(
    inputs: list[str],
    labels: Optional[Path],
    id_column: str,
    label_columns: list[str],
    default,
    store: Optional[Path] = None,
    genome=None,
    reporter: Reporter | None = None,
):
    """FASTA inputs (one per class, or with a --labels table) -> LabelledRecords: in memory, or
    with `store` (a folder of stores) memory-mapped from the store of these inputs, built first
    when missing (`dnanet.data.store`). The same file (by path or by contents) given twice is
    refused. `genome` (`dnanet.inputs.sources.GenomeSettings`): how BED inputs and generated
    backgrounds are read; their notes (skipped intervals, missing backgrounds) are printed."""
    return read_training_inputs(
        inputs,
        [],
        [],
        labels,
        id_column,
        label_columns,
        default,
        store,
        split_column=False,
        genome=genome,
        reporter=reporter,
    )[0]


SPLIT_COLUMN = (
    "split"  # a --labels column that fixes each record's part: train, validation (val) or test
)


def read_training_inputs(
    inputs: list[str],
    val: list[str],
    test: list[str],
    labels: Optional[Path],
    id_column: str,
    label_columns: list[str],
    default,
    store: Optional[Path] = None,
    split_column: bool = True,
    genome=None,
    reporter: Reporter | None = None,
):
    """`read_labelled_inputs` for training, with fixed held-out files (`val`, `test`: CLASS=PATH,
    or PATH with --labels) read into the same records after the training inputs, and the
    --labels table's `SPLIT_COLUMN` when it has one (and `split_column`). Returns the records and
    each record's part, int8 ``(N,)`` (`dnanet.data.splits`: TRAIN for the training inputs' records
    not marked otherwise by the table); each input's provenance names its part. BED inputs and
    generated backgrounds (`genome`: `dnanet.inputs.sources.GenomeSettings`) are resolved per group,
    so a background among --test inputs is made from the --test positives. `inputs`, `val` and
    `test` are argument strings or `LabelledInput`s (`dnanet.inputs.sources.parse_inputs`)."""
    reporter = reporter if reporter is not None else Reporter()
    if (val or test) and not inputs:
        raise DnanetError(
            "--val and --test add fixed held-out files to the training inputs: give the training "
            "FASTA files too"
        )
    if labels is None:
        groups = [
            parse_inputs(inputs, default, reporter),
            *(parse_inputs(given, default, reporter) if given else [] for given in (val, test)),
        ]
        table = split = None
    elif not inputs:
        raise DnanetError("--labels needs the FASTA files whose record ids it labels")
    else:
        groups = [
            [
                path if isinstance(path, LabelledInput) else LabelledInput(None, Path(path))
                for path in given
            ]
            for given in (inputs, val, test)
        ]
        table = check_input_file(labels)
        split = SPLIT_COLUMN if split_column and SPLIT_COLUMN in table_columns(table) else None
    groups = [resolve_inputs(group, genome) for group in groups]
    items = [item for group in groups for item in group]
    check_settings_used(items, genome)
    for item in items:  # a missing, looping or unreadable file: one line, before anything else
        check_input(item)
    part_of_input = np.repeat(
        np.array([TRAIN, VALIDATION, TEST], dtype=np.int8), [len(group) for group in groups]
    )
    named = [
        ("" if part == TRAIN else f"--{'val' if part == VALIDATION else 'test'} ")
        + (f"{item.label}={item.path}" if item.label is not None else str(item.path))
        for item, part in zip(items, part_of_input)
    ]
    _check_distinct(named, [item.path.resolve() for item in items], "are the same file")

    def read_table():
        return read_label_table(table, id_column, label_columns, split) if table else None

    if store is None:
        records = read_labelled(items, read_table())
    else:
        settings = {"id_column": id_column, "label_columns": list(label_columns)} if table else {}
        key = store_key(items, table, {**settings, **({"split_column": split} if split else {})})
        records = open_or_build_store(store, key, items, read_table)
    _check_distinct(
        named,
        [entry.get("sha256") for entry in records.provenance],
        "have the same contents (SHA-256)",
    )
    for note in provenance_notes(records.provenance):
        reporter.note(note)
    parts = part_of_input[np.asarray(records.places[:, 0])]
    if split:
        records, marked = _take_split_column(records)
        parts = np.where(parts == TRAIN, marked, parts).astype(np.int8)
    for entry, part in zip(records.provenance, part_of_input):
        entry["part"] = PART_NAMES[part]
    return records, parts


CACHE = ".dnanet-cache"  # the store's folder beside the run's OUT unless a cache folder is given


@dataclass(frozen=True)
class TrainingInputs:
    """What a training run reads, as `dnanet train` takes it: the inputs, the fixed held-out
    `val` and `test` files, the label table with its id and label columns, the task, the store
    folder `cache` and the genome settings. Picklable: each process of a search gets one."""

    inputs: list
    val: list
    test: list
    labels: Path | None
    id_column: str
    label_column: list[str]
    task: str
    cache: Path
    genome: GenomeSettings
    signal: SignalSettings | None = None

    @classmethod
    def from_options(
        cls, out: Path, *, inputs, val, test, labels, id_column, label_column, task, cache, genome,
        window, background_ratio, seed: int, signal: SignalSettings | None = None,
        exclude: Path | None = None
    ) -> "TrainingInputs":  # fmt: skip
        """From `dnanet train`'s (or `dnanet tune`'s) option values for the run folder `out`: the
        store in `cache`, else beside `out`; backgrounds generated from `seed`. With `signal`
        (coverage targets), intervals are read ``2 x jitter`` bases wider than `window`; with
        `exclude` (a blacklist BED) no window overlaps its regions."""
        if signal is not None and window is None:
            raise DnanetError(
                "--signal needs --window: every window must have one width (e.g. --window 1000)"
            )
        if signal is not None:
            signal.width(window)  # a target width that does not fit fails before any reading
        read_width = window + 2 * signal.jitter if signal is not None else window
        return cls(
            list(inputs or []),
            list(val or []),
            list(test or []),
            Path(labels) if labels is not None else None,
            id_column,
            list(label_column),
            task,
            Path(cache) if cache is not None else out.parent / CACHE,
            GenomeSettings(
                genome and Path(genome),
                read_width,
                background_ratio,
                seed,
                exclude=Path(exclude) if exclude is not None else None,
            ),
            signal,
        )

    def read(self, reporter: Reporter | None = None):
        """(records, each record's part): `read_training_inputs`, the bundled CTCF example when
        there are no inputs."""
        return read_training_inputs(
            self.inputs,
            self.val,
            self.test,
            self.labels,
            self.id_column,
            self.label_column,
            training_inputs,
            self.cache,
            genome=self.genome,
            reporter=reporter,
        )

    @property
    def window(self) -> int | None:
        """The model's input width: the read width less the jitter on both sides."""
        width = self.genome.window
        return width - 2 * self.signal.jitter if self.signal and width else width

    def read_set(self, reporter: Reporter | None = None):
        """(records, each record's part, the task, the `SequenceSet` it trains on): labels make
        the targets (the task inferred from them), or with `signal` the coverage of every window
        (`dnanet.data.signal`)."""
        reporter = reporter if reporter is not None else Reporter()
        records, parts = self.read(reporter)
        if self.signal is None:
            task = infer_task(records.label_values, self.label_names, self.task)
            return records, parts, task, records.with_targets(records.targets(task.encode))
        if self.genome.genome is None:
            raise DnanetError("--signal needs --genome and BED intervals as inputs")
        task = self.signal.task(self.window)
        genome = open_genome(self.genome.genome)
        sequences = signal_set(records, self.signal, genome, self.window, self.cache, reporter)
        return records, parts, task, sequences

    @property
    def label_names(self) -> list[str]:
        """The names a task's outputs take their labels from: the table's columns, or "class"."""
        return self.label_column if self.labels is not None else ["class"]


def _check_distinct(named: list[str], keys: list, what: str) -> None:
    """Refuse two inputs with the same key (resolved path, or SHA-256; None: a generated background,
    no file), naming both arguments."""
    seen: dict = {}
    for name, key in zip(named, keys):
        if key is None:
            continue
        if key in seen:
            raise DnanetError(
                f"{seen[key]} and {name} {what}: each class and each part needs records of its own "
                "(one file given for two classes teaches nothing and scores as chance)"
            )
        seen[key] = name


def _take_split_column(records):
    """Records whose label tuples end with the split column's part name -> (the records with that
    value dropped from their labels, each record's part int8 ``(N,)``)."""
    labels: dict[tuple[str, ...], int] = {}
    relabel = np.array(
        [labels.setdefault(value[:-1], len(labels)) for value in records.label_values],
        dtype=np.int32,
    )
    part_of = np.array(
        [PART_NAMES.index(value[-1]) for value in records.label_values], dtype=np.int8
    )
    index = np.asarray(records.label_index)
    return dataclasses.replace(
        records, label_values=list(labels), label_index=relabel[index]
    ), part_of[index]
