"""The core's own components, registered like any plugin's.

Losses, fusion heads, description backends and vector stores live in their own modules
(``sapphire_core.losses``, ``sapphire_core.fusion_heads``, ``sapphire_core.describe``,
``sapphire_core.index.faiss_store``, ``sapphire_core.scale.qdrant_store``) and are registered here.
Their heavy dependencies (faiss, qdrant-client) are imported only when a store is used.
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


@hookimpl
def register_vector_stores(register):
    from sapphire_core.index.faiss_store import FaissStore
    from sapphire_core.scale.qdrant_store import QdrantStore

    register(FaissStore)
    register(QdrantStore)
