"""Two real factors, one model: does every family name both factors' JASPAR families?

Real ChIP-seq peaks of two transcription factors with different motifs, as three classes: ``ctcf``
(CTCF peaks, ctcf-101bp/bound.fa; C2H2 zinc fingers), ``usf`` (GM12878 peaks whose dominant motif
is the USF/MAX-like E-box CACGTGAC, a bHLH-ZIP dimer: chipseq-ebox-236bp, train and test positives)
and ``background`` (both sets' GC-matched negatives). Every record is cut to its central 101 bp
(the CTCF peaks' width; shorter E-box records are skipped) so that length tells the classes
nothing. Each model family is trained with its shipped config and its motifs are found with every
scoring method that applies to it (``--methods``; the transformer's attention too) and with each
motif engine (``--engines``; modisco once per family, on ``--attribution``). A factor counts as
found by a method when one of its class's top ``--top`` motifs (by enrichment p) has a best
JASPAR2024 match (TomTom), or a match tied with the best on q (motifs.tsv's best_match_family), in
the factor's JASPAR family (CTCF: "More than 3 adjacent zinc fingers"; USF: "bHLH-ZIP").

The data are read in place (chipseq-ebox-236bp is GPL-3.0 and is never copied). Writes a
Markdown table (``--out``) and prints each row as it finishes.

Run:  python scripts/two_factor_motifs.py [--data ../shared/data] [--families cnn,lstm,transformer]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from Bio.SeqIO.FastaIO import SimpleFastaParser

from dnanet.config.run_config import load_config
from dnanet.data.sets import SequenceSet
from dnanet.data.store import read_labelled
from dnanet.data.tasks import infer_task
from dnanet.inputs.sources import LabelledInput
from dnanet.interpret.motifs.compare import best_families, jaspar_database
from dnanet.interpret.motifs.pipeline import MotifOptions, discover
from dnanet.interpret.motifs.scores import has_attention
from dnanet.training.experiment import train_model

REPO = Path(__file__).resolve().parent.parent
WIDTH = 101
EBOX = "chipseq-ebox-236bp/raw/wgEncodeSydhTfbsGm12878Nfe2hStdAlnRep0"
FACTORS = {"ctcf": "More than 3 adjacent zinc fingers", "usf": "bHLH-ZIP"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data", help="the data folder"
    )
    parser.add_argument("--families", default="cnn,lstm,transformer")
    parser.add_argument(
        "--methods",
        default="auto,gradient",
        help="scoring methods of `dnanet motifs --method` (auto: attention for the transformer)",
    )
    parser.add_argument("--engines", default="own", help="motif engines (own, modisco)")
    parser.add_argument(
        "--attribution", default="saliency", help="the modisco engine's attribution method"
    )
    parser.add_argument("--top", type=int, default=5, help="top motifs of a class searched")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "two_factor_motifs.md")
    args = parser.parse_args()
    args.families = args.families.split(",")
    args.methods = args.methods.split(",")
    args.engines = args.engines.split(",")
    return args


def central(path: Path, width: int = WIDTH) -> list[tuple[str, str]]:
    """The records of a FASTA file cut to their central `width` bases (shorter ones skipped)."""
    with open(path) as handle:
        records = [(title.split()[0], seq) for title, seq in SimpleFastaParser(handle)]
    cut = []
    for name, seq in records:
        if len(seq) >= width:
            start = (len(seq) - width) // 2
            cut.append((name, seq[start : start + width]))
    return cut


def write_classes(data: Path, folder: Path) -> dict[str, Path]:
    """ctcf.fa, usf.fa and background.fa under `folder` (ids prefixed by their source)."""
    classes = {
        "ctcf": central(data / "ctcf-101bp" / "bound.fa"),
        "usf": central(data / f"{EBOX}.tr.fa") + central(data / f"{EBOX}.test.fa"),
        "background": [("ctcf_" + n, s) for n, s in central(data / "ctcf-101bp/background.fa")]
        + [("usf_" + n, s) for n, s in central(data / f"{EBOX}.neg.tr.fa")]
        + [("usf_" + n, s) for n, s in central(data / f"{EBOX}.neg.test.fa")],
    }
    files = {}
    for name, records in classes.items():
        files[name] = folder / f"{name}.fa"
        seen: set[str] = set()
        with open(files[name], "w") as handle:
            for i, (record, seq) in enumerate(records):
                record = record if record not in seen else f"{record}_{i}"
                seen.add(record)
                handle.write(f">{record}\n{seq}\n")
    return files


def found_family(found, class_name: str, family: str, top: int) -> str:
    """'yes (rank, match)' when a top motif of the class has a best JASPAR match in `family`
    (or a match tied with the best on q: `compare.best_families`, motifs.tsv's
    best_match_family)."""
    ranked = [m for m in found if m.class_name == class_name][:top]
    for rank, motif in enumerate(ranked, 1):
        tied = best_families(motif.matches).split("; ")
        if family in tied:
            names = [m.name for m in motif.matches if m.family == family]
            return f"yes ({rank}, {motif.match.name}" + (
                f" = {names[0]} on q)" if names[0] != motif.match.name else ")"
            )
    named = ", ".join(m.match.name for m in ranked if m.match) or "none"
    return f"**no** (top: {named})"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    known = jaspar_database()
    lines = [
        "# Two real factors: CTCF and a USF-like E-box factor",
        "",
        f"Generated by `scripts/two_factor_motifs.py` (central {WIDTH} bp; seed {args.seed}; "
        f"found = a motif among the class's top {args.top} by enrichment p whose best JASPAR2024 "
        "match, or a match tied with it on q, is in the factor's family; cell: rank and match).",
        "",
        "| family | test accuracy | engine | method | ctcf (zinc fingers) | usf (bHLH-ZIP) "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        files = write_classes(args.data, Path(folder))
        records = read_labelled([LabelledInput(label, path) for label, path in files.items()])
    task = infer_task(records.label_values, ["class"])
    sequences = records.with_targets(records.targets(task.encode))
    pool = SequenceSet(list(records.ids), records.flat, records.offsets, sequences.targets)
    counts = np.bincount(pool.targets, minlength=len(task.names))
    print(", ".join(f"{n} {c}" for n, c in zip(task.names, counts)), flush=True)
    for family in args.families:
        start = time.perf_counter()
        config = load_config(model=family, seed=args.seed)
        result = train_model(config, sequences, task, [], torch.device("cpu"))
        accuracy = f"{result.test_metrics['accuracy']:.3f}"
        model = result.model.eval()
        for engine in args.engines:
            for method in args.methods if engine == "own" else args.methods[:1]:
                if method == "auto" and not has_attention(model) and len(args.methods) > 1:
                    continue  # auto is gradient × input here: the gradient row
                options = dataclasses.replace(MotifOptions(), method=method)
                if engine != "own":
                    options = dataclasses.replace(
                        options, engine=engine, attribution=args.attribution
                    )
                found, _, label = discover(model, task.names, pool, options, task.activate, known)
                cells = [found_family(found, name, FACTORS[name], args.top) for name in FACTORS]
                seconds = time.perf_counter() - start
                lines.append(
                    f"| {family} | {accuracy} | {engine} | {label} | "
                    + " | ".join(cells)
                    + f" | {seconds:.0f} |"
                )
                print(lines[-1], flush=True)
                start = time.perf_counter()
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
