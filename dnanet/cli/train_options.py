"""The options of `dnanet train` that are its own (the run folder, task, config and its overrides,
the split and held-out sets, --resume, the store): their long help texts, kept apart from
`train.py` so that module holds the command's flow. Options shared with other commands (inputs,
labels, device, threads, genome) stay in `common.py` and `genome.py`."""

import typer

from dnanet.cli import choices

OutOption = typer.Option(
    None,
    "--out",
    "-o",
    help="Run folder to create: model, metrics.json, history.csv. Required unless --resume.",
)

TaskOption = typer.Option(
    "auto",
    help="auto, binary, multiclass, multilabel, regression, counts or profile. auto: several "
    "label columns or 'a;b' labels -> multilabel; a numeric column that is not all whole numbers "
    "(or has > 20 values) -> regression; else one class per label; with --signal tracks, counts. "
    "counts and profile are trained on --signal coverage.",
    autocompletion=choices.TASKS,
)

ConfigOption = typer.Option(
    None, "--config", "-c", help="YAML config (default: configs/<model>.yaml)."
)

ModelOption = typer.Option(
    None,
    "--model",
    "-m",
    autocompletion=choices.MODELS,
    help="Model family: its "
    "shipped config (configs/<model>.yaml); with --config, replaces that config's "
    "model section when it names another model.",
)

EpochsOption = typer.Option(None, help="Override train.epochs.")

SeedOption = typer.Option(None, help="Override seed.")

BatchSizeOption = typer.Option(None, help="Override train.batch_size.")

LrOption = typer.Option(None, help="Override train.lr.")

PrecisionOption = typer.Option(
    None,
    help="Override train.precision: auto (float32 on a CPU; CUDA: "
    "bf16 mixed precision where the GPU has it, else fp16), fp32, bf16 or fp16.",
    autocompletion=choices.PRECISIONS,
)

SplitOption = typer.Option(
    None,
    "--split",
    help="Override data.split: random (seeded, stratified by "
    "class: data.val_fraction and data.test_fraction of the inputs) or chromosome "
    "(whole chromosomes held out, --val-chroms and --test-chroms, so no held-out "
    "window overlaps a training window; record ids must be chrom:start-end, e.g. "
    "chr2:1000-1200 or chr2:1000-1200(+), as bedtools getfasta writes).",
)

ValChromsOption = typer.Option(
    None,
    "--val-chroms",
    help="Override data.val_chroms, comma-separated "
    "(default chr10): the validation chromosomes of --split chromosome "
    "('chr' optional: 10 matches chr10).",
)

TestChromsOption = typer.Option(
    None,
    "--test-chroms",
    help="Override data.test_chroms, comma-separated "
    "(default chr8,chr9): the test chromosomes of --split chromosome.",
)

ValOption = typer.Option(
    None,
    "--val",
    metavar="CLASS=PATH",
    show_default=False,
    help="A fixed validation "
    "set: FASTA files like the inputs (repeat per class; PATH alone with --labels). It "
    "replaces the validation part drawn from the inputs (data.val_fraction may be 0).",
)

TestOption = typer.Option(
    None,
    "--test",
    metavar="CLASS=PATH",
    show_default=False,
    help="A fixed test set, "
    "as --val: metrics.json scores exactly these records (less duplicates of training "
    "records); data.test_fraction may be 0. A 'split' column (train, validation, test) "
    "in the --labels table fixes parts the same way.",
)

KeepDuplicatesOption = typer.Option(
    False,
    "--keep-duplicates",
    help="Set data.keep_duplicates: keep held-out "
    "records whose sequence (either strand when the run averages strands) is also "
    "in training (test: or validation). By default they are removed; the counts "
    "are printed and kept in model.json either way.",
)

OverwriteRunOption = typer.Option(
    False, help="Replace an existing run folder (and an unfinished run's checkpoint)."
)

FoldsOption = typer.Option(
    None,
    "--folds",
    help="Train a K-fold ensemble into OUT: members OUT/fold_0 .. fold_{K-1} share the test "
    "part and each validates on one fold of the rest (chromosome folds with --split "
    "chromosome, else stratified). OUT/model.json lists the members; every command that takes "
    "a run takes OUT.",
    show_default=False,
)
FoldOption = typer.Option(
    None,
    "--fold",
    help="With --folds: train member I only (members as separate jobs); the ensemble is written "
    "when the last member is done.",
    show_default=False,
)
RequireAllFoldsOption = typer.Option(
    False,
    "--require-all-folds",
    help="With --folds: refuse the ensemble when a member did not learn or failed (default: "
    "name it and leave it out).",
)

ResumeOption = typer.Option(
    None,
    "--resume",
    help="Continue the unfinished run OUT from its last "
    "finished epoch (a run killed or stopped; its inputs, labels and config "
    "come from the checkpoint: give no FASTA, --labels or config options).",
)

CacheOption = typer.Option(
    None,
    "--cache",
    help="Folder for the sequence store (default: "
    ".dnanet-cache beside OUT). The inputs are read once into a memory-mapped "
    "store there, named by their SHA-256, so memory does not grow with the data "
    "and a later run on the same inputs skips reading; delete it to free disk.",
)

QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bar.")

SignalOption = typer.Option(
    None,
    "--signal",
    "--track",
    metavar="NAME=TRACK.bw",
    show_default=False,
    help="Train on coverage instead of labels: a bigWig track (repeat: one task output per track) "
    "read over each window of the BED inputs (--genome and --window needed; backgrounds: "
    "gc-matched or flank, which get their real coverage). --task counts (default): log(1 + reads) "
    "over --target-width; --task profile: the reads at each base as well (BPNet-style). Under "
    "torchrun write --track (torchrun takes --signal for its own --signals-to-handle).",
)

TargetWidthOption = typer.Option(
    None,
    "--target-width",
    help="Bases at the window's centre whose reads are the targets: summed (counts) or the "
    "profile's output width (default: the whole --window; window - width must be even).",
)

JitterOption = typer.Option(
    0,
    "--jitter",
    help="Shift each training window (sequence and targets together) by a random 0 to N bases "
    "either way each time it is drawn (bpnet-lite's max_jitter); windows are read 2N wider. "
    "Validation, test and prediction use the centre.",
)

ProfileLossOption = typer.Option(
    "multinomial",
    "--profile-loss",
    help="multinomial (bpnet-lite, ChromBPNet: the profile's multinomial NLL + lambda x MSE of "
    "log counts) or poisson (the per-base Poisson NLL of the predicted reads).",
)

CountsWeightOption = typer.Option(
    0.0,
    "--counts-weight",
    help="Lambda, the weight of the log-counts error in the multinomial profile loss (0: "
    "bpnet-lite's choice, the mean reads of the training windows; ChromBPNet uses the median / "
    "10).",
)

ExcludeOption = typer.Option(
    None,
    "--exclude",
    metavar="BLACKLIST.bed",
    show_default=False,
    help="A BED of regions (e.g. the ENCODE blacklist) that no window may overlap: intervals whose "
    "window does are left out (counted, printed and kept in model.json) and generated backgrounds "
    "avoid them. For labels and --signal alike.",
)

ControlOption = typer.Option(
    None,
    "--control",
    metavar="NAME=CONTROL.bw",
    show_default=False,
    help="The control experiment of --signal track NAME (ChIP input, IgG): an input of the model, "
    "as in BPNet (its log reads added to the counts and, per base, to the profile through learned "
    "weights). Training and metrics.json use it; predict, variants and attribute leave it out, "
    "so they give the sequence's own contribution, the control's removed.",
)

SignalDtypeOption = typer.Option(
    "float32",
    "--signal-dtype",
    help="How a profile run stores reads per base in its target store: float32, or float16 (half "
    "the disk and page cache; whole reads are exact up to 2,048 per base, then rounded to 3 "
    "significant digits).",
)

TensorboardOption = typer.Option(
    None,
    "--tensorboard",
    metavar="DIR",
    show_default=False,
    help="Log the run to TensorBoard in DIR (this run's own folder; view with tensorboard "
    "--logdir DIR, or give runs sibling folders, e.g. tb/ctcf and tb/lstm, and open tb): each "
    "epoch's history.csv numbers (train_loss, val_loss, the validation metrics, lr) at step = "
    "epoch, then the report's figures, the test metrics (test/...) and the config (text and "
    "hparams). An ensemble's members log to DIR/fold_I; --resume may give it again (the curves go "
    "on); under torchrun rank 0 logs. Needs pip install tensorboard.",
)

WandbOption = typer.Option(
    None,
    "--wandb",
    metavar="PROJECT",
    show_default=False,
    help="Log the same to Weights & Biases: a run named after OUT in PROJECT, with the config "
    "as its config and the test metrics in its summary (an ensemble: one run per member, "
    "grouped under OUT's name; a resumed run is a new W&B run that goes on at the next epoch). "
    "Run wandb login first, or set WANDB_MODE=offline to keep the run on disk (in WANDB_DIR) "
    "for wandb sync. Needs pip install wandb.",
)
