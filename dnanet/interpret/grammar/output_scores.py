"""Every output of a run, on the scale `dnanet attribute` explains, for many sequences at once: the
one scoring path of `dnanet marginalize` and `dnanet design`.

Each output is a `dnanet.interpret.attribution.target_output` objective: a class's or label's
log-odds ``log(p / (1 - p))``, a regression target's value, or a signal run's predicted
log(1 + reads) of a track, averaged over both strands when the run averages them (as `dnanet
predict` reports it). Sequences are scored in float32 on every device, `batch_size` at a time (fewer
when they would pass `dnanet.data.loaders.BATCH_BASES` padded bases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dnanet.data.loaders import BATCH_BASES
from dnanet.inference.predict import evaluation_mode
from dnanet.inputs.encode import reverse_complement
from dnanet.interpret import attribution
from dnanet.runs.load import Run


@dataclass
class OutputScorer:
    """Scores codes uint8 ``(B, L)`` (lengths ``(B,)``) -> float32 ``(B, O)``: one column per
    output `names` (``scale``: `dnanet.interpret.attribution.OUTPUT_NAMES`)."""

    model: torch.nn.Module
    objectives: list
    names: list[str]
    scale: str
    strands: int = 1
    batch_size: int = 128

    @classmethod
    def of_run(cls, run: Run, batch_size: int = 128) -> "OutputScorer":
        """Every output of `run` (each class, label, regression target or track)."""
        task = run.task
        return cls(
            run.model,
            [attribution.target_output(task, index) for index in range(len(task.names))],
            list(task.names),
            attribution.output_name(task),
            2 if run.reverse_complement_average else 1,
            batch_size,
        )

    def __call__(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        per_pass = max(1, min(self.batch_size, BATCH_BASES // max(1, codes.shape[1])))
        parts = [
            self._batch(codes[start : start + per_pass], lengths[start : start + per_pass])
            for start in range(0, len(codes), per_pass)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.names)), np.float32)

    def _batch(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        device = next(self.model.parameters()).device
        codes_t = torch.from_numpy(np.ascontiguousarray(codes)).to(device)
        lengths_t = torch.from_numpy(np.asarray(lengths, dtype=np.int64)).to(device)
        with evaluation_mode(self.model):
            logits = [self.model(codes_t)]
            if self.strands == 2:
                logits.append(self.model(reverse_complement(codes_t, lengths_t)))
            values = torch.stack([objective(logits) for objective in self.objectives], 1)
        return values.float().cpu().numpy()
