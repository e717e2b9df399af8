"""Precomputed text-tower embeddings of the descriptions, cached on disk by a hash of the text.

The text tower (MiniLM) is frozen by default, so its output for a description never changes:
computing it once per description and training only ``model.text_projection`` is what makes CPU
training take minutes instead of hours. The cache is one ``.npz`` per tower identity (name +
config digest) under ``<corpus>/.sapphire/text_cache``.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from sapphire_core.io import atomic_write_bytes


def text_key(text: str) -> str:
    """The cache key of one text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class TextEmbeddingCache:
    """``embed(texts) -> (N, d)`` float32, computing only texts not seen before.

    Parameters
    ----------
    root : path
        Cache folder (e.g. ``CORPUS/.sapphire/text_cache``).
    tower : TextEncoder
        The (frozen) text tower.
    batch_size : int
        Texts per forward pass on a miss.
    """

    def __init__(self, root: str | Path, tower, *, batch_size: int = 64) -> None:
        self.tower = tower
        self.path = Path(root) / f"{tower.name}-{tower.config.digest()}.npz"
        self.batch_size = batch_size
        self._memo: dict[str, np.ndarray] | None = None
        self.computed = 0

    def _load(self) -> dict[str, np.ndarray]:
        if self._memo is None:
            self._memo = {}
            if self.path.is_file():
                try:
                    with np.load(self.path, allow_pickle=False) as data:
                        self._memo = {k: data[k] for k in data.files}
                except (OSError, ValueError):
                    self._memo = {}  # unreadable: recompute (it is only a cache)
        return self._memo

    @torch.no_grad()
    def embed(self, texts: list[str]) -> np.ndarray:
        memo = self._load()
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in memo))
        if missing:
            was_training = self.tower.training
            self.tower.eval()
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start:start + self.batch_size]
                vectors = self.tower.encode_text(chunk).float().cpu().numpy()
                for text, vec in zip(chunk, vectors):
                    memo[text_key(text)] = vec.astype(np.float32)
            self.tower.train(was_training)
            self.computed += len(missing)
            buffer = io.BytesIO()
            np.savez(buffer, **memo)
            atomic_write_bytes(self.path, buffer.getvalue())
        if not texts:
            return np.zeros((0, self.tower.output_dim), np.float32)
        return np.stack([memo[k] for k in keys])
