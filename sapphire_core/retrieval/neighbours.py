"""Neighbours of tracks you already have: "more like these, less like that", with exclusions and
near-duplicate collapsing.

One implementation behind ``sapphire similar``, :meth:`SearchEngine.similar` and ``POST /api/similar``.

Seeds
-----
A seed is a track id of the index, or an audio file. An indexed track (by id, or by the path the index
was built from) is read as its stored vector: nothing is re-extracted. Any other file is embedded
with the index's model.

Scoring
-------
``score(x) = mean_i cos(x, p_i) - negative_weight * mean_j cos(x, n_j)`` over positive seeds ``p`` and
negative seeds ``n`` (Rocchio 1971 relevance feedback). The vectors are unit-norm, so this is one inner
product with ``q = mean(p) - negative_weight * mean(n)`` and the index's nearest-neighbour search answers it.

Near-duplicates
---------------
Two tracks are taken as one recording (the same performance in another file: re-encoded, louder,
trimmed) when their embeddings have cosine >= :data:`DUPLICATE_COSINE` and, where both durations are
in the metadata (``duration``), these differ by at most :data:`DUPLICATE_SECONDS`. Going down the
ranking, a hit that close to a seed or to a hit already kept is hidden and listed under the kept hit's
``explanation["duplicates"]``.

The threshold was measured on the demo index (168 tracks, the model ``make demo`` trains): among its
distinct recordings, 66 pairs reach cosine 0.98 (18 of them versions of one work, the rest different
works), 5 reach 0.99 and 1 reaches 0.995; the highest cosine between versions of one work is 0.991.
Copies of instrumental tracks (gain 0.7, MP3 at 96 kbit/s, 0.3 s trimmed) reached 0.970-0.9998 (4 of 6
at >= 0.995). A copy whose lyrics are not in the index (a file query of a song indexed with lyrics) is
a different input to the model and lands far away (cosine 0.1-0.4): it is not caught.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.layout import METADATA
from sapphire_core.retrieval import ranking
from sapphire_core.retrieval.ranking import SearchError
from sapphire_core.retrieval.result import SearchResult

#: Cosine at or above which two tracks count as one recording (see the module notes).
DUPLICATE_COSINE = 0.995
#: Largest duration difference (seconds) of two copies of one recording, when both are known.
DUPLICATE_SECONDS = 1.0
#: Weight of the negative seeds' mean similarity, subtracted (Rocchio's gamma over beta).
NEGATIVE_WEIGHT = 0.5
#: ``--exclude-same`` attribute -> the metadata keys that carry it, first present wins.
SAME_KEYS: dict[str, tuple[str, ...]] = {"work": ("work_id",), "artist": ("artist", "composer"),
                                         "album": ("album",)}


@dataclass
class Seed:
    """A resolved seed: its unit vector and, for an indexed track, its id and metadata."""

    ref: str
    vector: np.ndarray
    track_id: str | None = None
    metadata: dict[str, Any] | None = None
    audio_path: str | None = None


def resolve_seed(engine, ref: str | Path) -> Seed:
    """A seed from a track id or an audio file; indexed tracks are read from the index.

    Raises
    ------
    SearchError
        When ``ref`` is neither an indexed track id nor an existing audio file.
    """
    tid = engine.indexed_id(ref)
    if tid is not None:
        meta = engine.folder.metadata[tid]
        vec = engine.folder.store.get_vectors([tid])[0]
        return Seed(str(ref), _unit(vec), tid, meta, meta.get("audio_path"))
    if not Path(ref).is_file():
        raise SearchError(f"{str(ref)!r} is neither a track id of {engine.folder.path} nor an audio file; "
                          f"the ids are the \"id\" fields of {engine.folder.path / METADATA}")
    return Seed(str(ref), _unit(engine.encode_audio(ref).fused), audio_path=str(ref))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / (np.linalg.norm(v) + 1e-12)


def same_value(metadata: dict[str, Any] | None, attribute: str) -> str | None:
    """The value of an ``--exclude-same`` attribute in a track's metadata (lower-case), or None."""
    for key in SAME_KEYS[attribute]:
        value = (metadata or {}).get(key)
        if value not in (None, "", []):
            return str(value).strip().lower()
    return None


def check_exclude_same(attributes: Iterable[str], seeds: Sequence[Seed]) -> dict[str, set[str]]:
    """``{attribute: the seeds' values}`` for ``exclude_same``.

    Raises
    ------
    SearchError
        For an unknown attribute, or one that no seed carries (nothing could be excluded).
    """
    out: dict[str, set[str]] = {}
    for attr in attributes:
        if attr not in SAME_KEYS:
            raise SearchError(f"cannot exclude by {attr!r}; choose from {', '.join(SAME_KEYS)}")
        values = {v for s in seeds if (v := same_value(s.metadata, attr)) is not None}
        if not values:
            keys = " or ".join(SAME_KEYS[attr])
            raise SearchError(f"--exclude-same {attr}: no seed has a {keys!r} field in its metadata, so nothing "
                              f"could be excluded; tag the files ({keys}) and re-index, or drop the option")
        out[attr] = values
    return out


def collapse_duplicates(ids: Sequence[str], X: np.ndarray, *, threshold: float = DUPLICATE_COSINE,
                        against: np.ndarray | None = None, durations: Sequence[float] | None = None,
                        against_durations: Sequence[float] | None = None,
                        max_gap: float = DUPLICATE_SECONDS) -> tuple[list[int], dict[int, list[int]]]:
    """Greedy near-duplicate collapsing of a ranked list.

    Parameters
    ----------
    ids : sequence of str
        Ranked ids (best first).
    X : np.ndarray
        ``(len(ids), d)`` unit vectors.
    threshold : float
        Cosine at or above which two rows are one recording.
    against : np.ndarray, optional
        ``(s, d)`` unit vectors (the seeds) whose near-duplicates are dropped outright.
    durations, against_durations : sequence of float, optional
        Seconds of each row and of each ``against`` row (NaN where unknown).
    max_gap : float
        Two rows with known durations further apart than this are never one recording.

    Returns
    -------
    kept : list of int
        Rows kept, in ranked order.
    hidden : dict of int to list of int
        Kept row -> the rows collapsed into it.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.999, 0.0447], [0.0, 1.0]])
    >>> collapse_duplicates(["a", "a_copy", "b"], X)
    ([0, 2], {0: [1], 2: []})
    >>> collapse_duplicates(["a", "a_copy", "b"], X, durations=[180.0, 240.0, 200.0])[0]
    [0, 1, 2]
    """
    dur = np.full(len(ids), np.nan) if durations is None else np.asarray(durations, np.float64)
    A = np.zeros((0, X.shape[1] if X.ndim == 2 else 0)) if against is None else np.asarray(against)
    a_dur = np.full(len(A), np.nan) if against_durations is None else np.asarray(against_durations, np.float64)

    def same(sims: np.ndarray, d: np.ndarray, di: float) -> np.ndarray:
        unknown = ~np.isfinite(d) | (not np.isfinite(di))
        return (sims >= threshold) & (unknown | (np.abs(d - di) <= max_gap))

    kept: list[int] = []
    hidden: dict[int, list[int]] = {}
    for i in range(len(ids)):
        if len(A) and same(A @ X[i], a_dur, dur[i]).any():
            continue
        if kept:
            sims = X[kept] @ X[i]
            match = same(sims, dur[kept], dur[i])
            if match.any():
                hidden[kept[int(np.argmax(np.where(match, sims, -np.inf)))]].append(i)
                continue
        kept.append(i)
        hidden[i] = []
    return kept, hidden


def duration_of(metadata: dict[str, Any] | None) -> float:
    """A track's ``duration`` in seconds from its metadata, NaN when unknown."""
    try:
        return float((metadata or {}).get("duration"))
    except (TypeError, ValueError):
        return float("nan")


def similar(engine, seeds: Sequence[str | Path], *, negative: Sequence[str | Path] = (), k: int = 10,
            exclude_same: Iterable[str] = (), collapse: bool = True,
            duplicate_cosine: float = DUPLICATE_COSINE, negative_weight: float = NEGATIVE_WEIGHT,
            weights: dict[str, float] | None = None, explain: bool = False) -> list[SearchResult]:
    """Tracks like the seeds (and unlike the negative seeds), best first.

    Parameters
    ----------
    engine : SearchEngine
    seeds : sequence of str or Path
        Track ids or audio files ("more like these"); at least one.
    negative : sequence of str or Path
        Track ids or audio files ("less like this").
    k : int
        Results to return (fewer when the index runs out).
    exclude_same : iterable of str
        ``"work"``, ``"artist"``, ``"album"``: drop tracks that share it with a seed (:data:`SAME_KEYS`).
    collapse : bool
        Collapse near-duplicates (cosine >= ``duplicate_cosine``) into the best of them.
    duplicate_cosine : float
    negative_weight : float
        How much the negative seeds pull down (see the module notes).
    weights : dict of str to float, optional
        Sub-space weights, as in :meth:`SearchEngine.search`.
    explain : bool
        Add the engine's full explanation (sub-space and modality shares, interpretable values).

    Returns
    -------
    list of SearchResult
        ``explanation`` holds ``"seeds"`` (cosine to each seed), ``"negative"`` and ``"duplicates"``.

    Raises
    ------
    SearchError
        No seed, an unknown seed, a bad ``exclude_same`` or ``k < 1``.

    Examples
    --------
    >>> engine.similar(["bach-bwv248.9-1__v0"], exclude_same=["work"], k=5)  # doctest: +SKIP
    """
    if not seeds:
        raise SearchError("give at least one seed track (an id of the index or an audio file)")
    if int(k) < 1:
        raise SearchError(f"k must be >= 1, got {k}")
    pos = [resolve_seed(engine, s) for s in seeds]
    neg = [resolve_seed(engine, s) for s in negative]
    banned = check_exclude_same(exclude_same, pos)
    P = np.stack([s.vector for s in pos])
    N = np.stack([s.vector for s in neg]) if neg else np.zeros((0, P.shape[1]), np.float32)
    q = P.mean(0) - (float(negative_weight) * N.mean(0) if len(N) else 0.0)
    w = ranking.subspace_weights(engine.dim, engine.subspaces, weights)
    skip = {s.track_id for s in pos + neg if s.track_id is not None}
    meta = engine.folder.metadata
    store = engine.folder.store
    n = len(store)
    if n == 0:
        return []
    fetch = min(n, 5 * int(k) + len(skip) + 20)
    while True:
        ids, _ = store.search(q * w, k=fetch)
        cand = [i for i in ids[0] if i not in skip and i in meta
                and not any(same_value(meta[i], a) in vals for a, vals in banned.items())]
        X = store.get_vectors(cand) if cand else np.zeros((0, len(q)), np.float32)
        scores = X @ (q * w)
        order = np.argsort(-scores, kind="stable")
        cand, X, scores = [cand[j] for j in order], X[order], scores[order]
        if collapse:
            kept, hidden = collapse_duplicates(cand, X, threshold=duplicate_cosine, against=P,
                                               durations=[duration_of(meta[c]) for c in cand],
                                               against_durations=[duration_of(s.metadata) for s in pos])
        else:
            kept, hidden = list(range(len(cand))), {i: [] for i in range(len(cand))}
        if len(kept) >= int(k) or fetch >= n:
            break
        fetch = min(n, fetch * 4)

    qn = _unit(q) if np.linalg.norm(q) > 0 else None
    results = []
    for rank, j in enumerate(kept[: int(k)], 1):
        tid = cand[j]
        expl: dict[str, Any] = {
            "seeds": {s.track_id or s.ref: float(X[j] @ s.vector) for s in pos},
            "negative": {s.track_id or s.ref: float(X[j] @ s.vector) for s in neg},
            "duplicates": [cand[h] for h in hidden[j]],
        }
        if explain and qn is not None:
            expl.update(engine.explain(tid, X[j], qvec=qn, w=w, query_audio=None))
        elif qn is not None:
            from sapphire_core.retrieval.explain import subspace_shares

            expl["subspaces"] = subspace_shares(qn, X[j], engine.subspaces, weights=w)
        results.append(SearchResult(tid, float(scores[j]), rank, meta[tid], meta[tid].get("audio_path"), expl))
    return results
