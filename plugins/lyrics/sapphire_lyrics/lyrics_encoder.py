"""``lyrics_attention``: line vectors + sentiment arc + phonetic profile -> one lyrics embedding.

The line vectors (``lyrics_semantic.lines``, padded on the last axis) are projected, given a
learned line-position embedding, mixed by a small pre-norm Transformer encoder (Vaswani et al.
2017) and pooled by additive attention (Bahdanau et al. 2015; as in the attention pooling of
Yang et al. 2016, "Hierarchical Attention Networks", eq. 5-7). The song-level scalars (arc
summary, resampled arc, emotion profile, phonetic profile) go through an MLP; both halves are
concatenated and projected to ``output_dim``.

Features it reads may be missing from a batch (a modality set that lists only some of the three
extractors): missing ones are zeros, so any subset of ``requires`` works.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from sapphire_core.collate import length_key, time_mask
from sapphire_core.encoder import Encoder, EncoderConfig

from sapphire_lyrics.minilm import EMBED_DIM
from sapphire_lyrics.phonetics import PHONETIC_FEATURES
from sapphire_lyrics.sentiment import ARC_LENGTH, EMOTION_NAMES, SUMMARY_NAMES

_LINES = "lyrics_semantic.lines"


class LyricsAttentionEncoder(Encoder):
    """Attention pooling over lyrics lines, fused with sentiment and phonetic summaries."""

    name: ClassVar[str] = "lyrics_attention"
    modality: ClassVar[str] = "lyrics"
    requires: ClassVar[tuple[str, ...]] = ("lyrics_semantic", "sentiment_arc", "phonetics")

    class Config(EncoderConfig):
        d_model: int = Field(128, gt=0)
        n_heads: int = Field(4, gt=0)
        n_layers: int = Field(1, ge=0)
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        max_lines: int = Field(128, gt=0, description="size of the line-position table; later lines share the last")
        embed_dim: int = Field(EMBED_DIM, gt=0)
        arc_length: int = Field(ARC_LENGTH, ge=2)

    def __init__(self, config=None, **settings) -> None:
        super().__init__(config, **settings)
        cfg = self.config
        d = cfg.d_model
        if d % cfg.n_heads:
            from sapphire_core.errors import ConfigError

            raise ConfigError(
                f"lyrics_attention: d_model {d} is not divisible by n_heads {cfg.n_heads}; pick e.g. n_heads 4"
            )
        # (key, width) of each song-level input, in concatenation order.
        self.scalar_inputs = (
            ("sentiment_arc.summary", len(SUMMARY_NAMES)),
            ("sentiment_arc.arc", cfg.arc_length),
            ("sentiment_arc.emotion", len(EMOTION_NAMES)),
            ("sentiment_arc.valence_source", 1),
            ("phonetics.profile", len(PHONETIC_FEATURES)),
            ("lyrics_semantic.present", 1),
        )
        n_scalar = sum(w for _, w in self.scalar_inputs)
        self.line_proj = nn.Linear(cfg.embed_dim, d)
        self.position = nn.Embedding(cfg.max_lines, d)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, dim_feedforward=2 * d, dropout=cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.mixer = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False) if cfg.n_layers else None
        self.attn_hidden = nn.Linear(d, d)
        self.attn_score = nn.Linear(d, 1, bias=False)
        self.scalar_norm = nn.LayerNorm(n_scalar)
        self.scalar_mlp = nn.Sequential(nn.Linear(n_scalar, d), nn.GELU(), nn.Linear(d, d))
        self.head = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, cfg.output_dim))

    @staticmethod
    def _reference(features: dict[str, torch.Tensor]) -> torch.Tensor:
        for value in features.values():
            if torch.is_tensor(value) and value.dim() >= 1:
                return value
        raise ValueError(
            "lyrics_attention got no features; it reads lyrics_semantic, sentiment_arc and phonetics "
            "(list at least one of them under the lyrics modality's extractors)"
        )

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        ref = self._reference(features)
        batch, device = ref.shape[0], ref.device
        cfg = self.config
        if _LINES in features:
            lines = features[_LINES].float().transpose(1, 2)  # (B, T, D)
            mask = time_mask(features, _LINES)
        else:
            lines = torch.zeros(batch, 1, cfg.embed_dim, device=device)
            mask = torch.ones(batch, 1, dtype=torch.bool, device=device)
        positions = torch.arange(lines.shape[1], device=device).clamp(max=cfg.max_lines - 1)
        x = self.line_proj(lines) + self.position(positions)[None]
        if self.mixer is not None:
            x = self.mixer(x, src_key_padding_mask=~mask)
        scores = self.attn_score(torch.tanh(self.attn_hidden(x))).squeeze(-1)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        pooled = (torch.softmax(scores, dim=1).unsqueeze(-1) * x).sum(1)

        parts = []
        for key, width in self.scalar_inputs:
            value = features.get(key)
            if value is None:
                value = torch.zeros(batch, width, device=device)
            value = value.float().reshape(batch, width)
            if key == "phonetics.profile":
                # Rates (~10/s) and counts (~20/line) next to fractions in [0, 1]: a signed log
                # keeps them on comparable scales before the LayerNorm.
                value = torch.sign(value) * torch.log1p(value.abs())
            parts.append(value)
        song = self.scalar_mlp(self.scalar_norm(torch.cat(parts, dim=1)))
        return self.head(torch.cat([pooled, song], dim=1))

    def example_features(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        cfg = self.config
        longest = 6
        lines = torch.nn.functional.normalize(torch.randn(batch_size, cfg.embed_dim, longest, generator=g), dim=1)
        lengths = torch.tensor([longest - (i % 3) for i in range(batch_size)], dtype=torch.long)
        lines = lines * (torch.arange(longest)[None, None, :] < lengths[:, None, None])
        return {
            _LINES: lines,
            length_key(_LINES): lengths,
            "lyrics_semantic.song": torch.nn.functional.normalize(lines.sum(-1), dim=1),
            "lyrics_semantic.present": torch.ones(batch_size),
            "sentiment_arc.summary": torch.rand(batch_size, len(SUMMARY_NAMES), generator=g) * 2 - 1,
            "sentiment_arc.arc": torch.rand(batch_size, cfg.arc_length, generator=g) * 2 - 1,
            "sentiment_arc.emotion": torch.randn(batch_size, len(EMOTION_NAMES), generator=g) * 0.05,
            "sentiment_arc.valence_source": torch.ones(batch_size),
            "sentiment_arc.present": torch.ones(batch_size),
            "phonetics.profile": torch.rand(batch_size, len(PHONETIC_FEATURES), generator=g) * 10,
            "phonetics.present": torch.ones(batch_size),
        }
