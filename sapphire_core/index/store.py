"""Reading and writing a vector store folder: ``store.json`` and :func:`open_store`.

The interface itself is :class:`sapphire_core.vector_store.VectorStore`; store classes come from
the ``register_vector_stores`` hook (the core registers FAISS and Qdrant).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sapphire_core.io import atomic_write_bytes
from sapphire_core.vector_store import VectorIndexError, VectorStore

STORE_FILE = "store.json"

__all__ = ["STORE_FILE", "VectorIndexError", "VectorStore", "open_store", "read_store_manifest",
           "write_store_manifest"]


def write_store_manifest(directory: str | Path, kind: str, **settings: Any) -> None:
    """Write ``store.json`` naming the store class and its settings."""
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
    fix = "; the index is damaged: rebuild it with 'sapphire index'"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise VectorIndexError(f"{path}: unreadable ({exc}){fix}") from None
    except json.JSONDecodeError as exc:
        raise VectorIndexError(f"{path}: unreadable ({exc.msg}){fix}") from None
    if not isinstance(info, dict):
        raise VectorIndexError(f"{path}: unreadable (expected a JSON object, got {type(info).__name__}){fix}")
    return info


def open_store(directory: str | Path, *, registry=None) -> VectorStore:
    """Load whatever store was saved in ``directory``.

    Parameters
    ----------
    directory : path
    registry : Registry, optional
        Where store classes are looked up [default: the installed plugins].

    Raises
    ------
    VectorIndexError
        When the folder holds no store or one whose class is not installed.
    """
    from sapphire_core.errors import UnknownComponentError

    if registry is None:
        from sapphire_core.plugins import default_registry

        registry = default_registry()
    kind = read_store_manifest(directory).get("kind")
    try:
        cls = registry.get("vector_store", str(kind))
    except UnknownComponentError as exc:
        raise VectorIndexError(f"{directory}: {exc}") from None
    return cls.load(directory)
