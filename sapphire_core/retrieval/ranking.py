"""Ranking: sub-space weights, the candidate pool, and how the scores of several query modes combine.

Pure functions over arrays; :class:`sapphire_core.retrieval.engine.SearchEngine` calls them.
"""

from __future__ import annotations

import numpy as np

from sapphire_core.errors import SapphireError


class SearchError(SapphireError, ValueError):
    """A query cannot be answered (unknown sub-space, no text tower, no query given, ...)."""


def parse_weights(text: str | None) -> dict[str, float]:
    """``"tempo=0,key=2"`` -> ``{"tempo": 0.0, "key": 2.0}``.

    Raises
    ------
    SearchError
        When an item is not ``name=number``.
    """
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise SearchError(f"weight {item.strip()!r} is not name=number (e.g. --weights tempo=0,key=2)") from None
    return out


def subspace_weights(dim: int, subspaces: dict[str, slice], weights: dict[str, float] | None) -> np.ndarray:
    """A per-dimension weight vector: each named sub-space scaled (``rest`` = the unnamed dimensions).

    Raises
    ------
    SearchError
        For a name that is not a sub-space of the model, listing the valid ones.
    """
    w = np.ones(dim, np.float32)
    if not weights:
        return w
    covered = np.zeros(dim, bool)
    for sl in subspaces.values():
        covered[sl] = True
    for name, value in weights.items():
        if name in subspaces:
            w[subspaces[name]] = value
        elif name == "rest" and not covered.all():
            w[~covered] = value
        else:
            valid = ", ".join(list(subspaces) + (["rest"] if not covered.all() else []))
            raise SearchError(f"unknown sub-space {name!r} in weights; this model's sub-spaces: "
                              f"{valid or 'none (it was trained without named sub-spaces)'}")
    return w


def candidate_pool(store, vectors: dict[str, np.ndarray], w: np.ndarray, *, fetch: int,
                   scored: dict[str, dict[str, float]], known: set[str], exclude: set[str]) -> list[str]:
    """Ids to score: each vector mode's ``fetch`` nearest, then every id a score mode ranked (if indexed),
    in first-seen order, without ``exclude``."""
    candidates: list[str] = []
    seen: set[str] = set()
    for q in vectors.values():
        ids, _ = store.search(q * w, k=fetch)
        for i in ids[0]:
            if i not in seen:
                seen.add(i)
                candidates.append(i)
    for scores in scored.values():
        for i in scores:
            if i not in seen and i in known:
                seen.add(i)
                candidates.append(i)
    return [c for c in candidates if c not in exclude]


def score_column(scores: dict[str, float], candidates: list[str], *, rescale: bool) -> np.ndarray:
    """A score mode's scores of ``candidates`` (unranked ones get the lowest score); with ``rescale``
    put on [0, 1] first, so they mix with cosines."""
    raw = np.array([scores.get(c, np.nan) for c in candidates], np.float64)
    if rescale:
        lo, hi = np.nanmin(raw), np.nanmax(raw)
        raw = (raw - lo) / (hi - lo) if hi > lo else np.ones_like(raw)
    return np.nan_to_num(raw, nan=np.nanmin(raw) if np.isfinite(raw).any() else 0.0)


def combine(per_mode: dict[str, np.ndarray], mode_weights: dict[str, float]) -> np.ndarray:
    """The weighted mean of the modes' scores."""
    total_w = sum(mode_weights[m] for m in per_mode) or 1.0
    return sum(mode_weights[m] * per_mode[m] for m in per_mode) / total_w


def refine(base: np.ndarray, mode_scores: np.ndarray, *, threshold: float, weight: float) -> np.ndarray:
    """A core mode's scores refined by a plugin mode's (:attr:`~sapphire_core.query_mode.QueryMode.refines`).

    Each score gains ``weight * max(0, mode score - threshold)``; where the mode gave no score (NaN:
    outside its shortlist) it gains nothing. A hinge rather than a weighted mean, because the plugin's
    score says something only when it is high (two versions of one work align well; unrelated music
    aligns a little, and by how much says nothing about how alike it sounds).

    Examples
    --------
    >>> refine(np.array([0.5, 0.4, 0.3]), np.array([0.7, 0.9, np.nan]), threshold=0.75, weight=4.0)
    array([0.5, 1. , 0.3])
    """
    gain = np.maximum(np.nan_to_num(np.asarray(mode_scores, np.float64), nan=threshold) - threshold, 0.0)
    return np.asarray(base, np.float64) + weight * gain
