"""Validation retrieval metrics: audio -> audio retrieval of other versions of the same work."""

from __future__ import annotations

import numpy as np


def retrieval_metrics(embeddings: np.ndarray, groups: list[str], *, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@k, MRR and mean average precision of leave-one-out retrieval by cosine similarity.

    Each item with at least one other item of the same group is a query; the query itself is
    excluded from the ranking; relevant items are the other members of its group.

    Parameters
    ----------
    embeddings : np.ndarray
        ``(N, D)`` vectors (normalised here).
    groups : list of str
        Group (work) of each row.

    Returns
    -------
    dict
        ``R@k`` (share of queries with a relevant item in the top k), ``MRR`` (mean reciprocal rank
        of the first relevant item), ``mAP`` and ``queries``. Zeros when there is no query.

    Examples
    --------
    >>> e = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    >>> retrieval_metrics(e, ["a", "a", "b", "b"])["MRR"]
    1.0
    """
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    g = np.asarray(groups)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    out = {f"R@{k}": 0.0 for k in ks} | {"MRR": 0.0, "mAP": 0.0, "queries": 0}
    rr, ap, hits = [], [], {k: [] for k in ks}
    for i in range(len(g)):
        relevant = (g == g[i])
        relevant[i] = False
        if not relevant.any():
            continue
        order = np.argsort(-sim[i], kind="stable")
        order = order[order != i]
        rel = relevant[order]
        ranks = np.flatnonzero(rel) + 1
        rr.append(1.0 / ranks[0])
        ap.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
        for k in ks:
            hits[k].append(float(ranks[0] <= k))
    if rr:
        out.update({f"R@{k}": float(np.mean(hits[k])) for k in ks})
        out.update({"MRR": float(np.mean(rr)), "mAP": float(np.mean(ap)), "queries": len(rr)})
    return out
