"""Train / validation / test parts: drawn at random, whole chromosomes held out, or fixed by the
inputs.

Every record belongs to one part. The inputs may fix a part (``--val`` / ``--test`` files, or a
``split`` column in the label table): a fixed part is exactly those records, and nothing is drawn
into it from the training inputs. The parts that are not fixed are drawn from the training
inputs' records (`make_split`) as ``data.split`` says:

- ``random``: seeded, stratified by class for classification, ``data.val_fraction`` and
  ``data.test_fraction`` of the training inputs (a fraction may be 0 only when that part is fixed).
- ``chromosome``: records on ``data.val_chroms`` are the validation part, on ``data.test_chroms``
  the test part, all others train. Windows cut from one chromosome always share a part, so no
  held-out window can overlap a training window. The chromosome is read from the record id with
  `CHROMOSOME_ID`; a training record without one is refused.

Parts are index arrays (int64, sorted); per-record work is vectorised or done a chunk of ids at a
time, so 10^7 memory-mapped ids (`dnanet.data.store.RecordIds`) are parsed in a few seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from dnanet.errors import DnanetError

TRAIN, VALIDATION, TEST = (
    0,
    1,
    2,
)  # a record's part (int8 per record); TRAIN marks the training inputs
PART_NAMES = ("train", "validation", "test")

CHROMOSOME_ID = re.compile(
    rb"(?:\S*::)?(?P<chrom>\S+):(?P<start>[0-9]+)-(?P<end>[0-9]+)"
    rb"(?:\((?P<strand>[-+.])\))?(?:/\S*)?"
)
"""A record id that names a genomic interval (0-based, half-open): ``chrom:start-end``, then an
optional strand ``(+)``, ``(-)`` or ``(.)``, then an optional suffix from ``/`` on (e.g.
``chr2:1000-1200(+)/shuffle`` for a shuffled background); a ``name::`` prefix (``bedtools getfasta
-name``) is skipped. Matched against the whole id: ``chr2:1000-1200`` (bedtools getfasta),
``chr2:1000-1200(+)`` (``-s``), ``peak7::chrX:5-105``, ``HLA-A*01:01:01:01:0-200`` (the
chromosome runs to the last ``:START-END``); not ``ctcf_00006`` or ``chr2:1000``."""

# The same pattern, one id per line, capturing the chromosome alone: ids without an interval match
# the second branch and capture nothing, so `findall` gives exactly one entry per line.
_ONE_PER_LINE = re.compile(
    rb"^(?:"
    + re.sub(rb"\(\?P<(?:start|end|strand)>", b"(?:", CHROMOSOME_ID.pattern).replace(
        b"?P<chrom>", b""
    )
    + rb"|[^\n]*)$",
    re.MULTILINE,
)
ID_CHUNK = 1 << 16  # ids parsed per regex call


def interval_of(record_id: str) -> tuple[str, int, int, str | None] | None:
    """(chromosome, start, end, strand or None) of an id matching `CHROMOSOME_ID`, else None."""
    match = CHROMOSOME_ID.fullmatch(record_id.encode("utf-8"))
    if match is None:
        return None
    strand = match["strand"].decode() if match["strand"] else None
    return match["chrom"].decode("utf-8"), int(match["start"]), int(match["end"]), strand


def chromosome_index(ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Each record's chromosome: int32 ``(N,)`` indices into the returned names (in order of first
    appearance), -1 for an id without an interval (`CHROMOSOME_ID`). Ids are parsed `ID_CHUNK`
    at a time as lines of one bytes object, by one regex call (~0.3 s per 10^6 ids)."""
    index = np.empty(len(ids), dtype=np.int32)
    names: dict[bytes, int] = {}
    for first, last, text in _id_lines(ids):
        found = _ONE_PER_LINE.findall(text)[: last - first]
        index[first:last] = [
            names.setdefault(chrom, len(names)) if chrom else -1 for chrom in found
        ]
    return index, [name.decode("utf-8") for name in names]


def _id_lines(ids: Sequence[str]) -> Iterator[tuple[int, int, bytes]]:
    """(first, last, the ids of records first..last-1 joined by newlines), `ID_CHUNK` ids at a time;
    memory-mapped `RecordIds` are cut from their UTF-8 blob without decoding each id."""
    blob, offsets = getattr(ids, "blob", None), getattr(ids, "offsets", None)
    for first in range(0, len(ids), ID_CHUNK):
        last = min(len(ids), first + ID_CHUNK)
        if blob is None:
            yield first, last, "\n".join(ids[first:last]).encode("utf-8")
            continue
        bounds = np.asarray(offsets[first : last + 1])
        piece = np.asarray(blob[bounds[0] : bounds[-1]])
        lines = np.full(len(piece) + last - first - 1, ord("\n"), dtype=np.uint8)
        lines[np.arange(len(piece)) + np.repeat(np.arange(last - first), np.diff(bounds))] = piece
        yield first, last, lines.tobytes()


def same_chromosome(a: str, b: str) -> bool:
    """Whether two chromosome names mean the same one: a leading ``chr`` (any case) is optional,
    so ``chr8`` matches ``8`` (UCSC and Ensembl names)."""
    return _bare(a) == _bare(b)


def _bare(name: str) -> str:
    return name[3:] if name[:3].lower() == "chr" else name


def chromosome_order(name: str) -> tuple:
    """Sort key: chr1, chr2, ..., chr10, ..., chrX (numbers by value)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", _bare(name))
        if part
    )


@dataclass
class Split:
    """The parts as sorted int64 record indices, and how they were made (`describe`, model.json).

    ``kind``: random, chromosome, or fixed (both held-out parts given by the inputs); ``fixed``:
    the parts the inputs gave; ``chromosomes``: for a chromosome split, each part's chromosomes.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    kind: str
    fixed: tuple[str, ...] = ()
    chromosomes: dict[str, list[str]] | None = field(default=None)

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }

    def describe(self) -> dict:
        """``{"kind", "train", "validation", "test" (sizes), "fixed", "chromosomes"}`` for
        model.json."""
        return {
            "kind": self.kind,
            **self.sizes(),
            "fixed": list(self.fixed),
            **({"chromosomes": self.chromosomes} if self.chromosomes is not None else {}),
        }


def make_split(
    data,
    ids: Sequence[str],
    seed: int,
    strata: np.ndarray | None = None,
    parts: np.ndarray | None = None,
    where: Callable[[int], str] | None = None,
) -> Split:
    """Split N records by `data` (`dnanet.config.run_config.DataConfig`): `ids` ``(N,)`` (for
    chromosome splits), `strata` int ``(N,)`` class labels to stratify a random split, `parts` int8
    ``(N,)`` each record's part as fixed by the inputs (TRAIN for the training inputs; default all
    TRAIN), `where(i)` 'FILE line N' of record i for messages."""
    parts = np.zeros(len(ids), dtype=np.int8) if parts is None else np.asarray(parts)
    pool = np.flatnonzero(parts == TRAIN)
    given = {part: np.flatnonzero(parts == part) for part in (VALIDATION, TEST)}
    fixed = tuple(PART_NAMES[part] for part in (VALIDATION, TEST) if len(given[part]))
    chromosomes = None
    if data.split == "chromosome":
        drawn, chromosomes = _by_chromosome(data, ids, pool, parts, fixed, where or _nth)
    else:
        drawn = _at_random(data, pool, seed, strata, fixed)
    held = {
        part: given[part] if PART_NAMES[part] in fixed else drawn[part]
        for part in (VALIDATION, TEST)
    }
    split = Split(
        np.sort(drawn[TRAIN]),
        np.sort(held[VALIDATION]),
        np.sort(held[TEST]),
        "fixed" if len(fixed) == 2 else data.split,
        fixed,
        chromosomes,
    )
    if getattr(data, "folds", 1) == 1:  # an ensemble member's parts are checked once folded
        check_parts(split)
    return split


def check_parts(split: Split, after: str = "") -> None:
    """Refuse a split with an empty part (`after`: what emptied it, for the message)."""
    for name, size in split.sizes().items():
        if not size:
            raise DnanetError(f"the {name} part of the {split.kind} split has no records{after}")


def _nth(index: int) -> str:
    return f"record {index + 1}"


def _at_random(
    data, pool: np.ndarray, seed: int, strata: np.ndarray | None, fixed: tuple[str, ...]
) -> dict[int, np.ndarray]:
    """The drawn parts of a seeded random split of `pool` (stratified by `strata` when given)."""
    from dnanet.data.sets import split_indices

    wanted = [part for part in (VALIDATION, TEST) if PART_NAMES[part] not in fixed]
    fractions = {VALIDATION: data.val_fraction, TEST: data.test_fraction}
    for part in wanted:
        if fractions[part] == 0:
            option, key = (
                ("--val", "val_fraction") if part == VALIDATION else ("--test", "test_fraction")
            )
            raise DnanetError(
                f"data.{key} is 0 and no fixed {PART_NAMES[part]} set was given ({option} "
                f"CLASS=PATH, or '{PART_NAMES[part]}' rows in a split column of --labels): the "
                f"{PART_NAMES[part]} part would be empty"
            )
    pool_strata = None if strata is None else np.asarray(strata)[pool]
    if len(wanted) == 2:
        train, val, test = split_indices(
            len(pool), data.val_fraction, data.test_fraction, seed, pool_strata
        )
        return {TRAIN: pool[train], VALIDATION: pool[val], TEST: pool[test]}
    if not wanted:
        return {TRAIN: pool}
    part = wanted[0]
    train, held = _draw(pool, fractions[part], seed, pool_strata, PART_NAMES[part])
    return {TRAIN: train, part: held}


def _draw(pool: np.ndarray, fraction: float, seed: int, strata: np.ndarray | None, name: str):
    """(rest, held out): `fraction` of `pool` drawn (seeded; stratified by `strata`)."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(pool, test_size=fraction, stratify=strata, random_state=seed)
    except ValueError as error:
        per_class = "" if strata is None else " stratified by class"
        raise DnanetError(
            f"cannot draw a {name} part of {fraction:g} from {len(pool)} training records"
            f"{per_class}: {error}"
        ) from None


def _by_chromosome(
    data,
    ids: Sequence[str],
    pool: np.ndarray,
    parts: np.ndarray,
    fixed: tuple[str, ...],
    where: Callable[[int], str],
) -> tuple[dict[int, np.ndarray], dict[str, list[str]]]:
    """The drawn parts of a chromosome split of `pool`, and each part's chromosomes."""
    index, names = chromosome_index(ids)
    missing = pool[index[pool] < 0]
    if len(missing):
        first = int(missing[0])
        raise DnanetError(
            f"{where(first)}: record '{ids[first]}' has no chromosome in its id, which a "
            "chromosome split needs (chrom:start-end, e.g. chr2:1000-1200 or chr2:1000-1200(+), "
            f"as bedtools getfasta writes); {len(missing):,} of {len(pool):,} training records "
            "lack one: use --split random for these inputs"
        )
    counts = np.bincount(index[pool], minlength=len(names))
    present = sorted((name for name, count in zip(names, counts) if count), key=chromosome_order)
    part_of = np.full(len(names), TRAIN, dtype=np.int8)
    for part, key, option in (
        (VALIDATION, "val_chroms", "--val-chroms"),
        (TEST, "test_chroms", "--test-chroms"),
    ):
        if PART_NAMES[part] in fixed:
            continue  # a fixed part replaces the held-out chromosomes
        if part == VALIDATION and getattr(data, "folds", 1) > 1:
            continue  # an ensemble member's validation chromosomes are its fold's (data.folds)
        requested = getattr(data, key)
        if not requested:
            raise DnanetError(
                f"data.{key} ({option}) is empty and no fixed {PART_NAMES[part]} set was given: "
                f"the {PART_NAMES[part]} part would be empty"
            )
        for name in requested:
            matches = [
                i for i, known in enumerate(names) if counts[i] and same_chromosome(known, name)
            ]
            if not matches:
                shown = ", ".join(present[:12]) + (
                    f", ... ({len(present)} in all)" if len(present) > 12 else ""
                )
                raise DnanetError(
                    f"data.{key} ({option}): no training record lies on {name}; the training "
                    f"records' chromosomes are {shown}"
                )
            part_of[matches] = part
    drawn_parts = part_of[index[pool]]
    drawn = {part: pool[drawn_parts == part] for part in (TRAIN, VALIDATION, TEST)}
    record_parts = np.asarray(parts).copy()
    record_parts[pool] = drawn_parts
    located = (
        index >= 0
    )  # fixed parts' records list their chromosomes too, where their ids have them
    chromosomes = {}
    for part in (TRAIN, VALIDATION, TEST):
        used = np.unique(index[located & (record_parts == part)])
        chromosomes[PART_NAMES[part]] = sorted((names[i] for i in used), key=chromosome_order)
    return drawn, chromosomes
