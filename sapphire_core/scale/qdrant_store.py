"""A server-based vector store on Qdrant, behind the same :class:`VectorStore` interface as FAISS.

Why Qdrant rather than Milvus: its Python client runs the same API in-process ("local mode",
no server, what tests use) and against a real server or cluster (sharded, replicated, HNSW
on disk) with only the connection changed; payloads hold our metadata beside each vector; and
it is one small dependency (qdrant-client), where Milvus Lite needs a separate native package
and differs from the server in more places.

Modes (one store, three connections):
- ``QdrantStore(dim)``: in memory (tests).
- ``QdrantStore(dim, path=DIR)``: local mode persisted in ``DIR``.
- ``QdrantStore(dim, url="http://host:6333", collection=...)``: a Qdrant server; ``save`` then
  writes only ``store.json`` (the vectors live on the server) and ``load`` reconnects.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.index.store import (VectorIndexError, VectorStore, read_store_manifest,
                                       write_store_manifest)

_NAMESPACE = uuid.UUID("6f1c1d0e-5a7e-4c55-9a3e-5a9f3e7d2b10")
_LOCAL_DIR = "qdrant"
_SCROLL = 1024


def _client_module():
    try:
        import qdrant_client
        from qdrant_client import models
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise VectorIndexError("the Qdrant store needs qdrant-client: pip install 'sapphire-core[scale]'") from exc
    return qdrant_client, models


def point_id(track_id: str) -> str:
    """Qdrant ids are UUIDs or integers; track ids map to a stable UUID5 (the id itself rides in the payload)."""
    return str(uuid.uuid5(_NAMESPACE, track_id))


class QdrantStore(VectorStore):
    """Vectors in a Qdrant collection, scored by dot product (cosine for unit vectors).

    Parameters
    ----------
    dim : int
        Vector width.
    url : str, optional
        A Qdrant server (``http://host:6333``); ``api_key`` or ``$QDRANT_API_KEY`` authenticates.
    path : path, optional
        Local-mode folder (no server). Neither ``url`` nor ``path``: in memory.
    collection : str
        Collection name.
    hnsw_m, ef_construct : int
        HNSW graph settings used by a server (local mode searches exactly).
    """

    name = "qdrant"

    def __init__(self, dim: int, *, url: str | None = None, path: str | Path | None = None,
                 collection: str = "sapphire", api_key: str | None = None, hnsw_m: int = 16,
                 ef_construct: int = 128) -> None:
        super().__init__(dim)
        qdrant_client, models = _client_module()
        self.url, self.path, self.collection = url, None if path is None else str(path), collection
        self.hnsw_m, self.ef_construct = hnsw_m, ef_construct
        if url:
            self.client = qdrant_client.QdrantClient(url=url, api_key=api_key or os.environ.get("QDRANT_API_KEY"))
        elif path is not None:
            Path(path).mkdir(parents=True, exist_ok=True)
            self.client = qdrant_client.QdrantClient(path=str(path))
        else:
            self.client = qdrant_client.QdrantClient(location=":memory:")
        if not self.client.collection_exists(collection):
            self.client.create_collection(
                collection,
                vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.DOT),
                hnsw_config=models.HnswConfigDiff(m=hnsw_m, ef_construct=ef_construct),
            )
        else:
            size = self.client.get_collection(collection).config.params.vectors.size
            if size != self.dim:
                raise VectorIndexError(f"Qdrant collection {collection!r} holds {size}-d vectors, not {self.dim}-d")

    def close(self) -> None:
        """Release the connection (local mode holds a lock on its folder)."""
        self.client.close()

    # ------------------------------------------------------------------ records
    def add(self, ids, vectors, metadata=None) -> None:
        _, models = _client_module()
        ids, vectors, metadata = self._check_add(ids, vectors, metadata)
        for start in range(0, len(ids), _SCROLL):
            chunk = slice(start, start + _SCROLL)
            self.client.upsert(self.collection, wait=True, points=[
                models.PointStruct(id=point_id(i), vector=v.tolist(), payload={"track_id": i, "meta": m})
                for i, v, m in zip(ids[chunk], vectors[chunk], metadata[chunk])
            ])

    def _existing(self, ids: list[str]) -> list[Any]:
        if not ids:
            return []
        return self.client.retrieve(self.collection, ids=[point_id(i) for i in ids], with_payload=True,
                                    with_vectors=True)

    def remove(self, ids) -> int:
        _, models = _client_module()
        found = self._existing([str(i) for i in ids])
        if found:
            self.client.delete(self.collection, wait=True,
                               points_selector=models.PointIdsList(points=[p.id for p in found]))
        return len(found)

    def search(self, queries, k: int = 10):
        _, models = _client_module()
        q = self._check_queries(queries, k)
        scores = np.full((q.shape[0], int(k)), -np.inf, dtype=np.float32)
        out_ids: list[list[str]] = []
        if len(self) == 0:
            return [[] for _ in range(q.shape[0])], scores
        requests = [models.QueryRequest(query=row.tolist(), limit=int(k), with_payload=True) for row in q]
        responses = self.client.query_batch_points(self.collection, requests=requests)
        for row, response in enumerate(responses):
            hits = response.points
            out_ids.append([h.payload["track_id"] for h in hits])
            scores[row, : len(hits)] = [h.score for h in hits]
        return out_ids, scores

    def __len__(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def _scroll(self, *, with_vectors: bool = False):
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, limit=_SCROLL, offset=offset, with_payload=True,
                                                with_vectors=with_vectors)
            yield from points
            if offset is None:
                break

    def ids(self) -> list[str]:
        return [p.payload["track_id"] for p in self._scroll()]

    def __contains__(self, track_id: object) -> bool:
        return bool(self._existing([str(track_id)]))

    def get_vectors(self, ids) -> np.ndarray:
        ids = [str(i) for i in ids]
        by_id = {p.payload["track_id"]: p.vector for p in self._existing(ids)}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise VectorIndexError(f"unknown ids: {', '.join(missing[:5])}")
        return np.array([by_id[i] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)

    def get_metadata(self, track_id: str) -> dict[str, Any]:
        found = self._existing([str(track_id)])
        return dict(found[0].payload.get("meta") or {}) if found else {}

    # ------------------------------------------------------------------ persistence
    def save(self, directory) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        settings = {"dim": self.dim, "collection": self.collection, "hnsw_m": self.hnsw_m,
                    "ef_construct": self.ef_construct}
        if self.url:
            write_store_manifest(directory, self.kind, url=self.url, **settings)
            return
        target = directory / _LOCAL_DIR
        if self.path is None or Path(self.path).resolve() != target.resolve():
            # Copy the records into a local-mode folder inside the index directory.
            tmp = directory / f".{_LOCAL_DIR}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            copy = QdrantStore(self.dim, path=tmp, collection=self.collection, hnsw_m=self.hnsw_m,
                               ef_construct=self.ef_construct)
            batch_ids, batch_vecs, batch_meta = [], [], []
            for p in self._scroll(with_vectors=True):
                batch_ids.append(p.payload["track_id"])
                batch_vecs.append(p.vector)
                batch_meta.append(p.payload.get("meta") or {})
            if batch_ids:
                copy.add(batch_ids, np.array(batch_vecs, dtype=np.float32), batch_meta)
            copy.close()
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        write_store_manifest(directory, self.kind, path=_LOCAL_DIR, **settings)

    @classmethod
    def load(cls, directory) -> QdrantStore:
        info = read_store_manifest(directory)
        common = {"collection": info["collection"], "hnsw_m": info.get("hnsw_m", 16),
                  "ef_construct": info.get("ef_construct", 128)}
        if info.get("url"):
            return cls(int(info["dim"]), url=info["url"], **common)
        return cls(int(info["dim"]), path=Path(directory) / info.get("path", _LOCAL_DIR), **common)
