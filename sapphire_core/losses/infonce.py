"""Symmetric InfoNCE between audio and text embeddings with a learned temperature (CLIP, Radford et al. 2021;
MusCALL, Manco et al. 2022, eq. 1)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from sapphire_core.loss import Loss, LossInputs


def symmetric_infonce(audio: torch.Tensor, text: torch.Tensor, *, scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's loss: mean of the audio->text and text->audio cross-entropies, matching pairs on the diagonal.

    Parameters
    ----------
    audio, text : Tensor
        ``(B, D)`` L2-normalised embeddings; row ``i`` of each is a matching pair.
    scale : Tensor or float
        Inverse temperature ``1 / tau``.
    """
    logits = scale * audio @ text.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


class InfoNCELoss(Loss):
    """Cross-entropy over the audio-text similarity matrix in both directions, averaged."""

    name = "infonce"
    needs_text: ClassVar[bool] = True

    class Config(Loss.Config):
        temperature: float = Field(0.07, gt=0)
        learn_temperature: bool = True

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        log_scale = torch.tensor(math.log(1.0 / self.config.temperature))
        if self.config.learn_temperature:
            self.log_scale = torch.nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def scale(self) -> torch.Tensor:
        """The inverse temperature; CLIP clamps the logit scale at 100 to keep training stable."""
        return self.log_scale.clamp(max=math.log(100.0)).exp()

    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.text is None:
            raise ValueError("infonce needs text embeddings; the batch has no descriptions")
        return symmetric_infonce(inputs.audio, inputs.text, scale=self.scale())
