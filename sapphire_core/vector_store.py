"""The VectorStore interface: string ids -> L2-normalised vectors, searched by inner product.

A plugin adds a store class through the ``register_vector_stores`` hook; an index folder's
``store/store.json`` names the class that wrote it (its ``name``), and
:func:`sapphire_core.index.store.open_store` looks that name up in the registry, so a
server-based store (e.g. Qdrant) sits behind the same calls as the embedded FAISS default.
Scores are inner products (cosine similarity for unit vectors), higher is closer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sapphire_core.errors import SapphireError


class VectorIndexError(SapphireError):
    """A vector index is missing, corrupt, or asked something it cannot answer."""


class VectorStore(ABC):
    """A searchable set of ``(id, vector, metadata)`` records.

    Class attributes
    ----------------
    name : str
        Registry name, written to ``store.json`` as ``kind``; ``open_store`` dispatches on it.

    Notes
    -----
    ``add`` with an id already present replaces that record (upsert), so re-indexing a changed
    track needs no separate ``remove``. ``search`` never returns removed ids.
    """

    name: ClassVar[str] = "abstract"

    @property
    def kind(self) -> str:
        """The name written to ``store.json`` (the registry name)."""
        return self.name

    def __init__(self, dim: int) -> None:
        if int(dim) <= 0:
            raise VectorIndexError(f"vector dimension must be positive, got {dim}")
        self.dim = int(dim)

    # ------------------------------------------------------------------ required
    @abstractmethod
    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[dict[str, Any]] | None = None) -> None:
        """Insert or replace records.

        Parameters
        ----------
        ids : list of str
            Unique within the call.
        vectors : np.ndarray
            ``(len(ids), dim)`` float array.
        metadata : list of dict, optional
            JSON-able metadata per record.

        Raises
        ------
        VectorIndexError
            On a shape mismatch, duplicate ids within the call, or non-finite values.
        """

    @abstractmethod
    def remove(self, ids: list[str]) -> int:
        """Delete records; unknown ids are ignored. Returns how many were removed."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int = 10) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` nearest records of each query by inner product.

        Parameters
        ----------
        queries : np.ndarray
            ``(Q, dim)`` or ``(dim,)``.
        k : int

        Returns
        -------
        ids : list of list of str
            ``Q`` lists of at most ``k`` ids, best first (shorter when the store holds fewer).
        scores : np.ndarray
            ``(Q, k)`` inner products, ``-inf`` where no record fills a slot.
        """

    @abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write the store into ``directory`` (including ``store.json``), atomically per file."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> VectorStore:
        """Read a store written by :meth:`save`."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of live (not removed) records."""

    # ------------------------------------------------------------------ optional, with defaults
    def ids(self) -> list[str]:
        """Every live id (order unspecified)."""
        raise NotImplementedError(f"{type(self).__name__} does not list its ids")

    def get_vectors(self, ids: list[str]) -> np.ndarray:
        """Stored vectors of ``ids`` as ``(len(ids), dim)``; raises VectorIndexError for unknown ids."""
        raise NotImplementedError(f"{type(self).__name__} does not return stored vectors")

    def get_metadata(self, track_id: str) -> dict[str, Any]:
        """Metadata stored with ``track_id`` (empty dict when none)."""
        return {}

    def __contains__(self, track_id: object) -> bool:
        return track_id in set(self.ids())

    # ------------------------------------------------------------------ shared checks
    def _check_add(self, ids: list[str], vectors: np.ndarray, metadata) -> tuple[list[str], np.ndarray, list[dict]]:
        ids = [str(i) for i in ids]
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1 and len(ids) == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise VectorIndexError(f"add: expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise VectorIndexError(f"add: ids repeat within one call: {', '.join(dup)}")
        if not np.all(np.isfinite(vectors)):
            raise VectorIndexError("add: vectors contain NaN or inf; check the embeddings")
        metadata = list(metadata) if metadata is not None else [{} for _ in ids]
        if len(metadata) != len(ids):
            raise VectorIndexError(f"add: {len(ids)} ids but {len(metadata)} metadata records")
        return ids, np.ascontiguousarray(vectors), metadata

    def _check_queries(self, queries: np.ndarray, k: int) -> np.ndarray:
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise VectorIndexError(f"search: expected queries of width {self.dim}, got shape {q.shape}")
        if int(k) < 1:
            raise VectorIndexError(f"search: k must be >= 1, got {k}")
        return np.ascontiguousarray(q)
