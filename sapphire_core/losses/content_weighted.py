"""MusCALL's content-aware loss weighting: InfoNCE whose per-sample terms are weighted by how
similar each description is to the rest of the batch (Manco et al. 2022, "Contrastive Audio-Language
Learning for Music", section 3.3).

For a batch with raw text embeddings ``t_i`` (before projection) and sentence similarity
``s_ij = cos(t_i, t_j)``::

    m_i = (1/B) * sum_{j != i} s_ij                 # how "typical" caption i is
    w_i = exp((m_i / sum_k m_k) / kappa)            # temperature kappa
    L   = sum_i w_i * CE_i / sum_i w_i              # per direction, then averaged

so captions that share content with many others (whose in-batch negatives are partly false
negatives) get a different weight from unusual ones; kappa -> infinity recovers plain InfoNCE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from sapphire_core.losses.infonce import InfoNCELoss
from sapphire_core.loss import LossInputs


def content_weights(text_raw: torch.Tensor, *, kappa: float) -> torch.Tensor:
    """Per-sample weights ``w_i`` from text-text similarity (MusCALL, section 3.3).

    Parameters
    ----------
    text_raw : Tensor
        ``(B, d)`` text embeddings before projection (sentence-encoder space).
    kappa : float
        Temperature; small values sharpen the weights.

    Returns
    -------
    Tensor
        ``(B,)`` positive weights with mean 1 (proportional to MusCALL's ``exp(m_i / sum m / kappa)``).
    """
    t = F.normalize(text_raw.float(), dim=-1)
    sim = t @ t.t()
    b = sim.shape[0]
    off_diag = 1.0 - torch.eye(b, device=sim.device, dtype=sim.dtype)
    mean_sim = (sim * off_diag).mean(dim=-1)
    total = mean_sim.sum()
    # MusCALL divides by the batch total; guard the (random-init) case where it is ~0 or negative.
    normed = mean_sim / total if float(total) > 1e-6 else mean_sim
    # exp(normed / kappa) overflows for small kappa; the loss only uses ratios w_i / sum w, so the
    # softmax (rescaled to mean 1) is the same weighting without overflow.
    return (torch.softmax(normed / kappa, dim=0) * b).detach()


def weighted_cross_entropy(logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i CE_i / sum_i w_i`` with the diagonal as targets."""
    target = torch.arange(logits.shape[0], device=logits.device)
    ce = F.cross_entropy(logits, target, reduction="none")
    weights = weights.to(ce.dtype)
    return (weights * ce).sum() / weights.sum()


class ContentWeightedInfoNCELoss(InfoNCELoss):
    """Symmetric InfoNCE with MusCALL's content-aware per-sample weights."""

    name = "content_weighted_infonce"

    class Config(InfoNCELoss.Config):
        kappa: float = Field(0.01, gt=0, description="weighting temperature (MusCALL uses 0.01)")

    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.text is None:
            raise ValueError("content_weighted_infonce needs text embeddings; the batch has no descriptions")
        raw = inputs.text_raw if inputs.text_raw is not None else inputs.text
        weights = content_weights(raw, kappa=self.config.kappa)
        logits = self.scale() * inputs.audio @ inputs.text.t()
        return 0.5 * (weighted_cross_entropy(logits, weights) + weighted_cross_entropy(logits.t(), weights))
