"""The Loss interface: a torch module over one batch of embeddings and their labels."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from sapphire_core.component import Component, ComponentConfig


@dataclass
class LossInputs:
    """Everything a loss may read from one training batch. Losses use what they need.

    Attributes
    ----------
    audio : Tensor
        Fused, L2-normalised audio-side embeddings ``(B, D)``.
    text : Tensor or None
        L2-normalised text-side embeddings of each track's description ``(B, D)``.
    audio_view2 : Tensor or None
        Embeddings of a second augmented view of the same tracks (self-supervision).
    text_raw : Tensor or None
        Text embeddings before projection (content-aware weighting uses their similarity).
    labels : dict of str to LongTensor
        Integer labels per named dimension, e.g. ``work`` (versions of one work share it),
        ``era``, ``key``, ``instrument``; ``-1`` marks unknown.
    subspaces : dict of str to slice
        Where each named sub-space lives inside the unified embedding.
    """

    audio: torch.Tensor
    text: torch.Tensor | None = None
    audio_view2: torch.Tensor | None = None
    text_raw: torch.Tensor | None = None
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    subspaces: dict[str, slice] = field(default_factory=dict)


class Loss(Component, nn.Module):
    """A training objective. ``forward`` returns a scalar tensor.

    The YAML block's ``weight`` scales it in the total; the base class keeps it so
    subclasses only implement :meth:`compute_loss`.

    Class attributes
    ----------------
    needs_text : bool
        Reads ``inputs.text`` (the trainer then embeds each track's descriptions).
    needs_view2 : bool
        Reads ``inputs.audio_view2`` (the trainer then makes a second augmented view).
    feature_targets : dict of str to str
        ``label key -> "extractor.output"``: extracted features the trainer passes as float
        targets in ``inputs.labels`` (rows of NaN where a track lacks them).
    """

    needs_text: ClassVar[bool] = False
    needs_view2: ClassVar[bool] = False
    feature_targets: ClassVar[dict[str, str]] = {}

    class Config(ComponentConfig):
        weight: float = 1.0

    def __init__(self, config: ComponentConfig | dict[str, Any] | None = None, **settings: Any) -> None:
        nn.Module.__init__(self)
        self.config = self.make_config(config, **settings)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        loss = self.compute_loss(inputs)
        if loss.dim() != 0:
            raise ValueError(f"loss {self.name!r} returned shape {tuple(loss.shape)}, expected a scalar")
        return loss

    def label_fields(self, subspaces: dict[str, slice]) -> set[str]:
        """Corpus fields this loss reads as integer labels (``work`` or any ``tracks.jsonl`` key), for a
        model with these sub-spaces. The trainer encodes exactly the fields its losses ask for."""
        return set()

    @abstractmethod
    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        """The unweighted loss for one batch."""
