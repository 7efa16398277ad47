"""The check records a run folder keeps (`dnanet.runs.check_file`): a few held-out records and
the trained model's answers for them, computed on the CPU in float32 exactly as `dnanet
check-run` computes them again later (`dnanet.inference.run_check`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dnanet.data.sets import SequenceSet
from dnanet.data.tasks import Task
from dnanet.inference.run_check import check_answers
from dnanet.models import build_task_model
from dnanet.runs.check_file import CHECK_RECORDS, CheckRecords, current_versions


def check_records(
    model: nn.Module,
    model_name: str,
    arguments: dict,
    task: Task,
    sequences: SequenceSet,
    parts: dict[str, np.ndarray],
    reverse_complement_average: bool,
) -> CheckRecords:
    """The first `CHECK_RECORDS` records of the first non-empty part of `parts` (``test``, then
    ``train``) with the model's logits and `predict`'s outputs ``(N, C)`` for them. The trained
    `model` (on any device) is copied into a CPU model of the same family first, as a run is
    loaded; a signal model's control input is left out, as `dnanet predict` leaves it out."""
    part, indices = next((name, idx) for name, idx in parts.items() if len(idx))
    indices = np.sort(np.asarray(indices))[:CHECK_RECORDS]
    batch = sequences.batch(indices)
    codes = torch.from_numpy(np.ascontiguousarray(batch["codes"]))
    lengths = torch.from_numpy(np.asarray(batch["lengths"], dtype=np.int64))
    cpu = build_task_model(model_name, task, arguments)
    cpu.load_state_dict({name: value.cpu() for name, value in model.state_dict().items()})
    cpu.eval()
    logits, outputs = check_answers(cpu, codes, lengths, reverse_complement_average, task.activate)
    return CheckRecords(
        [str(sequences.ids[i]) for i in indices],
        codes.numpy(),
        lengths.numpy(),
        logits,
        outputs,
        part,
        current_versions(),
    )
