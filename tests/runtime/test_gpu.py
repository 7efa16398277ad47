"""The GPU settings, exercised on the CPU: mixed-precision inference and
training (torch's CPU autocast does bf16 and fp16), the fp16 loss scaler across a resume, and
loader workers that give the same batches as the main process (the precision choice itself:
test_precision.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import dnanet.training.loop
from dnanet.config.run_config import load_config
from dnanet.data.loaders import make_loader
from dnanet.data.streaming import iter_batches
from dnanet.errors import DnanetError
from dnanet.examples import heldout_inputs
from dnanet.inference.embed import represent
from dnanet.inference.predict import predict_batch
from dnanet.models import build_model
from dnanet.runs.load import load_run
from dnanet.runtime.distributed import Processes
from dnanet.runtime.precision import TOLERANCE, Precision
from dnanet.training.checkpoint import Checkpoint
from dnanet.training.experiment import loader_settings, train_model
from tests.training.test_checkpoint import StopAfter, small_config
from tests.training.test_train import MULTICLASS, example_set, planted_motif_set, small_cnn_config

CPU = torch.device("cpu")


def test_precision_setting_in_config_and_its_errors(tmp_path):
    assert (
        load_config().train.precision == "auto"
        and load_config(precision="bf16").train.precision == "bf16"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  precision: half\n")
    with pytest.raises(
        DnanetError, match="'train.precision' must be one of auto, fp32, bf16, fp16, got 'half'"
    ):
        load_config(bad)
    fp16 = dataclasses.replace(
        small_config(), train=dataclasses.replace(small_config().train, precision="fp16")
    )
    sequences, task = example_set()
    with pytest.raises(DnanetError, match="fp16 needs a CUDA GPU"):  # refused before any training
        train_model(fp16, sequences, task, [], CPU)


def test_bf16_predictions_agree_with_float32_within_the_tolerance(trained_run):
    """The trained CTCF CNN on the held-out files: bf16 autocast (as on a GPU, here the CPU's)
    moves no probability by more than TOLERANCE["bf16"]; the CPU's default is exactly fp32."""
    loaded = load_run(trained_run, CPU)
    model, task = loaded.model, loaded.task
    batches = list(iter_batches([path for _, path in heldout_inputs()], 64))
    exact, mixed, default = [], [], []
    for batch in batches:
        exact.append(
            predict_batch(
                model,
                batch.codes,
                batch.lengths,
                True,
                activate=task.activate,
                precision=Precision("fp32"),
            )
        )
        mixed.append(
            predict_batch(
                model,
                batch.codes,
                batch.lengths,
                True,
                activate=task.activate,
                precision=Precision("bf16"),
            )
        )
        default.append(
            predict_batch(model, batch.codes, batch.lengths, True, activate=task.activate)
        )
    exact, mixed, default = torch.cat(exact), torch.cat(mixed), torch.cat(default)
    assert mixed.dtype == torch.float32 and torch.equal(default, exact)
    difference = (mixed - exact).abs().max().item()
    assert 0 < difference <= TOLERANCE["bf16"], difference  # > 0: bf16 really ran


@pytest.mark.parametrize("name", ["cnn", "lstm", "transformer"])
def test_every_representation_runs_under_autocast(name):
    """Logits, embeddings and pooled tokens of each family under bf16 autocast: float32 results
    close to float32's (the transformer's token path once mixed dtypes and failed)."""
    torch.manual_seed(0)
    model = build_model(
        name, 3, {"encoder": "onehot", **({"max_len": 16} if name == "transformer" else {})}
    ).eval()
    codes = torch.randint(0, 4, (4, 150), dtype=torch.uint8)
    codes[2:, 90:] = 255  # padding
    with torch.no_grad():
        for layer, pool in (("embedding", None), ("tokens", "mean"), ("tokens", "max")):
            exact = represent(model, codes, layer, pool)
            with Precision("bf16").autocast():
                mixed = represent(model, codes, layer, pool).float()
            scale = exact.abs().max().item()
            assert (
                mixed.shape == exact.shape and (mixed - exact).abs().max().item() <= 0.05 * scale
            ), (layer, pool)


def test_bf16_training_learns_planted_motifs():
    config = small_cnn_config()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, precision="bf16"))
    result = train_model(config, planted_motif_set(), MULTICLASS, [], CPU)
    assert result.test_metrics["accuracy"] >= 0.8, result.test_metrics


@dataclasses.dataclass(frozen=True)
class EagerFp16(Precision):
    """fp16 on the CPU with a scaler that doubles its scale every 2 clean steps: the scale soon
    overflows fp16, steps are skipped and the scale backs off, so training depends on it."""

    name: str = "fp16"

    def grad_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler("cpu", growth_interval=2)


def test_fp16_loss_scaler_survives_a_resume(tmp_path, monkeypatch):
    """A resumed fp16 run continues with the saved scale (JSON numbers in state.json) and ends
    with the weights of the uninterrupted run."""
    monkeypatch.setattr(
        dnanet.training.loop, "precision_for", lambda device, setting="auto": EagerFp16()
    )
    sequences, task = example_set()
    straight = train_model(small_config(), sequences, task, [], CPU)
    checkpoint = Checkpoint(tmp_path / ".run.checkpoint", invocation={})
    with pytest.raises(KeyboardInterrupt):
        train_model(small_config(), sequences, task, [], CPU, StopAfter(2), checkpoint)
    saved = json.loads((checkpoint.folder / "state.json").read_text())["grad_scaler"]
    assert set(saved) >= {"scale", "_growth_tracker"} and saved["scale"] != 65536.0, saved
    resumed = train_model(small_config(), sequences, task, [], CPU, None, checkpoint)
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_scaler_state_round_trips_and_float32_saves_none(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=512.0)
    scaler.load_state_dict({**scaler.state_dict(), "scale": 128.0, "_growth_tracker": 7})
    checkpoint = Checkpoint(tmp_path / "state", invocation={})
    checkpoint.save(
        dnanet.training.loop.FitProgress(epoch=1), model, optimizer, scheduler, {}, scaler
    )
    fresh = torch.amp.GradScaler("cpu")
    checkpoint.restore(model, optimizer, scheduler, {}, fresh)
    assert fresh.get_scale() == 128.0 and fresh.state_dict()["_growth_tracker"] == 7
    checkpoint.save(
        dnanet.training.loop.FitProgress(epoch=1),
        model,
        optimizer,
        scheduler,
        {},
        Precision().grad_scaler(),
    )
    assert json.loads((checkpoint.folder / "state.json").read_text())["grad_scaler"] is None


def test_loader_workers_give_the_main_process_batches():
    """Forked workers cut the same batches, in the same order, and leave the order generator
    where the main process leaves it (two passes, as two epochs)."""
    sequences, _ = example_set()
    plain = make_loader(sequences, 32, shuffle=True, seed=3, steps=5)
    forked = make_loader(sequences, 32, shuffle=True, seed=3, steps=5, workers=2)
    for _ in range(2):
        for a, b in zip(plain, forked, strict=True):
            assert all(torch.equal(a[key], b[key]) for key in a)
    assert torch.equal(plain.generator.get_state(), forked.generator.get_state())


def test_loader_settings_per_device():
    assert loader_settings(CPU) == {}
    one = loader_settings(torch.device("cuda"))
    assert one["pin_memory"] and 0 <= one["workers"] <= 4
    assert (
        loader_settings(torch.device("cuda"), Processes(0, 10_000, 0))["workers"] == 0
    )  # cores shared out


def load_gpu_check():
    """scripts/gpu_check.py as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_script_on_the_cpu(capsys, monkeypatch, tmp_path):
    """The GPU check's logic, run on the CPU in bf16 against float32: a table, JSON, exit 0; a
    tolerance the difference passes makes it exit 1; without CUDA, --device cuda exits 2."""
    gpu_check = load_gpu_check()
    smoke = [
        "--device",
        "cpu",
        "--models",
        "cnn",
        "--steps",
        "3",
        "--per-class",
        "30",
        "--length",
        "80",
        "--compare",
        "60",
        "--precision",
        "bf16",
        "--json",
        str(tmp_path / "check.json"),
    ]
    assert gpu_check.main(smoke) == 0
    printed = capsys.readouterr().out
    assert "| cnn | bf16 | 32 | 3 |" in printed and printed.rstrip().endswith("| 2e-02 | yes |"), (
        printed
    )
    row = json.loads((tmp_path / "check.json").read_text())["rows"][0]
    assert 0 < row["max_prob_difference"] <= row["tolerance"] and row["peak_gpu_mib"] is None
    monkeypatch.setitem(gpu_check.TOLERANCE, "bf16", row["max_prob_difference"] / 2)
    assert gpu_check.main(smoke) == 1
    if not torch.cuda.is_available():
        assert gpu_check.main(["--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
