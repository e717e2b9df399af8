"""What the web app needs from a search engine, and how it reads one.

The app codes against the pinned :class:`sapphire_core.retrieval.SearchEngine` interface::

    engine.search(*, audio=None, text=None, lyrics=None, weights=None, mode_weights=None,
                  k=10, exclude=(), **plugin_modes) -> list[SearchResult]
    engine.modes() -> {mode: "audio" | "text"}
    engine.track(track_id) -> metadata + audio_path
    engine.model_version, engine.index_version

These helpers read results and track records tolerantly (attribute or mapping), so the app works
with the real engine and with :class:`~sapphire_core.webapp.memory.MemoryEngine`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SearchEngineLike(Protocol):
    """The part of ``SearchEngine`` the web app uses."""

    model_version: str
    index_version: str

    def search(self, *, audio: Any = None, text: str | None = None, lyrics: str | None = None,
               weights: dict[str, float] | None = None, mode_weights: dict[str, float] | None = None,
               k: int = 10, exclude: Any = (), **plugin_modes: Any) -> list[Any]: ...

    def track(self, track_id: str) -> Any: ...


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def query_modes(engine: Any) -> dict[str, str]:
    """``{mode: "audio" | "text"}`` the engine answers (the core's three when it does not say)."""
    modes = getattr(engine, "modes", None)
    if callable(modes):
        return dict(modes())
    return {"audio": "audio", "text": "text", "lyrics": "text"}


def subspace_names(engine: Any) -> list[str]:
    """Names of the engine's embedding sub-spaces (for the weight sliders); empty when it has none."""
    subspaces = getattr(engine, "subspaces", None)
    if subspaces is None:
        manifest = getattr(engine, "manifest", None)
        subspaces = _get(manifest, "subspaces") if manifest is not None else None
    if isinstance(subspaces, dict):
        return [str(k) for k in subspaces]
    if isinstance(subspaces, (list, tuple)):
        return [str(_get(s, "name", s)) for s in subspaces]
    return []


def track_ids(engine: Any) -> list[str]:
    """Every track id the engine can return, if it says (``track_ids``, ``ids`` or ``metadata``)."""
    for name in ("track_ids", "ids"):
        value = getattr(engine, name, None)
        if callable(value):
            value = value()
        if value is not None:
            return [str(v) for v in value]
    meta = getattr(engine, "metadata", None)
    if isinstance(meta, dict):
        return [str(k) for k in meta]
    if isinstance(meta, list):
        return [str(_get(m, "id")) for m in meta if _get(m, "id") is not None]
    return []


def track_record(engine: Any, track_id: str) -> dict[str, Any] | None:
    """``{"id", "metadata", "audio_path"}`` of a track, or None when the index does not hold it.

    The audio path comes from the index, never from the request: this is the only way the app
    finds a file to serve.
    """
    try:
        rec = engine.track(track_id)
    except (KeyError, LookupError, ValueError, FileNotFoundError):
        return None
    except Exception as exc:  # the engine's own "unknown track" error
        from sapphire_core.errors import SapphireError

        if isinstance(exc, SapphireError):
            return None
        raise
    if rec is None:
        return None
    metadata = _get(rec, "metadata")
    if metadata is None:
        metadata = {k: v for k, v in rec.items() if k not in ("audio_path",)} if isinstance(rec, dict) else {}
    audio = _get(rec, "audio_path") or _get(rec, "audio") or _get(metadata, "audio_path")
    return {"id": str(track_id), "metadata": dict(metadata), "audio_path": None if audio is None else Path(audio)}


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        return _finite(x.item())
    if hasattr(x, "tolist"):
        return _finite(x.tolist())
    return x


def public_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata a browser may see: no file paths, no bulky arrays (e.g. a melody's note list)."""
    out = {}
    for k, v in dict(meta).items():
        if k in ("audio", "source_path") or k.endswith("_path"):
            continue
        if isinstance(v, (list, tuple)) and (len(v) > 16 or any(isinstance(x, (list, dict)) for x in v)):
            continue
        if isinstance(v, dict):
            continue
        out[str(k)] = v
    return out


def result_json(result: Any) -> dict[str, Any]:
    """A search result as JSON-able data (no file paths: audio is fetched by track id)."""
    explanation = _get(result, "explanation") or {}
    return {
        "track_id": str(_get(result, "track_id")),
        "score": _finite(float(_get(result, "score", 0.0))),
        "rank": int(_get(result, "rank", 0)),
        "metadata": _finite(public_metadata(_get(result, "metadata") or {})),
        "explanation": _finite(dict(explanation)),
    }
