"""Fusion heads shipped with the core (registered by :mod:`sapphire_core.builtin`)."""

from sapphire_core.fusion_heads.concat import ConcatMLPFusion
from sapphire_core.fusion_heads.cross_attention import CrossAttentionFusion
from sapphire_core.fusion_heads.gated import GatedSumFusion
from sapphire_core.fusion_heads.passthrough import PassThroughFusion

FUSION_HEADS = [ConcatMLPFusion, GatedSumFusion, CrossAttentionFusion, PassThroughFusion]
