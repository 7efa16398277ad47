"""Profile heads on any trunk: BPNet's two outputs (how many reads, and where) for every family.

`ProfileModel` wraps a family's model (its trunk: ``features`` and ``embed``) and reads the
trunk's per-position features once:

- the profile head brings them back to base resolution (nearest-neighbour upsampling of the
  pooled positions), runs one wide convolution (``profile_kernel`` bases, BPNet's 75 by
  default) to one logit per base and track, and keeps the central ``width`` bases: ``(N, T, W)``;
- the counts head averages the features over the valid positions (BPNet's global average pooling)
  and maps them to log(1 + total reads) per track ``(N, T)``.

``forward(codes (N, L)) -> (N, T + T*W)``: the flat layout of `dnanet.data.signal_task`. The
trunk's own head and dense readout still serve ``embed`` (`dnanet embed`, motifs), so embeddings
of a signal run are those of its family. A family without per-position features (the ternary
MLP) has no profile head: it is refused here.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.models.layers import SequenceModel


class ProfileModel(nn.Module):
    """A trunk with a counts head and a profile head (see the module docstring)."""

    def __init__(self, trunk: SequenceModel, tracks: int, width: int, profile_kernel: int = 75):
        super().__init__()
        if not getattr(trunk, "has_positions", True):
            raise ValueError(
                f"{type(trunk).__name__.lower()} has no per-position features, so no profile "
                "head: use --task counts, or the cnn, lstm or transformer model"
            )
        if width < 1 or profile_kernel < 1:
            raise ValueError("profile: the output width and profile_kernel must be at least 1")
        self.trunk, self.tracks, self.width = trunk, tracks, width
        channels = _feature_channels(trunk)
        self.profile = nn.Conv1d(channels, tracks, profile_kernel, padding="same")
        self.counts = nn.Linear(channels, tracks)
        self.embedding_dim = getattr(trunk, "embedding_dim", channels)
        self.has_positions = True

    @property
    def input(self) -> nn.Module:
        """The trunk's input layer (one-hot or k-mer features), which attributions hook."""
        return self.trunk.input

    def features(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trunk's per-position features ``(N, C, W')`` and mask ``(N, W')``."""
        return self.trunk.features(codes)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """The trunk's embedding ``(N, D)``."""
        return self.trunk.embed(codes)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` -> flat outputs ``(N, T + T*W)``: log counts, profile logits."""
        x, mask = self.trunk.features(codes)  # (N, C, W'), (N, W')
        weights = mask.to(x.dtype).unsqueeze(1)  # (N, 1, W')
        pooled = (x * weights).sum(-1) / weights.sum(-1).clamp(min=1)  # (N, C)
        totals = self.counts(pooled)  # (N, T)
        length = codes.shape[1]
        if length < self.width:
            raise ValueError(
                f"the input is {length} bases, shorter than the profile's {self.width}-base output"
            )
        bases = F.interpolate(x, size=length, mode="nearest")  # (N, C, L)
        logits = self.profile(bases)  # (N, T, L)
        start = (length - self.width) // 2
        logits = logits[:, :, start : start + self.width]  # (N, T, W)
        return torch.cat([totals, logits.flatten(1)], dim=1)


def _feature_channels(trunk: nn.Module) -> int:
    """The channel count C of the trunk's ``features`` output, measured on a short input. A trunk
    built on the ``meta`` device (`dnanet.runs.load` plans a run's tensors so) is measured on an
    uninitialised CPU copy: meta tensors have shapes but no values to branch on."""
    if any(parameter.is_meta for parameter in trunk.parameters()):
        trunk = copy.deepcopy(trunk).to_empty(device="cpu")
    was_training = trunk.training
    trunk.eval()
    with torch.no_grad(), torch.device("cpu"):
        x, _ = trunk.features(torch.zeros(1, 64, dtype=torch.uint8))
    trunk.train(was_training)
    return int(x.shape[1])
