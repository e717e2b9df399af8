"""Fusion heads shipped with the core (registered by :mod:`sapphire_core.builtin`)."""

from sapphire_core.fusion_heads.concat import ConcatMLPFusion
from sapphire_core.fusion_heads.cross_attention import CrossAttentionFusion
from sapphire_core.fusion_heads.gated import GatedSumFusion

FUSION_HEADS = [ConcatMLPFusion, GatedSumFusion, CrossAttentionFusion]
