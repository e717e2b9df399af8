"""The on-disk feature cache, keyed by (content hash, extractor name, version, config hash).

Layout: ``ROOT/<extractor>/v<version>-<config hash>/<hh>/<content hash>.npz``
(:func:`sapphire_core.layout.cache_entry`). Every write is atomic
(:func:`sapphire_core.io.atomic_write_bytes`), so a killed run leaves either a complete entry or
none, and a rerun skips what is done. ``atomic_write_bytes`` is re-exported here for plugins
written against earlier versions.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from sapphire_core.data import Track
from sapphire_core.errors import AudioDecodeError, CacheError
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.io import atomic_write_bytes, file_sha256, npz_bytes
from sapphire_core.layout import cache_entry

__all__ = ["FeatureCache", "content_hash", "file_hash", "atomic_write_bytes"]


def file_hash(path: str | Path) -> str:
    """SHA-256 of an audio file's bytes (memoised per path, size and mtime).

    Raises
    ------
    AudioDecodeError
        When the file does not exist.
    """
    try:
        return file_sha256(path)
    except FileNotFoundError:
        raise AudioDecodeError(path, "file not found; check the path in tracks.jsonl") from None


def content_hash(track: Track, extractor: FeatureExtractor) -> str:
    """What an extractor's output depends on: the audio bytes, or for text-only extractors the
    lyrics and language."""
    if extractor.needs_audio:
        if track.audio is None:
            raise AudioDecodeError(None, f"track {track.id!r} has no audio path but {extractor.name} needs audio")
        return file_hash(track.audio)
    h = hashlib.sha256()
    h.update((track.lyrics or "").encode())
    if track.lyrics_path is not None and Path(track.lyrics_path).is_file():
        h.update(Path(track.lyrics_path).read_bytes())
    h.update(str(track.language).encode())
    # A text extractor whose output also reads track metadata (e.g. phonemes per second of the
    # track's duration) names those keys in ``metadata_keys``; none named -> the hash is unchanged.
    for key in extractor.metadata_keys:
        h.update(f"|{key}={track.metadata.get(key)!r}".encode())
    return h.hexdigest()


class FeatureCache:
    """Extracted features on disk.

    Parameters
    ----------
    root : path
        Cache folder (created on demand).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, extractor: FeatureExtractor, key: str) -> Path:
        """Where the entry for content hash ``key`` under ``extractor`` lives."""
        return cache_entry(self.root, extractor.cache_id(), key)

    def has(self, extractor: FeatureExtractor, key: str) -> bool:
        return self.path(extractor, key).is_file()

    def load(self, extractor: FeatureExtractor, key: str) -> dict[str, np.ndarray] | None:
        """The cached features, or ``None`` when absent.

        Raises
        ------
        CacheError
            When the entry is unreadable (delete it and rerun the extraction).
        """
        path = self.path(extractor, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise CacheError(f"{path}: unreadable cache entry ({exc}); delete it and rerun 'sapphire extract'") from None

    def save(self, extractor: FeatureExtractor, key: str, features: dict[str, np.ndarray]) -> Path:
        """Store features atomically; returns the entry's path."""
        path = self.path(extractor, key)
        atomic_write_bytes(path, npz_bytes(features))
        return path

    def entries(self) -> list[Path]:
        """Every complete entry (temporary files excluded), sorted."""
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.rglob("*.npz") if not p.name.startswith("."))
