"""SimCLR's NT-Xent self-supervised loss on two augmented views of the same tracks
(Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations", eq. 1).

With ``z`` the ``2B`` L2-normalised embeddings of both views and ``s_ij = z_i . z_j``::

    l(i, j) = -log( exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau) )
    L       = 1/(2B) * sum_i l(i, pos(i))            # pos(i): the other view of track i

MusCALL-SSL (Manco et al. 2022, section 3.4) mixes it with the audio-text loss as
``(1 - lambda) * L_infonce + lambda * L_ntxent``: set the two YAML ``weight`` values to
``1 - lambda`` and ``lambda`` (``configs/infonce_ssl.yaml``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from sapphire_core.loss import Loss, LossInputs


def nt_xent(view1: torch.Tensor, view2: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """NT-Xent over two views (SimCLR eq. 1), averaged over all ``2B`` anchors.

    Parameters
    ----------
    view1, view2 : Tensor
        ``(B, D)`` embeddings; row ``i`` of both comes from the same track. Normalised here.
    temperature : float
        ``tau``.
    """
    z = F.normalize(torch.cat([view1, view2]).float(), dim=-1)
    b = view1.shape[0]
    logits = z @ z.t() / temperature
    # An anchor is never its own negative.
    logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(logits, target)


class NTXentLoss(Loss):
    """Self-supervision between two augmented audio views (SimCLR / MusCALL-SSL)."""

    name = "ntxent"
    needs_view2: ClassVar[bool] = True

    class Config(Loss.Config):
        weight: float = Field(0.3, description="lambda of MusCALL-SSL; give the audio-text loss 1 - lambda")
        temperature: float = Field(0.1, gt=0)

    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.audio_view2 is None:
            raise ValueError("ntxent needs a second augmented view (LossInputs.audio_view2); the trainer makes "
                             "one when training.augment is true")
        return nt_xent(inputs.audio, inputs.audio_view2, temperature=self.config.temperature)
