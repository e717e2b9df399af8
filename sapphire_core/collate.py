"""Batching features of several tracks into tensors for an encoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

LENGTH_SUFFIX = "__len"


def feature_key(extractor: str, feature: str) -> str:
    """The key under which an encoder sees ``feature`` of ``extractor``: ``"extractor.feature"``."""
    return f"{extractor}.{feature}"


def length_key(key: str) -> str:
    """The key of the ``(B,)`` valid-length tensor of a padded variable-length feature."""
    return key + LENGTH_SUFFIX


def collate_features(items: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack per-track feature dicts into a batch.

    Arrays whose shapes differ only in the last (time) axis are zero-padded to the
    longest, and ``length_key(key)`` holds each track's true length.

    Raises
    ------
    ValueError
        When tracks disagree on keys or on a non-time axis.
    """
    if not items:
        raise ValueError("collate_features needs at least one track")
    keys = list(items[0])
    batch: dict[str, torch.Tensor] = {}
    for key in keys:
        try:
            arrays = [np.asarray(item[key]) for item in items]
        except KeyError:
            raise ValueError(f"feature {key!r} is missing from some tracks of the batch") from None
        shapes = {a.shape for a in arrays}
        if len(shapes) == 1:
            batch[key] = torch.from_numpy(np.stack(arrays).astype(np.float32, copy=False))
            continue
        heads = {a.shape[:-1] for a in arrays}
        if len(heads) != 1:
            raise ValueError(f"feature {key!r} has shapes {sorted(shapes)}; only the last (time) axis may vary")
        longest = max(a.shape[-1] for a in arrays)
        out = np.zeros((len(arrays), *arrays[0].shape[:-1], longest), dtype=np.float32)
        for i, a in enumerate(arrays):
            out[i, ..., : a.shape[-1]] = a
        batch[key] = torch.from_numpy(out)
        batch[length_key(key)] = torch.tensor([a.shape[-1] for a in arrays], dtype=torch.long)
    return batch


def time_mask(batch: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """``(B, T)`` bool mask of valid frames of a (possibly padded) feature."""
    x = batch[key]
    lengths = batch.get(length_key(key))
    if lengths is None:
        return torch.ones(x.shape[0], x.shape[-1], dtype=torch.bool, device=x.device)
    return torch.arange(x.shape[-1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
