"""Version-contrastive loss: two versions (variants, covers, re-renders) of one work are positives.

It is the supervised contrastive loss (SupCon, Khosla et al. 2020, eq. 2, the "L_out" form)
over the fused audio embeddings with the ``work`` label. For anchor ``i`` with positives
``P(i)`` (same work, ``j != i``) and all others ``A(i)``::

    L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / tau) / sum_{a in A(i)} exp(s_ia / tau) )

averaged over the anchors that have at least one positive; unknown labels (``-1``) are neither
anchors nor positives but still serve as negatives. With ``use_view2`` the second augmented
view joins the batch, so each track is also a positive of its own other view.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from pydantic import Field

from sapphire_core.loss import Loss, LossInputs


def supervised_contrastive(embeddings: torch.Tensor, labels: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """SupCon ``L_out`` (Khosla et al. 2020, eq. 2); ``labels == -1`` marks unknown.

    Returns zero (with a graph) when no anchor has a positive.
    """
    z = F.normalize(embeddings.float(), dim=-1)
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.t() / temperature).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    known = labels >= 0
    pos = (labels[:, None] == labels[None, :]) & known[:, None] & known[None, :] & ~eye
    counts = pos.sum(dim=1)
    anchors = counts > 0
    if not bool(anchors.any()):
        return z.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~pos, 0.0).sum(dim=1)
    return -(pos_log_prob[anchors] / counts[anchors]).mean()


class VersionContrastiveLoss(Loss):
    """Pull versions of the same work together, push other works apart (SupCon on ``work``)."""

    name = "version_contrastive"
    class Config(Loss.Config):
        temperature: float = Field(0.1, gt=0)
        label: str = Field("work", description="which label marks versions of one thing")
        use_view2: bool = False

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.needs_view2 = bool(self.config.use_view2)

    def label_fields(self, subspaces: dict[str, slice]) -> set[str]:
        return {self.config.label}

    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        if self.config.label not in inputs.labels:
            raise ValueError(f"version_contrastive needs the {self.config.label!r} label; the batch has "
                             f"{sorted(inputs.labels)}")
        labels = inputs.labels[self.config.label]
        emb = inputs.audio
        if self.config.use_view2 and inputs.audio_view2 is not None:
            # Each view is a positive of the other even when the work is unknown: give unknowns unique ids.
            b = labels.shape[0]
            unique = torch.arange(b, device=labels.device) + int(labels.max().clamp_min(0)) + 1
            labels = torch.where(labels >= 0, labels, unique)
            emb = torch.cat([emb, inputs.audio_view2])
            labels = torch.cat([labels, labels])
        return supervised_contrastive(emb, labels, temperature=self.config.temperature)
