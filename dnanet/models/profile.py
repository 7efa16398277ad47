"""Profile heads on any trunk: BPNet's two outputs (how many reads, and where) for every family.

`ProfileModel` wraps a family's model (its trunk: ``features`` and ``embed``) and reads the
trunk's per-position features once:

- the profile head brings them back to base resolution (nearest-neighbour upsampling of the
  pooled positions), runs one wide convolution (``profile_kernel`` bases, BPNet's 75 by
  default) to one logit per base and track, and keeps the central ``width`` bases: ``(N, T, W)``;
- the counts head pools the features over the valid positions, their mean (BPNet's global
  average pooling) and their maximum (how strong the best site is, which a short-range trunk's
  mean dilutes), and maps them through a LeakyReLU layer to log(1 + total reads) per track
  ``(N, T)``: reads grow with a site's strength on a log scale, which a single linear map of the
  features does not follow (measured on the synthetic coverage of `dnanet.synthetic.coverage`,
  CNN, 8 epochs: Pearson with the true rates 0.51 with the mean and a linear map).

``forward(codes (N, L)) -> (N, T + T*W)``: the flat layout of `dnanet.data.signal_task`. The
trunk's own head and dense readout still serve ``embed`` (`dnanet embed`, motifs), so embeddings
of a signal run are those of its family. A family without per-position features (the ternary
MLP) has no profile head: it is refused here. With ``width`` 0 (a counts task with controls) the
trunk's own head gives the counts ``(N, T)``.

Control tracks (``--control``, BPNet's input of the experiment's control, e.g. ChIP input): the
control's log(1 + reads), over the output bases ``(N, C, W)`` (profile) or in total ``(N, C)``
(counts), is added through linear maps without bias, to the profile logits at each base and to the
log counts. ``forward(codes, control=None)``: without a control (prediction, attribution,
variants) that contribution is exactly zero, so outputs are the sequence's alone, the control's
contribution removed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dnanet.errors import DnanetError
from dnanet.models.layers import SequenceModel


class ProfileModel(nn.Module):
    """A trunk with a counts head and a profile head (see the module docstring)."""

    def __init__(
        self,
        trunk: SequenceModel,
        tracks: int,
        width: int,
        profile_kernel: int = 75,
        controls: int = 0,
    ):
        super().__init__()
        self.trunk, self.tracks, self.width, self.controls = trunk, tracks, width, controls
        self.embedding_dim = getattr(trunk, "embedding_dim", 0)
        self.has_positions = getattr(trunk, "has_positions", True)
        self.control_counts = nn.Linear(controls, tracks, bias=False) if controls else None
        self.control_profile = (
            nn.Conv1d(controls, tracks, 1, bias=False) if controls and width else None
        )
        if width == 0:
            return
        if not self.has_positions:
            raise ValueError(
                f"{type(trunk).__name__.lower()} has no per-position features, so no profile "
                "head: use --task counts, or the cnn, lstm or transformer model"
            )
        if width < 0 or profile_kernel < 1:
            raise ValueError("profile: the output width and profile_kernel must be at least 1")
        channels = _feature_channels(trunk)
        self.profile = nn.Conv1d(channels, tracks, profile_kernel, padding="same")
        self.counts_hidden = nn.Sequential(nn.Linear(2 * channels, channels), nn.LeakyReLU(0.01))
        self.counts = nn.Linear(channels, tracks)

    def start_counts_at(self, log_totals: list[float]) -> None:
        """Start the counts head at the training windows' mean log(1 + reads) per track ``(T,)``
        (its bias), so the first steps learn differences between windows instead of the scale."""
        if self.width:
            with torch.no_grad():
                self.counts.bias.copy_(torch.tensor(log_totals, dtype=self.counts.bias.dtype))

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

    def forward(self, codes: torch.Tensor, control: torch.Tensor | None = None) -> torch.Tensor:
        """Codes uint8 ``(N, L)`` (and the control input, see the module docstring) -> flat
        outputs ``(N, T + T*W)``: log counts, profile logits (``(N, T)`` for counts alone)."""
        if self.width == 0:
            totals = self.trunk(codes)  # (N, T)
            if control is not None and self.control_counts is not None:
                totals = totals + self.control_counts(control.to(totals.dtype))
            return totals
        x, mask = self.trunk.features(codes)  # (N, C, W'), (N, W')
        weights = mask.to(x.dtype).unsqueeze(1)  # (N, 1, W')
        mean = (x * weights).sum(-1) / weights.sum(-1).clamp(min=1)  # (N, C)
        peak = x.masked_fill(~mask.unsqueeze(1), float("-inf")).amax(-1)  # (N, C)
        totals = self.counts(self.counts_hidden(torch.cat([mean, peak], dim=1)))  # (N, T)
        length = codes.shape[1]
        if length < self.width:
            raise DnanetError(
                f"a sequence of {length} bases is shorter than the profile's {self.width}-base "
                "output: give windows of the run's input width (BED intervals with --genome)"
            )
        bases = F.interpolate(x, size=length, mode="nearest")  # (N, C, L)
        logits = self.profile(bases)  # (N, T, L)
        start = (length - self.width) // 2
        logits = logits[:, :, start : start + self.width]  # (N, T, W)
        if control is not None and self.control_profile is not None:
            control = control.to(logits.dtype)  # (N, C, W): log(1 + reads) per base
            logits = logits + self.control_profile(control)
            totals = totals + self.control_counts(torch.log1p(torch.expm1(control).sum(-1)))
        return torch.cat([totals, logits.flatten(1)], dim=1)


def _feature_channels(trunk: nn.Module) -> int:
    """The channel count C of the trunk's ``features`` output: the family's ``feature_channels``
    (a model planned on the ``meta`` device, as `dnanet.runs.load` checks a run, cannot run
    ``features``: its padding checks read values), else measured on a short input."""
    if getattr(trunk, "feature_channels", None):
        return int(trunk.feature_channels)
    was_training = trunk.training
    trunk.eval()
    with torch.no_grad(), torch.device("cpu"):
        x, _ = trunk.features(torch.zeros(1, 64, dtype=torch.uint8))
    trunk.train(was_training)
    return int(x.shape[1])
