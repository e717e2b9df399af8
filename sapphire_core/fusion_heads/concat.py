"""Concatenate modality embeddings (absent ones zeroed) and map them through an MLP."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sapphire_core.fusion import FusionConfig, FusionHead


def masked_concat(input_dims, embeddings, present) -> torch.Tensor:
    """The modality embeddings in ``input_dims`` order, each zeroed where ``present`` marks it absent."""
    parts = []
    for name in input_dims:
        e = embeddings[name]
        if present is not None and name in present:
            e = e * present[name].to(e.dtype)[:, None]
        parts.append(e)
    return torch.cat(parts, dim=-1)


class ConcatMLPFusion(FusionHead):
    """``MLP([w_1 e_1; ...; w_M e_M])`` with absent modalities replaced by zeros."""

    name = "concat_mlp"

    class Config(FusionConfig):
        hidden: int = Field(512, ge=1)
        dropout: float = Field(0.1, ge=0, lt=1)

    def __init__(self, input_dims, config=None, **settings):
        super().__init__(input_dims, config, **settings)
        width = sum(self.input_dims.values())
        self.mlp = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, self.config.hidden),
            nn.GELU(),
            nn.Dropout(self.config.dropout),
            nn.Linear(self.config.hidden, self.config.output_dim),
        )

    def fuse(self, embeddings, present):
        return self.mlp(masked_concat(self.input_dims, embeddings, present))
