"""dnanet's profile model against bpnet-lite: the same windows, track and split, both trained here.

Both tools train a BPNet-style signal model (a base-resolution profile head scored by the
multinomial NLL of the reads, and a total-count head scored by the MSE of log counts) on the same
peak windows, and both are scored by one function of this script on the same held-out windows.

Windows: each peak's summit (narrowPeak column 10, else the interval's centre) +- window/2. A
peak whose window, widened by the jitter on both sides, runs off its chromosome is dropped (for
every split, so the held-out sets do not depend on the jitter). The split is by chromosome:
--val-chroms, --test-chroms, every other chromosome trains. The kept windows are written once
(FOLDER/windows/) and both tools read them.

- bpnet-lite (`pip install bpnet-lite`; imported only when its side runs): tangermeme's
  extract_loci reads the one-hot sequence (N, 4, window + 2*jitter), the profile
  (N, 1, output_width + 2*jitter) and the control; bpnetlite.BPNet (64 filters, 8 dilated
  layers, trimming (window - output_width) / 2) is trained by its own BPNet.fit with the
  defaults of its `bpnet fit` command: Adam at lr 1e-3, ReduceLROnPlateau, random jitter and
  reverse complement, and count_loss_weight = the mean total reads of the training peaks. The
  weights of the epoch with the lowest validation loss (the file fit keeps) predict the test
  windows. Its training sampler (bpnetlite.io.PeakNegativeSampler) needs a negative set, so the
  peaks-only batches come from a small dataset here that does what its peak branch does.
- dnanet: `dnanet train peaks=... --task profile --model cnn ...`, then `dnanet predict RUN
  test.bed --profiles preds.npz`; the model is the shipped cnn config.

Each tool runs in its own process, so its peak resident memory (getrusage of that child, via
os.wait4) is its own. Seconds per epoch are the median over epochs of training plus validation
(bpnet-lite's fit log; dnanet's history.csv). Test metrics, from arrays: Pearson and Spearman of
log(1 + total reads) observed against predicted, the median over windows of the Jensen-Shannon
distance (base 2) between the observed and the predicted profile (windows without reads left
out), and the median per-window Pearson of the profiles.

With no --genome/--peaks/--signal the script makes its own data: `dnanet example-genome
FOLDER/data`, with its signal.bw/control.bw, or when that command does not write them yet, a
stand-in coverage written here (Poisson reads around each planted site; see
write_standin_coverage).

Run:  python scripts/compare_bpnet.py --epochs 10 --out compare-bpnet [--only bpnet|dnanet]
      python scripts/compare_bpnet.py --genome hg38.fa --peaks peaks.narrowPeak \\
          --signal chip.bw --control input.bw --window 2114 --output-width 1000 --jitter 128 \\
          --val-chroms chr8,chr10 --test-chroms chr1 --epochs 20 --out compare-bpnet \\
          --json compare-bpnet/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

TRACK = "chip"  # the one signal track's name on dnanet's side (--signal chip=S.bw)
TOOLS = ("bpnet-lite", "dnanet")
# Letters other than ACGT that bpnet-lite's `bpnet fit` reads as all-zero columns (N included).
NON_ACGT = list("QWERYUIOPSDFHJKLZXVBNM")


@dataclass(frozen=True)
class Window:
    """One peak's window: `start` (0-based) to `start + width` on `chrom`, centred on `summit`."""

    chrom: str
    summit: int
    name: str

    def start(self, width: int) -> int:
        return self.summit - width // 2


@dataclass
class ToolResult:
    """What one tool's run gives the table: its description, timings and memory."""

    tool: str
    model: str
    parameters: int
    epoch_seconds: list[float]
    peak_rss_mb: float
    notes: dict


# ---------------------------------------------------------------------------------------------
# Command line


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Train dnanet's profile model and bpnet-lite's BPNet on the same peak windows, "
            "bigWig track and chromosome split, each in its own process, and print a Markdown "
            "table: test count Pearson/Spearman, median profile JSD and Pearson, seconds per "
            "epoch, peak memory, parameters. Without --genome/--peaks/--signal it makes its "
            "own data with `dnanet example-genome`."
        ),
        epilog=(
            "bpnet-lite is imported only when its side runs (pip install bpnet-lite; it needs "
            "tangermeme, figwig, pyfaidx). See the module docstring for what each side does."
        ),
    )
    data = parser.add_argument_group("data (all three, or none for the example genome)")
    data.add_argument("--genome", type=Path, help="Genome FASTA the peaks refer to.")
    data.add_argument("--peaks", type=Path, help="narrowPeak (summit in column 10) or BED.")
    data.add_argument("--signal", type=Path, help="bigWig of reads per base to predict.")
    data.add_argument("--control", type=Path, help="Optional control bigWig (an input to both).")
    shape = parser.add_argument_group("windows and split")
    shape.add_argument("--window", type=int, default=1000, help="Input bases per window.")
    shape.add_argument(
        "--output-width", type=int, default=1000, help="Profile bases predicted (centred)."
    )
    shape.add_argument("--jitter", type=int, default=64, help="Max training shift, each way.")
    shape.add_argument("--val-chroms", default="chr3", help="Comma-separated.")
    shape.add_argument("--test-chroms", default="chr2", help="Comma-separated.")
    training = parser.add_argument_group("training (the same for both tools)")
    training.add_argument("--epochs", type=int, default=10)
    training.add_argument("--batch-size", type=int, default=64)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--threads", type=int, default=2, help="CPU threads per tool.")
    training.add_argument("--device", default="cpu", help="cpu or cuda, for both tools.")
    bpnet = parser.add_argument_group("bpnet-lite's model (its `bpnet fit` defaults)")
    bpnet.add_argument("--n-filters", type=int, default=64)
    bpnet.add_argument("--n-layers", type=int, default=8)
    bpnet.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=Path("compare-bpnet"), help="Work folder.")
    parser.add_argument("--only", choices=("bpnet", "dnanet"), help="Run one tool only.")
    parser.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    parser.add_argument("--bpnet-worker", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    given = [arguments.genome, arguments.peaks, arguments.signal]
    if any(given) and not all(given):
        parser.error("give --genome, --peaks and --signal together, or none of them")
    if arguments.output_width > arguments.window:
        parser.error("--output-width must not exceed --window")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    if arguments.bpnet_worker:
        run_bpnet_worker(json.loads(arguments.bpnet_worker.read_text()))
        return
    arguments.out.mkdir(parents=True, exist_ok=True)
    inputs = resolve_inputs(arguments)
    windows = split_windows(read_windows(inputs["peaks"], inputs["genome"], arguments), arguments)
    files = write_windows(windows, arguments.window, arguments.out / "windows")
    observed = read_profiles(inputs["signal"], windows["test"], arguments.output_width)
    rows = []
    for tool in TOOLS:
        if arguments.only and not tool.startswith(arguments.only):
            continue
        run = run_bpnet_lite if tool == "bpnet-lite" else run_dnanet
        result, probabilities, log_counts = run(arguments, inputs, files, windows)
        rows.append({**asdict(result), **score_predictions(observed, probabilities, log_counts)})
        print(f"{tool}: done", file=sys.stderr)
    print(markdown_table(rows, n_test=len(windows["test"])))
    if arguments.json:
        summary = {"inputs": {k: str(v) for k, v in inputs.items()}, "rows": rows}
        summary["windows"] = {part: len(found) for part, found in windows.items()}
        arguments.json.write_text(json.dumps(summary, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Data: the inputs, the windows and the observed profiles


def resolve_inputs(arguments: argparse.Namespace) -> dict[str, Path]:
    """The genome, peaks, signal and (optional) control paths: given, or the example genome's."""
    if arguments.genome:
        found = {"genome": arguments.genome, "peaks": arguments.peaks, "signal": arguments.signal}
        return found | ({"control": arguments.control} if arguments.control else {})
    folder = arguments.out / "data"
    if not (folder / "genome.fa").exists():
        command = [sys.executable, "-m", "dnanet", "example-genome", str(folder)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    if not (folder / "signal.bw").exists():
        write_standin_coverage(folder, seed=arguments.seed)
    found = {"genome": folder / "genome.fa", "peaks": folder / "peaks.narrowPeak"}
    found["signal"] = folder / "signal.bw"
    return found | ({"control": folder / "control.bw"} if (folder / "control.bw").exists() else {})


def chromosome_sizes(genome: Path) -> dict[str, int]:
    """Bases per chromosome of a FASTA (through pyfaidx's index)."""
    import pyfaidx

    with pyfaidx.Fasta(str(genome)) as fasta:
        return {name: len(record) for name, record in fasta.items()}


def read_windows(peaks: Path, genome: Path, arguments: argparse.Namespace) -> list[Window]:
    """The peaks' windows in file order, less those whose window +- jitter leaves the chromosome.

    The summit is column 10 of a narrowPeak (an offset from the start; -1 or missing: the
    centre). Peaks on chromosomes the genome lacks are dropped too.
    """
    sizes = chromosome_sizes(genome)
    reach = arguments.window // 2 + arguments.jitter
    windows = []
    for number, line in enumerate(peaks.read_text().splitlines(), start=1):
        fields = line.split("\t")
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        start, end = int(fields[1]), int(fields[2])
        offset = int(fields[9]) if len(fields) >= 10 and int(fields[9]) >= 0 else (end - start) // 2
        summit = start + offset
        name = fields[3] if len(fields) > 3 else f"peak{number}"
        size = sizes.get(fields[0], 0)
        if summit - reach >= 0 and summit + reach + arguments.window % 2 <= size:
            windows.append(Window(fields[0], summit, name))
    return windows


def split_windows(windows: list[Window], arguments: argparse.Namespace) -> dict[str, list]:
    """Train / val / test by chromosome: the named validation and test chromosomes, the rest
    trains."""
    val = set(arguments.val_chroms.split(","))
    test = set(arguments.test_chroms.split(","))
    parts = {
        "train": [w for w in windows if w.chrom not in val | test],
        "val": [w for w in windows if w.chrom in val],
        "test": [w for w in windows if w.chrom in test],
    }
    for part, found in parts.items():
        if not found:
            raise SystemExit(f"no {part} windows: check --val-chroms/--test-chroms and --peaks")
    return parts


def write_windows(windows: dict[str, list], width: int, folder: Path) -> dict[str, Path]:
    """The kept windows as files both tools read.

    peaks.narrowPeak: every kept window, start/end the window itself and the summit (column 10)
    its centre, so a reader that centres on the summit and one that centres on the interval
    agree; test.bed: the test windows (BED3, `width` bases), in the order of `windows["test"]`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    every = windows["train"] + windows["val"] + windows["test"]
    lines = [
        f"{w.chrom}\t{w.start(width)}\t{w.start(width) + width}\t{w.name}\t0\t.\t0\t-1\t-1\t"
        f"{w.summit - w.start(width)}\n"
        for w in every
    ]
    (folder / "peaks.narrowPeak").write_text("".join(lines))
    test = [f"{w.chrom}\t{w.start(width)}\t{w.start(width) + width}\n" for w in windows["test"]]
    (folder / "test.bed").write_text("".join(test))
    return {"peaks": folder / "peaks.narrowPeak", "test": folder / "test.bed"}


def read_profiles(bigwig: Path, windows: list[Window], width: int) -> np.ndarray:
    """Reads per base of `width` bases centred on each window's summit: (N, 1, width) float64,
    missing values 0."""
    import pyBigWig

    with pyBigWig.open(str(bigwig)) as track:
        rows = [
            track.values(w.chrom, w.start(width), w.start(width) + width, numpy=True)
            for w in windows
        ]
    return np.nan_to_num(np.stack(rows).astype(np.float64))[:, None, :]


# ---------------------------------------------------------------------------------------------
# Stand-in coverage, used only while `dnanet example-genome` writes no signal.bw/control.bw


def write_standin_coverage(folder: Path, seed: int) -> None:
    """signal.bw and control.bw for the example genome in `folder`, made up here.

    signal: per-base Poisson reads, 0.02 per base everywhere plus a Gaussian footprint (sd 20
    bases) at each site of sites.tsv holding on average 40 * exp(12 * (GC - 0.45)) reads (5 to
    400), GC being the site's +-100 bases: a strength the sequence tells. control: Poisson
    reads, 0.05 per base.
    """
    import pyfaidx

    rng = np.random.default_rng(seed)
    with pyfaidx.Fasta(str(folder / "genome.fa")) as fasta:
        sequences = {name: str(record).upper() for name, record in fasta.items()}
    rates = {name: np.full(len(seq), 0.02) for name, seq in sequences.items()}
    bases = np.arange(-80, 81)
    footprint = np.exp(-0.5 * (bases / 20.0) ** 2)
    for line in (folder / "sites.tsv").read_text().splitlines()[1:]:
        chrom, start, end = line.split("\t")[:3]
        centre = (int(start) + int(end)) // 2
        around = sequences[chrom][centre - 100 : centre + 100]
        gc = (around.count("G") + around.count("C")) / max(1, len(around))
        reads = float(np.clip(40 * np.exp(12 * (gc - 0.45)), 5, 400))
        rates[chrom][centre + bases] += reads * footprint / footprint.sum()
    sizes = {name: len(seq) for name, seq in sequences.items()}
    write_bigwig(folder / "signal.bw", sizes, {c: rng.poisson(r) for c, r in rates.items()})
    control = {c: rng.poisson(0.05, size) for c, size in sizes.items()}
    write_bigwig(folder / "control.bw", sizes, control)


def write_bigwig(path: Path, sizes: dict[str, int], counts: dict[str, np.ndarray]) -> None:
    """A bigWig of per-base counts (1-base entries where the count is not 0)."""
    import pyBigWig

    track = pyBigWig.open(str(path), "w")
    track.addHeader(list(sizes.items()))
    for chrom in sizes:
        where = np.flatnonzero(counts[chrom])
        track.addEntries(
            chrom, where.tolist(), values=counts[chrom][where].astype(float).tolist(), span=1
        )
    track.close()


# ---------------------------------------------------------------------------------------------
# Metrics: one function for both tools


def score_predictions(
    observed: np.ndarray, probabilities: np.ndarray, log_counts: np.ndarray
) -> dict:
    """Test metrics of one tool from arrays.

    observed: reads per base (N, T, W); probabilities: the predicted profile (N, T, W), each row
    summing to 1 (rescaled here); log_counts: the predicted log(1 + total reads) per window and
    track (N, T). Count Pearson/Spearman: of log(1 + observed totals) against log_counts, per
    track, then the mean over tracks. Profile JSD: scipy's Jensen-Shannon distance, base 2,
    between the observed and the predicted profile of each window and track with reads; the
    median. Profile Pearson: the median over those windows of the Pearson of the two profiles
    (windows whose observed or predicted profile is flat left out).
    """
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import pearsonr, spearmanr

    totals = observed.sum(axis=-1)
    pearson = [
        pearsonr(np.log1p(totals[:, t]), log_counts[:, t])[0] for t in range(totals.shape[1])
    ]
    spearman = [
        spearmanr(np.log1p(totals[:, t]), log_counts[:, t])[0] for t in range(totals.shape[1])
    ]
    with_reads = totals > 0
    seen = observed[with_reads] / totals[with_reads][:, None]
    predicted = probabilities[with_reads]
    predicted = predicted / predicted.sum(axis=-1, keepdims=True)
    # scipy takes the square root of a divergence that rounding can leave just below 0: NaN
    with np.errstate(invalid="ignore"):
        distances = jensenshannon(seen, predicted, base=2, axis=-1)
    same = np.abs(seen - predicted).max(axis=-1) < 1e-12
    distances[np.isnan(distances) & same] = 0.0
    varied = (seen.std(axis=-1) > 0) & (predicted.std(axis=-1) > 0)
    profile_pearson = [pearsonr(a, b)[0] for a, b in zip(seen[varied], predicted[varied])]
    return {
        "n_test": int(observed.shape[0]),
        "count_pearson": float(np.mean(pearson)),
        "count_spearman": float(np.mean(spearman)),
        "profile_jsd": float(np.median(distances)),
        "profile_pearson": float(np.median(profile_pearson)) if profile_pearson else float("nan"),
        "n_profiles_scored": int(with_reads.sum()),
    }


def markdown_table(rows: list[dict], n_test: int) -> str:
    """The comparison as a Markdown table, one row per tool."""
    header = (
        "| tool | model | test count Pearson | Spearman | median profile JSD "
        "| median profile Pearson | s/epoch (median) | peak RSS MB | parameters |"
    )
    lines = [header, "|" + "---|" * 9]
    for row in rows:
        seconds = statistics.median(row["epoch_seconds"]) if row["epoch_seconds"] else float("nan")
        lines.append(
            f"| {row['tool']} | {row['model']} | {row['count_pearson']:.3f} "
            f"| {row['count_spearman']:.3f} | {row['profile_jsd']:.3f} "
            f"| {row['profile_pearson']:.3f} | {seconds:.2f} | {row['peak_rss_mb']:.0f} "
            f"| {row['parameters']:,} |"
        )
    return "\n".join(lines) + f"\n\n{n_test} test windows."


# ---------------------------------------------------------------------------------------------
# Running a tool in its own process


def run_measured(command: list[str], log: Path, threads: int) -> tuple[float, float]:
    """Run `command` as a child with `threads` CPU threads, its output to `log`: (wall seconds,
    peak resident memory in MB of the child and its descendants, from os.wait4)."""
    environment = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    with log.open("w") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({child.returncode}); {log}:\n{tail}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024  # Linux: KiB


# ---------------------------------------------------------------------------------------------
# bpnet-lite


def run_bpnet_lite(arguments, inputs, files, windows) -> tuple[ToolResult, np.ndarray, np.ndarray]:
    """bpnet-lite's side in a child process (this script with --bpnet-worker): its result and
    test predictions (probabilities (N, 1, W), log counts (N, 1))."""
    folder = arguments.out / "bpnet-lite"
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "inputs": {k: str(v) for k, v in inputs.items()},
        "windows": {p: [[w.chrom, w.summit] for w in found] for p, found in windows.items()},
        "folder": str(folder),
        **{k: getattr(arguments, k) for k in ("window", "output_width", "jitter", "epochs")},
        **{k: getattr(arguments, k) for k in ("batch_size", "seed", "threads", "device")},
        **{k: getattr(arguments, k) for k in ("n_filters", "n_layers", "lr")},
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    command = [sys.executable, str(Path(__file__).resolve()), "--bpnet-worker"]
    _, peak_mb = run_measured(
        command + [str(folder / "spec.json")], folder / "log.txt", arguments.threads
    )
    outcome = json.loads((folder / "outcome.json").read_text())
    predictions = np.load(folder / "predictions.npz")
    result = ToolResult(
        tool="bpnet-lite",
        model=f"BPNet {arguments.n_filters}x{arguments.n_layers}",
        parameters=outcome["parameters"],
        epoch_seconds=outcome["epoch_seconds"],
        peak_rss_mb=peak_mb,
        notes={"count_loss_weight": outcome["count_loss_weight"], "version": outcome["version"]},
    )
    return result, predictions["probabilities"], predictions["log_counts"]


def run_bpnet_worker(spec: dict) -> None:
    """bpnet-lite's side, run in its own process: extract, fit, predict the test windows.

    Writes FOLDER/outcome.json (parameters, seconds per epoch, count_loss_weight) and
    FOLDER/predictions.npz (probabilities (N, 1, W), log_counts (N, 1), in test-window order).
    """
    from importlib.metadata import version

    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    from bpnetlite import BPNet
    from tangermeme.predict import predict

    folder = Path(spec["folder"])
    train = extract(spec, "train", spec["jitter"])
    val, test = extract(spec, "val", 0), extract(spec, "test", 0)
    control = "control" in spec["inputs"]
    # `bpnet fit` (bpnet-lite's command): count_loss_weight = the training peaks' mean reads.
    count_loss_weight = float(train["signal"].sum(dim=-1).mean())
    model = BPNet(
        n_filters=spec["n_filters"],
        n_layers=spec["n_layers"],
        n_outputs=1,
        n_control_tracks=1 if control else 0,
        count_loss_weight=count_loss_weight,
        trimming=(spec["window"] - spec["output_width"]) // 2,
        name=str(folder / "bpnet"),
        verbose=True,
    ).to(spec["device"])
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=5, threshold=0.0001, min_lr=0.0001
    )
    model.fit(
        peak_batches(train, spec),
        optimizer,
        scheduler,
        X_valid=val["sequence"],
        X_ctl_valid=val.get("control"),
        y_valid=val["signal"],
        max_epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        dtype="float32",
        device=spec["device"],
    )
    log = model.logger.data
    seconds = [a + b for a, b in zip(log["Training Time"], log["Validation Time"])]
    best = torch.load(folder / "bpnet.torch", weights_only=False)  # fit keeps the best epoch
    best.eval()
    arguments = (test["control"],) if control else None
    with torch.no_grad():
        logits, log_counts = predict(
            best,
            test["sequence"],
            args=arguments,
            batch_size=spec["batch_size"],
            dtype="float32",
            device=spec["device"],
        )
    flat = torch.softmax(logits.reshape(len(logits), -1).double(), dim=-1)
    np.savez(
        folder / "predictions.npz",
        probabilities=flat.reshape(logits.shape).numpy(),
        log_counts=log_counts.double().numpy(),
    )
    outcome = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "epoch_seconds": seconds,
        "count_loss_weight": count_loss_weight,
        "version": version("bpnet-lite"),
    }
    (folder / "outcome.json").write_text(json.dumps(outcome, indent=2))


def extract(spec: dict, part: str, jitter: int) -> dict:
    """One split's tensors by tangermeme's extract_loci (what bpnet-lite reads with):
    sequence (N, 4, window + 2*jitter), signal (N, 1, output_width + 2*jitter) and control
    (N, 1, window + 2*jitter) when given. Every window is kept (they were chosen to fit)."""
    import pandas as pd
    from tangermeme.io import extract_loci

    summits = spec["windows"][part]
    loci = pd.DataFrame(
        {"chrom": [c for c, _ in summits], "start": [s for _, s in summits]}
    ).assign(end=lambda frame: frame["start"] + 1)  # a 1-base locus: its middle is the summit
    control = spec["inputs"].get("control")
    found = extract_loci(
        loci=loci,
        sequences=spec["inputs"]["genome"],
        signals=[spec["inputs"]["signal"]],
        in_signals=[control] if control else None,
        in_window=spec["window"],
        out_window=spec["output_width"],
        max_jitter=jitter,
        ignore=NON_ACGT,
        return_mask=True,
        n_jobs=1,
    )
    if not bool(found[-1].all()):
        raise SystemExit(f"extract_loci dropped {int((~found[-1]).sum())} {part} windows")
    names = ["sequence", "signal", "control"] if control else ["sequence", "signal"]
    return dict(zip(names, found[:-1]))


def peak_batches(train: dict, spec: dict):
    """Training batches for BPNet.fit: (sequence, [control,] signal, label 1) with a random
    shift of 0..2*jitter-1 and a random strand, as bpnet-lite's PeakNegativeSampler does for
    peaks."""
    import torch

    class JitteredPeaks(torch.utils.data.Dataset):
        def __init__(self):
            self.random = np.random.RandomState(spec["seed"])

        def __len__(self):
            return len(train["sequence"])

        def __getitem__(self, index):
            shift = self.random.randint(2 * spec["jitter"]) if spec["jitter"] else 0
            inputs = {"sequence": spec["window"], "control": spec["window"]}
            piece = {
                key: value[index][:, shift : shift + inputs.get(key, spec["output_width"])]
                for key, value in train.items()
            }
            if self.random.randint(2):
                piece = {key: torch.flip(value, [0, 1]) for key, value in piece.items()}
            order = (
                ["sequence", "control", "signal"] if "control" in piece else ["sequence", "signal"]
            )
            return (*[piece[key] for key in order], 1)

    generator = torch.Generator().manual_seed(spec["seed"])
    return torch.utils.data.DataLoader(
        JitteredPeaks(), batch_size=spec["batch_size"], shuffle=True, generator=generator
    )


# ---------------------------------------------------------------------------------------------
# dnanet (written against the command line of its profile task; untested until that lands)


def run_dnanet(arguments, inputs, files, windows) -> tuple[ToolResult, np.ndarray, np.ndarray]:
    """dnanet's side: `dnanet train` in a child process (measured), then `dnanet predict` on the
    test windows; its result and test predictions (probabilities (N, 1, W), log counts (N, 1))."""
    folder = arguments.out / "dnanet"
    folder.mkdir(parents=True, exist_ok=True)
    run = folder / "run"
    dnanet = [sys.executable, "-m", "dnanet"]
    train = dnanet + ["train", f"peaks={files['peaks']}", "--genome", str(inputs["genome"])]
    train += ["--window", str(arguments.window), "--signal", f"{TRACK}={inputs['signal']}"]
    if "control" in inputs:
        train += ["--control", f"{TRACK}={inputs['control']}"]
    train += ["--task", "profile", "--target-width", str(arguments.output_width)]
    train += ["--jitter", str(arguments.jitter), "--split", "chromosome"]
    train += ["--val-chroms", arguments.val_chroms, "--test-chroms", arguments.test_chroms]
    train += ["--model", "cnn", "--epochs", str(arguments.epochs), "--seed", str(arguments.seed)]
    train += ["--batch-size", str(arguments.batch_size), "--threads", str(arguments.threads)]
    train += ["--device", arguments.device, "--out", str(run), "--overwrite", "--quiet"]
    wall, peak_mb = run_measured(train, folder / "train.log", arguments.threads)
    profiles, table = folder / "preds.npz", folder / "preds.tsv"
    predict = dnanet + ["predict", str(run), str(files["test"]), "--genome", str(inputs["genome"])]
    predict += ["--profiles", str(profiles), "--out", str(table), "--device", arguments.device]
    run_measured(predict, folder / "predict.log", arguments.threads)
    probabilities, log_counts = read_dnanet_predictions(
        table, profiles, windows["test"], arguments.window, arguments.output_width
    )
    result = ToolResult(
        tool="dnanet",
        model="cnn (configs/cnn.yaml)",
        parameters=safetensors_parameters(run / "model.safetensors"),
        epoch_seconds=history_seconds(run / "history.csv") or [wall / arguments.epochs],
        peak_rss_mb=peak_mb,
        notes={"metrics": json.loads((run / "metrics.json").read_text())},
    )
    return result, probabilities, log_counts


def read_dnanet_predictions(
    table: Path, profiles: Path, windows: list[Window], window: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """`dnanet predict --profiles`'s output in test-window order: probabilities (N, 1, width)
    and log(1 + predicted total) (N, 1).

    table: a TSV with `id` and `pred_<track>` (predicted total reads); profiles: an npz with
    `ids` and `<track>` (N, W'), expected reads per base, cropped to its central `width` when
    W' is wider. Rows are matched to windows by the chrom:start-end of their ids.
    """
    import pandas as pd

    frame = pd.read_csv(table, sep="\t")
    stored = np.load(profiles, allow_pickle=False)
    keys = {(w.chrom, w.start(window), w.start(window) + window): i for i, w in enumerate(windows)}
    order = [keys[coordinates_of(name)] for name in frame["id"].astype(str)]
    if sorted(order) != list(range(len(windows))):
        raise SystemExit(f"{table}: its ids are not the {len(windows)} test windows")
    by_id = {str(name): row for row, name in enumerate(stored["ids"])}
    profile = np.asarray(stored[TRACK], dtype=np.float64)[[by_id[str(n)] for n in frame["id"]]]
    crop = (profile.shape[-1] - width) // 2
    if crop < 0:
        raise SystemExit(f"{profiles}: profiles of {profile.shape[-1]} bases, need {width}")
    probabilities = np.empty((len(windows), 1, width))
    log_counts = np.empty((len(windows), 1))
    probabilities[order, 0] = profile[:, crop : crop + width]
    log_counts[order, 0] = np.log1p(frame[f"pred_{TRACK}"].to_numpy(dtype=np.float64))
    return probabilities / probabilities.sum(axis=-1, keepdims=True), log_counts


def coordinates_of(record_id: str) -> tuple[str, int, int]:
    """(chrom, start, end) of a BED record's id, chrom:start-end with an optional (strand)."""
    matched = re.fullmatch(r"(.+):(\d+)-(\d+)(\([+.-]\))?", record_id)
    if not matched:
        raise SystemExit(f"dnanet predict: record id {record_id!r} is not chrom:start-end")
    return matched[1], int(matched[2]), int(matched[3])


def history_seconds(history: Path) -> list[float]:
    """The `seconds` column of a run's history.csv (one row per epoch), or [] without one."""
    import pandas as pd

    frame = pd.read_csv(history)
    return frame["seconds"].astype(float).tolist() if "seconds" in frame else []


def safetensors_parameters(path: Path) -> int:
    """Numbers stored in a safetensors file (the model's parameters and buffers), from its
    header alone."""
    with path.open("rb") as stored:
        size = int.from_bytes(stored.read(8), "little")
        header = json.loads(stored.read(size))
    return sum(int(np.prod(t["shape"])) for k, t in header.items() if k != "__metadata__")


if __name__ == "__main__":
    main()
