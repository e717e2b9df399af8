"""A playlist that walks from one track to another through the embedding space.

One implementation behind ``sapphire playlist``, :meth:`SearchEngine.playlist` and ``POST /api/playlist``.

The walk
--------
Candidates are the tracks near the great-circle arc from ``A`` to ``B`` (the index's nearest neighbours
of points spaced along it) that lie strictly closer to ``B`` than ``A`` does, without near-duplicates of
each other or of the ends (:data:`~sapphire_core.retrieval.neighbours.DUPLICATE_COSINE`). Of these,
dynamic programming picks the ``length - 2`` in-between tracks that minimise the sum of squared step
lengths ``sum ||x_t - x_{t+1}||^2`` (a discrete path energy: for fixed ends it favours short, even
steps along the arc), with each track strictly closer to ``B`` than the one before. So the list has no
repeats and its distance to ``B`` falls at every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.retrieval.neighbours import DUPLICATE_COSINE, collapse_duplicates, duration_of, resolve_seed
from sapphire_core.retrieval.ranking import SearchError
from sapphire_core.retrieval.result import SearchResult

#: Candidates kept for the dynamic programme (the ones nearest the arc); bounds its O(M^2 L) cost.
MAX_CANDIDATES = 400


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at fractions ``t`` of the great-circle arc between unit vectors ``a`` and ``b``.

    Examples
    --------
    >>> np.round(slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.5])), 4)
    array([[0.7071, 0.7071]])
    """
    t = np.asarray(t, np.float64)[:, None]
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-6:
        return np.repeat(a[None], len(t), 0)
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def shortest_monotone_path(X: np.ndarray, to_end: np.ndarray, steps: int) -> list[int]:
    """Rows ``0 -> ... -> last`` of ``X`` through exactly ``steps`` rows in between, each strictly nearer
    the end (smaller ``to_end``) than the one before, minimising the sum of squared step lengths.

    Parameters
    ----------
    X : np.ndarray
        ``(M, d)``; row 0 is the start, row ``M - 1`` the end.
    to_end : np.ndarray
        ``(M,)`` distance of each row to the end.
    steps : int
        In-between rows wanted (at most ``M - 2``).

    Returns
    -------
    list of int
        The path's rows, start and end included; fewer in-between rows when no monotone path of
        ``steps`` exists.

    Examples
    --------
    >>> X = np.array([[0.0], [3.0], [1.0], [2.0], [4.0]])
    >>> shortest_monotone_path(X, 4.0 - X[:, 0], 3)
    [0, 2, 3, 1, 4]
    """
    m = len(X)
    sq = (X * X).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0)
    allowed = to_end[None, :] < to_end[:, None]  # i -> j only if j is strictly nearer the end
    step_cost = np.where(allowed, d2, np.inf)
    layers = [np.where(np.arange(m) == 0, 0.0, np.inf)]  # layers[L][j]: cheapest way to j in L steps
    backs: list[np.ndarray] = []
    for _ in range(min(int(steps), m - 2)):
        total = layers[-1][:, None] + step_cost
        total[:, [0, m - 1]] = np.inf  # in-between rows only
        prev = np.argmin(total, 0)
        new = total[prev, np.arange(m)]
        if not np.isfinite(new).any():
            break
        layers.append(new)
        backs.append(prev)
    for n_inner in range(len(backs), -1, -1):  # the most in-between rows that still reach the end
        final = layers[n_inner] + step_cost[:, m - 1]
        if np.isfinite(final).any():
            break
    j = int(np.argmin(final))
    path = [m - 1, j]
    for prev in reversed(backs[:n_inner]):
        j = int(prev[j])
        path.append(j)
    return path[::-1]


def playlist(engine, start: str | Path, end: str | Path, *, length: int = 10,
             duplicate_cosine: float = DUPLICATE_COSINE) -> list[SearchResult]:
    """A smooth walk of ``length`` tracks from ``start`` to ``end`` (both included).

    Parameters
    ----------
    engine : SearchEngine
    start, end : str or Path
        Track ids of the index or audio files.
    length : int
        Tracks in the list, ends included (>= 2). Fewer come back when not enough tracks lie between.
    duplicate_cosine : float
        Near-duplicates (cosine at or above) of each other or of the ends are left out.

    Returns
    -------
    list of SearchResult
        In playing order; ``rank`` is the position, ``score`` the cosine to ``end``, and
        ``explanation`` holds ``"to_start"``, ``"to_end"`` and ``"step"`` (cosine to the previous track).

    Raises
    ------
    SearchError
        An unknown track, ``length < 2``, or the same track at both ends.

    Examples
    --------
    >>> engine.playlist("bach-bwv248.9-1__v0", "haydn-op1-no0__v1", length=8)  # doctest: +SKIP
    """
    if int(length) < 2:
        raise SearchError(f"a playlist needs length >= 2 (its two ends), got {length}")
    a, b = resolve_seed(engine, start), resolve_seed(engine, end)
    if float(a.vector @ b.vector) >= duplicate_cosine:
        raise SearchError(f"{start!r} and {end!r} are the same recording (cosine {float(a.vector @ b.vector):.3f}); "
                          "choose two different tracks")
    store, meta = engine.folder.store, engine.folder.metadata
    ends = {a.track_id, b.track_id} - {None}
    inner = int(length) - 2
    pool: list[str] = []
    if inner and len(store):
        k = min(len(store), max(4 * inner, 32))
        for ids in store.search(slerp(a.vector, b.vector, np.linspace(0, 1, max(inner + 2, 8))).astype(np.float32),
                                k=k)[0]:
            pool.extend(i for i in ids if i not in ends and i in meta)
    pool = list(dict.fromkeys(pool))
    X = np.zeros((0, len(a.vector)), np.float32)
    if pool:
        X = store.get_vectors(pool)
        nearer = X @ b.vector > a.vector @ b.vector  # strictly nearer B than A is
        near_arc = np.max(X @ slerp(a.vector, b.vector, np.linspace(0, 1, 16)).T.astype(np.float32), 1)
        order = [j for j in np.argsort(-near_arc, kind="stable") if nearer[j]][:MAX_CANDIDATES]
        pool, X = [pool[j] for j in order], X[order]
        kept, _ = collapse_duplicates(pool, X, threshold=duplicate_cosine, against=np.stack([a.vector, b.vector]),
                                      durations=[duration_of(meta[p]) for p in pool],
                                      against_durations=[duration_of(a.metadata), duration_of(b.metadata)])
        pool, X = [pool[j] for j in kept], X[kept]

    nodes = np.concatenate([a.vector[None], X, b.vector[None]]).astype(np.float64)
    to_end = 2.0 - 2.0 * (nodes @ b.vector)  # squared distance of unit vectors
    to_end[-1] = -1.0  # the end itself is nearest
    rows = shortest_monotone_path(nodes, to_end, inner)
    labels = [a] + [None] * len(pool) + [b]

    out, prev = [], None
    for pos, r in enumerate(rows, 1):
        x = nodes[r]
        if labels[r] is not None:
            seed = labels[r]
            tid, m, audio = seed.track_id or seed.ref, seed.metadata or {}, seed.audio_path
        else:
            tid = pool[r - 1]
            m, audio = meta[tid], meta[tid].get("audio_path")
        expl: dict[str, Any] = {"to_start": float(x @ a.vector), "to_end": float(x @ b.vector),
                                "step": None if prev is None else float(x @ prev)}
        out.append(SearchResult(tid, float(x @ b.vector), pos, m, audio, expl))
        prev = x
    return out
