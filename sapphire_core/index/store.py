"""The VectorStore interface: string ids -> L2-normalised vectors, searched by inner product.

An index folder holds one store; :func:`open_store` reads ``store.json`` to find which class
wrote it, so a server-based store (e.g. Qdrant) can sit behind the same calls as the embedded
FAISS default. Scores are inner products (cosine similarity for unit vectors), higher is closer.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sapphire_core.errors import SapphireError

STORE_FILE = "store.json"


class VectorIndexError(SapphireError):
    """A vector index is missing, corrupt, or asked something it cannot answer."""

_STORES: dict[str, type[VectorStore]] = {}


def register_store(cls: type[VectorStore]) -> type[VectorStore]:
    """Class decorator: make ``cls`` loadable by :func:`open_store` under ``cls.kind``."""
    _STORES[cls.kind] = cls
    return cls


class VectorStore(ABC):
    """A searchable set of ``(id, vector, metadata)`` records.

    Class attributes
    ----------------
    kind : str
        Written to ``store.json``; :func:`open_store` dispatches on it.

    Notes
    -----
    ``add`` with an id already present replaces that record (upsert), so re-indexing a changed
    track needs no separate ``remove``. ``search`` never returns removed ids.
    """

    kind: ClassVar[str] = "abstract"

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


def write_store_manifest(directory: str | Path, kind: str, **settings: Any) -> None:
    """Write ``store.json`` naming the store class and its settings."""
    from sapphire_core.cache import atomic_write_bytes

    payload = {"kind": kind, **settings}
    atomic_write_bytes(Path(directory) / STORE_FILE, json.dumps(payload, indent=2).encode())


def read_store_manifest(directory: str | Path) -> dict[str, Any]:
    """Read ``store.json``.

    Raises
    ------
    VectorIndexError
        When it is missing or unreadable.
    """
    path = Path(directory) / STORE_FILE
    if not path.is_file():
        raise VectorIndexError(f"{path}: not a vector store (no {STORE_FILE}); build one with 'sapphire index'")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise VectorIndexError(f"{path}: unreadable ({exc.msg}); rebuild the index") from None


def open_store(directory: str | Path) -> VectorStore:
    """Load whatever store was saved in ``directory``.

    Raises
    ------
    VectorIndexError
        When the folder holds no store or one whose class is not available.
    """
    info = read_store_manifest(directory)
    kind = info.get("kind")
    if kind not in _STORES:
        # The FAISS store registers itself on import; others live in optional modules.
        if kind == "faiss":
            import sapphire_core.index.faiss_store  # noqa: F401
        elif kind == "qdrant":
            try:
                import sapphire_core.scale.qdrant_store  # noqa: F401
            except ImportError as exc:
                raise VectorIndexError(f"{directory}: a Qdrant store needs 'pip install qdrant-client' ({exc})") from None
    if kind not in _STORES:
        raise VectorIndexError(f"{directory}: unknown store kind {kind!r}; known: {', '.join(sorted(_STORES))}")
    return _STORES[kind].load(directory)
