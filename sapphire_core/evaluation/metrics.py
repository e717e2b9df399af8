"""Retrieval metrics: the one place SAPPHIRE defines them (evaluation tables, training logs, benchmarks).

Pure numpy functions, checked against torchmetrics in the tests. Definitions (those of
``torchmetrics.retrieval`` and of the cover-song literature, e.g. MIREX audio cover song identification):

- ``topk`` (top-k hit rate): the share of queries with at least one relevant item in the top k.
  For version identification ``top1`` is the headline figure.
- ``R@k`` is recall at k: the share of a query's relevant items found in its top k, averaged over
  queries. With a single relevant item per query it equals ``topk``.
- ``mAP``: per query, the mean of precision@i over the ranks i that hold a relevant item (the whole
  ranking), averaged over queries. ``mAP@k`` counts only ranks i <= k (0 when none is relevant).
- ``MRR``: mean of 1 / rank of the first relevant item; ``median_rank``: median of that rank (1 = best).

Queries without any relevant item in the gallery are left out (and counted).
Ties are broken by gallery order (a stable sort), which is deterministic.
"""

from __future__ import annotations

import numpy as np


def relevance_ranks(scores: np.ndarray, relevant: np.ndarray, *, valid: np.ndarray | None = None) -> list[np.ndarray]:
    """For each query, the 1-based ranks of its relevant items, ascending.

    Parameters
    ----------
    scores : np.ndarray
        ``(Q, N)`` similarity, higher is closer.
    relevant : np.ndarray
        ``(Q, N)`` bool.
    valid : np.ndarray, optional
        ``(Q, N)`` bool: gallery items a query may retrieve (False removes e.g. the query itself).
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if valid is not None:
        scores = np.where(valid, scores, -np.inf)
        relevant = relevant & valid
    order = np.argsort(-scores, axis=1, kind="stable")
    out = []
    for q in range(scores.shape[0]):
        rel_sorted = relevant[q, order[q]]
        out.append(np.flatnonzero(rel_sorted) + 1)
    return out


def retrieval_metrics(scores: np.ndarray, relevant: np.ndarray, *, valid: np.ndarray | None = None,
                      ks: tuple[int, ...] = (1, 5, 10), map_k: int = 10) -> dict[str, float]:
    """R@k, top-k accuracy, mAP@k, MRR and median rank of a ``(Q, N)`` score matrix.

    Returns
    -------
    dict
        ``R@1``, ``R@5``, ``R@10``, ``top1``, ``top5``, ``top10``, ``mAP``, ``mAP@10``, ``MRR``,
        ``median_rank``, ``queries`` (evaluated), ``skipped`` (queries without relevant items).

    Examples
    --------
    >>> s = np.array([[0.9, 0.8, 0.1], [0.2, 0.9, 0.5]])
    >>> r = np.array([[False, True, False], [True, False, False]])
    >>> m = retrieval_metrics(s, r, ks=(1, 2))
    >>> m["R@1"], m["MRR"], m["median_rank"]
    (0.0, 0.41666666666666663, 2.5)
    """
    ranks = relevance_ranks(scores, relevant, valid=valid)
    kept = [r for r in ranks if len(r)]
    out: dict[str, float] = {"queries": float(len(kept)), "skipped": float(len(ranks) - len(kept))}
    if not kept:
        for k in ks:
            out[f"R@{k}"] = out[f"top{k}"] = float("nan")
        out.update({"mAP": float("nan"), f"mAP@{map_k}": float("nan"), "MRR": float("nan"),
                    "median_rank": float("nan")})
        return out
    for k in ks:
        out[f"R@{k}"] = float(np.mean([np.sum(r <= k) / len(r) for r in kept]))
        out[f"top{k}"] = float(np.mean([r[0] <= k for r in kept]))
    aps = []
    for r in kept:
        hits = r[r <= map_k]
        aps.append(float(np.mean(np.arange(1, len(hits) + 1) / hits)) if len(hits) else 0.0)
    out[f"mAP@{map_k}"] = float(np.mean(aps))
    out["mAP"] = float(np.mean([np.mean(np.arange(1, len(r) + 1) / r) for r in kept]))
    out["MRR"] = float(np.mean([1.0 / r[0] for r in kept]))
    out["median_rank"] = float(np.median([r[0] for r in kept]))
    return out


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity ``(len(a), len(b))`` (rows normalised here, zero rows stay zero)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def leave_one_out_metrics(embeddings: np.ndarray, groups: list[str], *, ks: tuple[int, ...] = (1, 5, 10)
                          ) -> dict[str, float]:
    """:func:`retrieval_metrics` of every item against all others by cosine: relevant = same group.

    Each item with another member of its group is a query; the query itself is excluded from its
    ranking. This is the version-retrieval task of the evaluation table and of the training log.

    Examples
    --------
    >>> e = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    >>> leave_one_out_metrics(e, ["a", "a", "b", "b"])["MRR"]
    1.0
    """
    x = np.asarray(embeddings, dtype=np.float64)
    g = np.asarray(groups)
    if len(g) == 0:
        return retrieval_metrics(np.zeros((0, 0)), np.zeros((0, 0), bool), ks=ks)
    return retrieval_metrics(cosine_matrix(x, x), g[:, None] == g[None, :], valid=~np.eye(len(g), dtype=bool), ks=ks)
