"""Vector indexes: the :class:`VectorStore` interface, the FAISS default, and index folders built from a model."""

from sapphire_core.index.store import VectorIndexError, VectorStore, open_store

__all__ = ["VectorStore", "VectorIndexError", "open_store"]
