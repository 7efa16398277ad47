"""Real position-dependent data: the UCI splice-junction set (tests/fixtures/splice-uci-60bp, CC BY
4.0; 60 bp centred on an exon/intron or intron/exon boundary, or on neither). The GT and AG of the
boundaries also occur off the centre, so a model must see where they sit. The LSTM and the
transformer, whose position settings were chosen for such data (position bins 8 and 0), reach
0.93 test accuracy (the bar of issue 16) with their shipped config and seed, as `dnanet train
EI=EI.fa.gz IE=IE.fa.gz N=N.fa.gz --model NAME` would. (The CNN, 0.956 on average, is left to
the benchmark to keep the suite short.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dnanet.config.run_config import load_config
from dnanet.data.store import read_labelled
from dnanet.data.tasks import infer_task
from dnanet.inputs.sources import LabelledInput
from dnanet.training.experiment import train_model

SPLICE = Path(__file__).parent / "fixtures" / "splice-uci-60bp"
CLASSES = ("EI", "IE", "N")


@pytest.fixture(scope="module")
def splice():
    records = read_labelled([LabelledInput(c, SPLICE / f"{c}.fa.gz") for c in CLASSES])
    task = infer_task(records.label_values, ["class"])
    return records.with_targets(records.targets(task.encode)), task, records.provenance


def test_the_bundled_splice_set_is_the_deduplicated_uci_file(splice):
    sequences, task, _ = splice
    assert task.names == list(CLASSES)
    assert len(sequences) == 3178
    assert set(sequences.lengths.tolist()) == {60}


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_the_lstm_and_transformer_reach_the_bar_on_real_splice_sites_with_their_shipped_config(
    family, splice
):
    """Measured with `dnanet train` (shipped configs, seeds 0, 1, 2): CNN 0.971, 0.936, 0.961;
    LSTM 0.944, 0.943, 0.952 (0.932, 0.902, 0.907 without its position bins); transformer 0.937,
    0.943, 0.932."""
    sequences, task, provenance = splice
    config = load_config(model=family, seed=0)
    result = train_model(config, sequences, task, provenance, torch.device("cpu"))
    assert result.description["learned"], result.description["learning"]["message"]
    assert result.test_metrics["accuracy"] >= 0.93, result.history
