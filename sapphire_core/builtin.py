"""The core's own components, registered like any plugin's.

Losses, fusion heads and description backends live in their own modules
(``sapphire_core.losses``, ``sapphire_core.fusion_heads``, ``sapphire_core.describe``) and are
registered here.
"""

from __future__ import annotations

from sapphire_core.hookspecs import hookimpl


@hookimpl
def register_losses(register):
    from sapphire_core.losses import LOSSES

    for cls in LOSSES:
        register(cls)


@hookimpl
def register_fusion_heads(register):
    from sapphire_core.fusion_heads import FUSION_HEADS

    for cls in FUSION_HEADS:
        register(cls)


@hookimpl
def register_description_backends(register):
    from sapphire_core.describe import BACKENDS

    for cls in BACKENDS:
        register(cls)
