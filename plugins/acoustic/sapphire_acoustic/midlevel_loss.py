"""Auxiliary mid-level perceptual loss: predict the 8 mid-level features (melodiousness, articulation,
rhythmic complexity/stability, dissonance, tonal stability, minorness, ...; Aljanaki & Soleymani 2018)
from the unified embedding, so it keeps perceptually meaningful directions (Chowdhury et al. 2019,
"Towards explainable MIR via mid-level features").

The head is :class:`sapphire_acoustic.midlevel_head.MidLevelHead` with its MSE; the targets are the
``midlevel`` extractor's values, which the trainer passes as ``labels["midlevel"]`` (a float
``(B, 8)`` tensor, NaN rows where unknown) because the loss declares them in ``feature_targets``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from sapphire_core.loss import Loss, LossInputs

from sapphire_acoustic.midlevel_head import MidLevelHead, midlevel_loss

#: The key under which the trainer passes mid-level targets, and the feature it reads them from.
TARGET_KEY = "midlevel"
FEATURE_KEY = "midlevel.values"


class MidLevelLoss(Loss):
    """MSE between ``MidLevelHead(embedding)`` and the extracted mid-level values."""

    name = "midlevel"
    feature_targets: ClassVar[dict[str, str]] = {TARGET_KEY: FEATURE_KEY}

    class Config(Loss.Config):
        weight: float = 0.1
        input_dim: int = Field(512, ge=1, description="the fusion head's output_dim")
        hidden: int = Field(64, ge=1)

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.head = MidLevelHead(self.config.input_dim, hidden=self.config.hidden)

    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        target = inputs.labels.get(TARGET_KEY)
        if target is None:
            raise ValueError("the midlevel loss needs mid-level targets: add the 'midlevel' extractor to a "
                             "modality (e.g. acoustic extractors: [..., {name: midlevel}])")
        known = torch.isfinite(target).all(dim=1)
        if not bool(known.any()):
            return inputs.audio.sum() * 0.0
        pred = self.head(inputs.audio[known].float())
        return midlevel_loss(pred, target[known].float())
