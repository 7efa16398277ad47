"""An ensemble: K members of one architecture (trained on K folds) used as one model.

What each use of the ensemble sees:

- ``forward(codes (N, L)) -> (N, C)``: the mean of the members' logits. The mean is linear, so
  an attribution of the ensemble (saliency, DeepLIFT/SHAP, ISM of logits) is exactly the mean of
  its members' attributions, as ChromBPNet averages its folds' contribution scores, and DeepLIFT's
  summation still holds.
- predictions (`dnanet.inference.predict.predict_batch`): the mean of the members' *activated*
  outputs (probabilities, values), as deep ensembles average them (Lakshminarayanan et al. 2017);
  `dnanet.inference.predict.predict_members` gives each member's, for the spread.
- ``embed(codes) -> (N, K x D)`` the members' vectors side by side (``combine="concat"``) or
  ``(N, D)`` their mean (``combine="mean"``); ``features``: the members' per-position features
  side by side along channels ``(N, K x C, W)``.
- ``input``: the members' input layer. With one-hot input (no weights) it runs once and every
  member reads its output, so a hook on it (gradients, DeepLIFT) reaches all members at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

COMBINE = ("concat", "mean")


class Ensemble(nn.Module):
    """K member models of one family and task, averaged (see the module docstring)."""

    def __init__(
        self,
        members: Sequence[nn.Module],
        combine: str = "concat",
        scales: torch.Tensor | None = None,
        shifts: torch.Tensor | None = None,
    ):
        """`scales`, `shifts` ``(K, C)``: member k's logits times scales[k] plus shifts[k] are in
        the first member's units (regression members standardise by their own fold's targets);
        None: the members' logits are alike (classification, signal)."""
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if combine not in COMBINE:
            raise ValueError(f"unknown combine '{combine}'; valid: {', '.join(COMBINE)}")
        self.members = nn.ModuleList(members)
        self.combine = combine
        self.aligned = scales is not None
        if self.aligned:  # not saved: computed from the members' model.json when loaded
            self.register_buffer("scales", scales.float(), persistent=False)
            self.register_buffer("shifts", shifts.float(), persistent=False)
        first = members[0]
        self.has_positions = getattr(first, "has_positions", True)
        self.pooling = getattr(first, "pooling", None)
        own_input = getattr(first, "input", None)
        self.shares_input = getattr(own_input, "encoder", None) == "onehot"
        if own_input is not None:
            self.input = _SharedInput(own_input) if self.shares_input else own_input

    def _each(self, method: str, codes: torch.Tensor, *extra) -> list[torch.Tensor]:
        """``getattr(member, method)(codes, *extra)`` per member; one-hot members read the shared
        input's output (computed once, hookable on ``self.input``)."""
        if not self.shares_input:
            return [getattr(member, method)(codes, *extra) for member in self.members]
        shared = self.input(codes)
        results = []
        for member in self.members:
            handle = member.input.register_forward_hook(lambda module, args, output: shared)
            try:
                results.append(getattr(member, method)(codes, *extra))
            finally:
                handle.remove()
        return results

    def forward(self, codes: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, L)`` (and a signal model's control) -> mean logits ``(N, C)``."""
        return self.member_logits(codes, *extra).mean(0)

    def member_logits(self, codes: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, L)`` -> each member's logits ``(K, N, C)``, in the first member's units."""
        logits = torch.stack(self._each("forward", codes, *extra))
        if self.aligned:
            logits = logits * self.scales[:, None].to(logits.dtype) + self.shifts[:, None].to(
                logits.dtype
            )
        return logits

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, L)`` -> ``(N, K x D)`` (concat) or ``(N, D)`` (mean)."""
        vectors = self._each("embed", codes)
        if self.combine == "concat":
            return torch.cat(vectors, dim=1)
        return torch.stack(vectors).mean(0)

    def features(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``(N, L)`` -> the members' features ``(N, K x C, W)`` and the mask ``(N, W)``."""
        pairs = self._each("features", codes)
        if self.combine == "mean":
            return torch.stack([x for x, _ in pairs]).mean(0), pairs[0][1]
        return torch.cat([x for x, _ in pairs], dim=1), pairs[0][1]


class _SharedInput(nn.Module):
    """The members' one-hot input layer, run once per forward (it has no weights: every member's
    would give the same features). Its attributes (``encoder``, ``k``) are the members'."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.encoder, self.k, self.stride = layer.encoder, layer.k, layer.stride
        self.channels = layer.channels
        self._layer = [layer]  # a plain list: not a submodule, so no state-dict entries

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._layer[0](codes)
