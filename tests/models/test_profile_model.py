"""Profile heads on every family with per-position features: planned on the ``meta`` device (as
`dnanet.runs.load` checks a run before building it) with the channels the trunk really gives."""

from __future__ import annotations

import pytest
import torch

from dnanet.data.tasks import Task
from dnanet.errors import DnanetError
from dnanet.models import build_task_model

PROFILE = Task("profile", ["chip", "ctl"], width=50)
FAMILIES = [
    ("cnn", {"channels": 24, "layers": 2}),
    ("lstm", {"lstm_size": 20}),
    ("transformer", {"d_model": 48, "heads": 4, "layers": 1}),
]


@pytest.mark.parametrize(("name", "arguments"), FAMILIES, ids=[name for name, _ in FAMILIES])
def test_a_profile_model_is_planned_on_meta_with_the_trunks_real_channels(name, arguments):
    model = build_task_model(name, PROFILE, arguments).eval()
    features, _ = model.trunk.features(torch.zeros(2, 120, dtype=torch.uint8))
    assert model.trunk.feature_channels == features.shape[1] == model.profile.in_channels
    with torch.device("meta"):
        planned = build_task_model(name, PROFILE, arguments)
    assert {key: value.shape for key, value in planned.state_dict().items()} == {
        key: value.shape for key, value in model.state_dict().items()
    }
    assert model(torch.zeros(3, 120, dtype=torch.uint8)).shape == (3, 2 + 2 * 50)


def test_an_input_shorter_than_the_profile_is_a_user_error():
    model = build_task_model("cnn", PROFILE, {"channels": 8}).eval()
    with pytest.raises(DnanetError, match="a sequence of 40 bases is shorter than the profile's"):
        model(torch.zeros(1, 40, dtype=torch.uint8))
