"""Fusion heads shipped with the core (registered by :mod:`sapphire_core.builtin`)."""

from sapphire_core.fusion_heads.concat import ConcatMLPFusion

FUSION_HEADS = [ConcatMLPFusion]
