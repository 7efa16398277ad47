"""`dnanet motifs`: readable motifs from a trained model (attention or attributions)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from dnanet.cli import choices
from dnanet.cli.report import ConsoleReporter
from dnanet.cli.common import (
    DeviceOption,
    QuietOption,
    ThreadsOption,
    app,
    claim_output,
    err,
    setup_torch,
    user_errors,
    warn_if_not_learned,
)
from dnanet.cli.genome import (
    GENOME_INPUTS_HELP,
    BackgroundRatioOption,
    GenomeOption,
    RunWindowOption,
    genome_settings,
)
from dnanet.errors import DnanetError


@app.command()
@user_errors
def motifs(
    run: Path = typer.Argument(
        ..., help="A run folder made by `dnanet train` (a classification task)."
    ),
    inputs: List[str] = typer.Argument(
        None,
        help="FASTA files, one per class (the training files or new ones); the "
        "class is the file name or CLASS=PATH and must be one of the run's classes. "
        "Default: the bundled CTCF example." + GENOME_INPUTS_HELP,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder to create: motifs.meme, motifs.tsv, sites.tsv, "
        "classes.tsv, baseline.meme, baseline.tsv, logos/<motif>.png (and <motif>_match.png: its "
        "best known motif), summary.html.",
    ),
    method: str = typer.Option(
        "auto",
        help="Per-base scores: auto (attention for a transformer, else gradient), "
        "attention (weighted toward each class by its gradient x input), gradient (gradient x "
        "input) or ism (in-silico mutagenesis; 3L passes per sequence, slow). A model without "
        "attention falls back to gradient.",
        autocompletion=choices.MOTIF_METHODS,
    ),
    aggregation: str = typer.Option(
        "rollout",
        help="Attention reduction: rollout (attention rollout through all "
        "layers, [CLS] row), cls (last layer's [CLS] row, heads averaged) or mean "
        "(attention received, mean over layers and heads).",
        autocompletion=choices.AGGREGATIONS,
    ),
    background: str = typer.Option(
        "other",
        help="Background for seqlet thresholds and enrichment: other (the "
        "other classes' sequences) or shuffled (dinucleotide shuffles of the class).",
        autocompletion=choices.MOTIF_BACKGROUNDS,
    ),
    class_name: Optional[List[str]] = typer.Option(
        None,
        "--class",
        help="Find motifs for this class only; repeat "
        "for several (default: every class, each against the rest).",
    ),
    max_motifs: int = typer.Option(8, min=1, help="Most motifs per class."),
    max_q: float = typer.Option(
        0.05,
        "--max-q",
        min=0.0,
        max=1.0,
        help="Drop motifs whose enrichment q-value "
        "(Benjamini-Hochberg) is higher: not enriched in the class.",
    ),
    no_baseline: bool = typer.Option(
        False,
        "--no-baseline",
        help="Skip the model-free baseline (discriminative "
        "k-mer motifs of each class's whole sequences against the background: "
        "baseline.tsv, baseline.meme).",
    ),
    motif_db: Optional[Path] = typer.Option(
        None,
        "--motif-db",
        metavar="FILE.meme",
        help="MEME-format file of "
        "known motifs to compare with (ALPHABET= ACGU for RNA motifs, e.g. "
        "RNA-binding proteins'; default: JASPAR2024 CORE vertebrates, "
        "transcription factors, bundled with pyjaspar).",
    ),
    no_compare: bool = typer.Option(
        False, "--no-compare", help="Skip the comparison with known motifs."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    batch_size: int = typer.Option(128, min=1, help="Sequences per batch."),
    seed: int = typer.Option(0, help="Seed of the shuffles (and of generated background classes)."),
    genome: Optional[Path] = GenomeOption,
    window: Optional[int] = RunWindowOption,
    background_ratio: int = BackgroundRatioOption,
    device: str = DeviceOption,
    threads: Optional[int] = ThreadsOption,
    quiet: bool = QuietOption,
):
    """Find the sequence motifs that drive a model's predictions, and name them.

    Per-base scores toward each class (attributions, or attention weighted by the class's
    attributions) -> high-scoring windows of each class -> PWMs (reverse complements merged) ->
    enrichment against the background (Fisher's exact test, Benjamini-Hochberg q) ->
    faithfulness (drop in class probability when sites are shuffled) -> TomTom against JASPAR
    (or --motif-db). Motifs are ranked by enrichment p-value. A model trained on the forward
    strand only (reverse_complement off, or auto on strand-specific data such as RNA or
    promoters; model.json "strand") gets forward-strand motifs and sites; RNA inputs (U, no T)
    get RNA letters (logos, consensus, ALPHABET= ACGU). One line per class says how many sequences
    had a seqlet, how many candidate PWMs were found and why motifs were dropped (classes.tsv). A
    model-free baseline (k-mers enriched in the class's whole sequences) runs beside it.

      dnanet motifs runs/ctcf bound=bound.fa background=background.fa --out runs/ctcf/motifs
    """
    from dnanet.data.labelled import read_labelled_inputs
    from dnanet.data.sets import SequenceSet
    from dnanet.examples import training_inputs
    from dnanet.interpret.motifs.alphabet import RNA
    from dnanet.interpret.motifs.baseline import discover_baseline
    from dnanet.interpret.motifs.compare import JASPAR_RNA_NOTE
    from dnanet.interpret.motifs.kernels import COMPILING_NOTE, compiled
    from dnanet.interpret.motifs.pipeline import BACKGROUNDS, MotifOptions, discover, with_background
    from dnanet.interpret.motifs.scores import AGGREGATIONS, METHODS
    from dnanet.interpret.motifs.write import consensus, write_all
    from dnanet.runs.load import load_run
    from dnanet.data.tasks import Task

    _check_choice("--method", method, ("auto", *METHODS))
    _check_choice("--aggregation", aggregation, AGGREGATIONS)
    _check_choice("--background", background, BACKGROUNDS)
    output = claim_output(out, overwrite, folder=True)
    loaded = load_run(run, setup_torch(threads, device))
    model, description = loaded.model, loaded.record
    task = Task.from_dict(description["task"])
    if not task.is_classification:
        raise DnanetError(f"{run}: motifs need a classification run; this one is {task.kind}")
    for name in class_name or []:
        if name not in task.names:
            raise DnanetError(
                f"--class {name}: not one of the run's classes: {', '.join(task.names)}"
            )
    known = _known_motifs(motif_db, no_compare)
    records = read_labelled_inputs(
        inputs,
        None,
        "id",
        ["label"],
        training_inputs,
        genome=genome_settings(genome, window, background_ratio, seed, loaded),
        reporter=ConsoleReporter(),
    )
    letters, both_strands = _letters(inputs), bool(description["reverse_complement_average"])
    options = MotifOptions(
        method=method,
        aggregation=aggregation,
        background=background,
        classes=tuple(class_name or ()),
        max_motifs=max_motifs,
        max_q=max_q,
        batch_size=batch_size,
        seed=seed,
        both_strands=both_strands,
    )
    pool = SequenceSet(
        list(records.ids), records.flat, records.offsets, records.targets(task.encode)
    )
    n_sequences, pool = len(pool.ids), with_background(pool, options)
    warning = warn_if_not_learned(
        description,
        str(run),
        advice="; motifs from its scores are not meaningful"
        + ("" if no_baseline else "; the baseline motifs (no model) do not depend on it"),
    )
    told = [] if both_strands else [_strand_note(description)]
    if known is not None and known.dna_binding and letters == RNA:
        told.append(f"note: {JASPAR_RNA_NOTE}")
    for line in told + ([] if compiled() else [COMPILING_NOTE]):
        err.print(escape(line), highlight=False, soft_wrap=True)
    started = time.monotonic()
    with err.status("finding motifs", spinner="dots") if not quiet else _nothing() as status:
        say = (
            (lambda message: status.update(message))
            if status is not None
            else (lambda message: None)
        )
        found, reports, label = discover(
            model, task.names, pool, options, task.activate, known, say
        )
        baseline, baseline_reports = (
            (None, []) if no_baseline else discover_baseline(task.names, pool, options, known, say)
        )
    settings = (
        f"run {run}; {n_sequences:,} sequences ({'RNA' if letters == RNA else 'DNA'}); "
        f"scores: {label}; "
        f"background: {background}; known motifs: {'none' if known is None else known.name}; "
        f"motifs kept at q <= {max_q:g}"
    )
    notes = (
        ([f"warning: {warning}"] if warning else [])
        + [settings]
        + ([_strand_note(description)] if both_strands else [])
        + told
    )
    if method == "attention" and not label.startswith("attention"):
        notes.append(
            "this model has no attention layers: gradient x input attributions were used instead"
        )
        err.print(notes[-1], highlight=False)
    with output.writing() as temporary:
        write_all(
            temporary,
            found,
            f"dnanet motifs: {run.name}",
            notes,
            reports + baseline_reports,
            baseline,
            letters,
            both_strands,
        )
    for report in reports + baseline_reports:
        err.print(escape(report.line()), highlight=False, soft_wrap=True)
    if baseline is not None:
        err.print(
            escape(
                f"baseline (no model): {len(baseline)} motifs"
                + "".join(
                    f"; {m.id} {consensus(m.pwm, letters)}"
                    + (f" ~ {m.match.name} (q={m.match.q:.2g})" if m.match else "")
                    for m in baseline[:5]
                )
            ),
            highlight=False,
            soft_wrap=True,
        )
    top = found[0] if found else None
    err.print(
        escape(
            f"{len(found)} motifs ({label}) written to {out} in {time.monotonic() - started:.0f} s"
            + (f"; top: {top.id} {consensus(top.pwm, letters)}" if top else "")
            + (f" ~ {top.match.name} (q={top.match.q:.2g})" if top and top.match else "")
        ),
        highlight=False,
        soft_wrap=True,
    )


def _check_choice(option: str, value: str, choices) -> None:
    if value not in choices:
        raise DnanetError(f"{option} {value}: valid values: {', '.join(choices)}")


def _known_motifs(motif_db: Optional[Path], no_compare: bool):
    from dnanet.interpret.motifs.compare import jaspar_database, read_motif_file

    if no_compare:
        return None
    return read_motif_file(motif_db) if motif_db is not None else jaspar_database()


def _strand_note(description: dict) -> str:
    """Which strands the motifs come from, and why (model.json's ``strand`` record)."""
    if description["reverse_complement_average"]:
        return "strands: both (the model was trained with reverse-complement augmentation)"
    strand = description.get("strand") or {}
    why = (
        f"reverse_complement auto: the data look {strand['verdict']}"
        if strand.get("setting") == "auto" and "verdict" in strand
        else "reverse_complement: false"
    )
    return f"strands: forward only, as the model was trained ({why}); every site is on +"


def _letters(inputs: list[str]) -> str:
    """ACGU when the FASTA inputs are RNA (`dnanet.interpret.motifs.alphabet`), else ACGT."""
    from dnanet.cli.common import parse_inputs
    from dnanet.interpret.motifs.alphabet import DNA, input_letters

    return input_letters([item.path for item in parse_inputs(inputs, list)]) if inputs else DNA


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
