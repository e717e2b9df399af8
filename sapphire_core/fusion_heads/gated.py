"""Gated-sum fusion: project each modality to the shared width and add them with learned,
input-dependent gates (a softmax over the present modalities, as in gated multimodal units,
Arevalo et al. 2017)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sapphire_core.fusion import FusionConfig, FusionHead


class GatedSumFusion(FusionHead):
    """``sum_m a_m(x) P_m(e_m)`` with ``a = softmax`` of per-modality gate logits over the present modalities.

    An absent modality gets gate ``-inf`` (weight 0); a track with no modality present fuses to zeros
    before the output layer.
    """

    name = "gated_sum"

    class Config(FusionConfig):
        dropout: float = Field(0.1, ge=0, lt=1)

    def __init__(self, input_dims, config=None, **settings):
        super().__init__(input_dims, config, **settings)
        d = self.config.output_dim
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(k), nn.Linear(k, d)) for m, k in self.input_dims.items()})
        # The gate sees every (masked) modality, so one modality's weight can depend on the others.
        width = sum(self.input_dims.values())
        self.gate = nn.Linear(width, len(self.input_dims))
        self.out = nn.Sequential(nn.GELU(), nn.Dropout(self.config.dropout), nn.Linear(d, d))

    def fuse(self, embeddings, present):
        names = list(self.input_dims)
        b = embeddings[names[0]].shape[0]
        device = embeddings[names[0]].device
        mask = torch.stack([present[m].bool() if present is not None and m in present
                            else torch.ones(b, dtype=torch.bool, device=device) for m in names], dim=1)
        masked = [embeddings[m] * mask[:, i, None].to(embeddings[m].dtype) for i, m in enumerate(names)]
        logits = self.gate(torch.cat(masked, dim=-1)).masked_fill(~mask, float("-inf"))
        # A row with every modality absent would softmax to NaN; give it zero weights instead.
        weights = torch.nan_to_num(torch.softmax(logits.float(), dim=1), nan=0.0).to(masked[0].dtype)
        projected = torch.stack([self.proj[m](masked[i]) for i, m in enumerate(names)], dim=1)
        fused = (weights[..., None] * projected).sum(dim=1)
        self.last_weights = weights.detach()
        return fused + self.out(fused)
