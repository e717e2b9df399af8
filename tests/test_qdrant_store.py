"""The Qdrant store passes the same contract tests as FAISS (qdrant-client local mode, no server)."""

from __future__ import annotations

from sapphire_core.scale.qdrant_store import QdrantStore
from sapphire_core.testing.index_contract import VectorStoreContract


class TestQdrantInMemory(VectorStoreContract):
    large_n = 2000

    def make_store(self, dim, tmp_path):
        return QdrantStore(dim)


class TestQdrantLocalPath(VectorStoreContract):
    large_n = 2000

    def make_store(self, dim, tmp_path):
        return QdrantStore(dim, path=tmp_path / "qd", collection="tracks")

    def reopen(self, store, tmp_path):
        # Local mode locks its folder: a real deployment reopens after the writer closed.
        store.save(tmp_path / "saved")
        from sapphire_core.index.store import open_store

        return open_store(tmp_path / "saved")
