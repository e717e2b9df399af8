"""Cross-attention fusion: modality embeddings become tokens; a learned query token attends over
the present ones through a small transformer encoder (Vaswani et al. 2017; the [CLS] pooling of
BERT, Devlin et al. 2019)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sapphire_core.fusion import FusionConfig, FusionHead


class CrossAttentionFusion(FusionHead):
    """Transformer over ``[query; P_1 e_1 + m_1; ...; P_M e_M + m_M]``; the query token's output is the embedding.

    Absent modalities are masked out of attention (``key_padding_mask``); the query token is never
    masked, so a track with nothing present still gets a finite embedding.
    """

    name = "cross_attention"

    class Config(FusionConfig):
        d_model: int = Field(128, ge=8)
        heads: int = Field(4, ge=1)
        layers: int = Field(1, ge=1)
        dropout: float = Field(0.1, ge=0, lt=1)

    def __init__(self, input_dims, config=None, **settings):
        super().__init__(input_dims, config, **settings)
        c = self.config
        if c.d_model % c.heads:
            from sapphire_core.errors import ConfigError

            raise ConfigError(f"cross_attention: d_model {c.d_model} must be divisible by heads {c.heads}")
        self.proj = nn.ModuleDict({m: nn.Linear(k, c.d_model) for m, k in self.input_dims.items()})
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.input_dims), c.d_model))
        self.query = nn.Parameter(torch.randn(1, 1, c.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(c.d_model, c.heads, dim_feedforward=2 * c.d_model, dropout=c.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.output_dim))

    def fuse(self, embeddings, present):
        names = list(self.input_dims)
        b = embeddings[names[0]].shape[0]
        device = embeddings[names[0]].device
        tokens = torch.stack([self.proj[m](embeddings[m]) for m in names], dim=1) + self.modality_embedding
        tokens = torch.cat([self.query.expand(b, -1, -1).to(tokens.dtype), tokens], dim=1)
        absent = torch.stack([~present[m].bool() if present is not None and m in present
                              else torch.zeros(b, dtype=torch.bool, device=device) for m in names], dim=1)
        padding = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=device), absent], dim=1)
        out = self.encoder(tokens, src_key_padding_mask=padding)
        return self.out(out[:, 0])
