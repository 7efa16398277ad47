"""The outputs of many windows cut from one stretch of sequence: what a genome track predicts.

`window_predictor` gives ``predict(codes (N,), starts (n,)) -> outputs (n, C)``, the run's
outputs (probabilities or values, strand-averaged when the run averages strands) for the
`width`-base windows of one stretch at `starts`. Two ways, with equal results (within 1e-5):

- **shared** (`dnanet.models.sharing`, a one-hot CNN): the stretch goes through the
  convolutions once per pooling phase, and each window's own ends are computed again. A track's
  cost is then about one pass over its regions plus a little per window, whatever the step.
- **per window** (every other family: an LSTM or a transformer sees the whole window at every
  position, a k-mer model several bases per position, an ensemble several models): each window
  is cut out and predicted on its own, in batches; so is a CNN's where the windows barely
  overlap (a step near the width), as sharing would then cost more.

`sharing_reason` says which one a run gets, and why.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dnanet.data.loaders import inference_batch_size
from dnanet.inference.predict import activate_reverse, evaluation_mode, predict_batch
from dnanet.inputs.encode import reverse_complement
from dnanet.models.sharing import phase_period, shares_computation, window_logits
from dnanet.runtime.precision import precision_for

WindowPredictor = Callable[[np.ndarray, np.ndarray], np.ndarray]
SHARED_WORTH = 0.4  # shared when its passes over the stretch cost < 0.4 of the windows' bases
# (a 200 bp window's own ends cost about a third of a full pass: at step 100 sharing lost, 0.9x)


NOT_SHARED = {  # why a model's windows are computed one by one (`sharing_reason`)
    "CNN": "a CNN over k-mers reads several bases per position",
    "LSTM": "an LSTM sees the whole window at every position",
    "Transformer": "a transformer sees the whole window at every position",
    "Ensemble": "an ensemble's members are run one by one",
    "ProfileModel": "a signal model's windows are its output tiles",
}


def sharing_reason(run) -> str:
    """'' when `window_predictor` shares computation between a run's windows, else why not."""
    if shares_computation(run.model):
        return ""
    family = type(run.model).__name__
    why = NOT_SHARED.get(family, f"a {family} is not a one-hot CNN")
    return f"{why}: windows computed one by one"


def window_predictor(run, width: int, batch_size: int, shared: bool = True) -> WindowPredictor:
    """``predict(codes uint8 (N,), starts int64 (n,)) -> outputs float32 (n, C)`` for the run's
    `width`-base windows at `starts` of one stretch (module docstring); `shared=False` forces
    the per-window path (the reference the shared one is checked against)."""
    alone = _window_by_window(run, width, batch_size)
    if not shared or sharing_reason(run):
        return alone
    together = _shared_predictor(run, width)

    def predict(codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
        phases = len(np.unique(starts % phase_period(run.model)))
        stretch = int(starts.max() - starts.min()) + width if len(starts) else 0
        cheaper = phases * stretch < SHARED_WORTH * len(starts) * width
        return together(codes, starts) if cheaper else alone(codes, starts)

    return predict


def _window_by_window(run, width: int, batch_size: int) -> WindowPredictor:
    """`window_predictor`'s per-window path: windows cut out, predicted `batch_size` at a time
    (fewer for long windows, `dnanet.data.loaders.inference_batch_size`)."""
    rows = inference_batch_size(batch_size, width)

    def predict(codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(codes, width)
        parts = []
        for i in range(0, len(starts), rows):
            batch = windows[starts[i : i + rows]]
            lengths = np.full(len(batch), width, dtype=np.int64)
            parts.append(
                predict_batch(
                    run.model,
                    batch,
                    lengths,
                    run.reverse_complement_average,
                    activate=run.task.activate,
                ).numpy()
            )
        return np.concatenate(parts)

    return predict


def _shared_predictor(run, width: int) -> WindowPredictor:
    """`window_predictor`'s shared path: `dnanet.models.sharing.window_logits` on the
    stretch, and on its reverse complement when the run averages strands."""
    model = run.model
    device = next(model.parameters()).device
    precision = precision_for(device)

    def predict(codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
        forward = torch.tensor(codes).to(device)  # a copy: genome bytes are read-only
        at = torch.as_tensor(starts, dtype=torch.long).to(device)
        with evaluation_mode(model), precision.autocast():
            logits = window_logits(model, forward, at, width).float().cpu()
            if run.reverse_complement_average:
                whole = torch.tensor([len(codes)], device=device)
                reverse = reverse_complement(forward[None], whole)[0]
                back = window_logits(model, reverse, len(codes) - width - at, width)
        outputs = run.task.activate(logits)
        if run.reverse_complement_average:
            reverse_outputs = activate_reverse(run.task.activate, back.float().cpu())
            outputs = (outputs + reverse_outputs) / 2
        return outputs.numpy()

    return predict
