"""DeepLIFT/SHAP through `dnanet.interpret.deeplift` against tangermeme's own implementation on
the same CNN, and the summation rule on every family (untrained models: the rules are exact or
integrated, whatever the weights)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dnanet.data.tasks import Task
from dnanet.inputs.encode import one_hot
from dnanet.interpret import attribution, deeplift
from dnanet.models import build_model

LENGTH = 60


def random_codes(n: int = 6, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (n, LENGTH), generator=generator, dtype=torch.uint8)


def with_random_statistics(model: nn.Module) -> nn.Module:
    """Batch norms with non-trivial running statistics, so they are not the identity."""
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


class OneHotCnn(nn.Module):
    """The CNN written out on one-hot input, as a tangermeme user would wrap it: its blocks and
    ``nn.MaxPool1d`` pools, the global mean and max (a plain ``nn.MaxPool1d`` as wide as the last
    block's output), the readout, and class 0's logit minus the mean logit ``(N, 1)``."""

    def __init__(self, cnn: nn.Module, width: int):
        super().__init__()
        self.cnn, self.global_max = cnn, nn.MaxPool1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, block in enumerate(self.cnn.blocks):
            x = block(x)
            if index < len(self.cnn.blocks) - 1:
                x = self.cnn.max_pool(x)
        pooled = torch.cat([x.mean(-1), self.global_max(x).squeeze(-1)], dim=1)
        logits = self.cnn.head(self.cnn.dense(pooled))
        return logits[:, :1] - logits.mean(1, keepdim=True)


def test_deepliftshap_equals_tangermeme_on_the_same_cnn():
    from tangermeme.deep_lift_shap import deep_lift_shap

    cnn = with_random_statistics(
        build_model("cnn", 3, {"layers": 2, "channels": 16, "hidden": 16, "pool": 2})
    )
    codes = random_codes()
    ours = deeplift.explain(cnn, codes, "deepliftshap", attribution.centred_logit(0), 1, 5, 3)
    references = deeplift.shuffles(one_hot(codes), 5, 3)  # the same seeded shuffles
    theirs = deep_lift_shap(
        OneHotCnn(cnn, LENGTH // 2), one_hot(codes), references=references, hypothetical=True
    )
    torch.testing.assert_close(ours.values, theirs, atol=1e-5, rtol=1e-4)
    assert ours.summation_error.abs().max() < 1e-4


@pytest.mark.parametrize(
    "family, arguments",
    [
        ("cnn", {"channels": 16, "hidden": 16, "position_bins": 4}),
        ("lstm", {"lstm_size": 8, "hidden": 16, "position_bins": 4}),
        ("transformer", {"d_model": 16, "heads": 2, "ff_dim": 32, "layers": 1, "max_len": 16}),
    ],
)
@pytest.mark.parametrize("method", deeplift.REFERENCE_METHODS)
def test_summation_rule_holds_on_every_family(family, arguments, method):
    """Contributions sum to the output minus the references' mean output (three-class log-odds,
    both strands averaged) on an untrained model of each family, within a sanity bound: 10% of
    the median difference for DeepLIFT, 35% for integrated gradients of the whole model (its
    quadrature). The trained CNN's much tighter check is in test_attribute.py."""
    torch.manual_seed(0)
    model = with_random_statistics(build_model(family, 3, arguments))
    model.head[-1].weight.data.mul_(30)  # outputs that differ between sequences and shuffles
    task = Task("multiclass", ["a", "b", "c"])
    found = deeplift.explain(
        model, random_codes(4), method, attribution.target_output(task, 1), 2, 4, 0
    )
    difference = (found.output - found.baseline).abs().median()
    assert difference > 0.02
    tolerance = 0.1 if method == "deepliftshap" else 0.35
    assert found.summation_error.abs().max() <= tolerance * difference, (
        found.summation_error,
        difference,
    )
