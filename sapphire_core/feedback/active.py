"""Active learning: ask listeners about the triplets the model is least sure about.

Two signals of doubt, as in uncertainty sampling (Lewis & Gale 1994) and query-by-committee
(Seung et al. 1992), applied to triplets as in semi-supervised active representation learning:

- *near-equal similarity*: for anchor A and candidates B, C the model's preference is
  ``p = sigmoid((s_AB - s_AC) / T)``; uncertainty is ``1 - |2p - 1|`` (1 at a tie, 0 when sure);
- *disagreement between model versions*: two versions order B and C differently.

Pure functions over score arrays; the web app feeds them search scores, ``finetune`` embeddings.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TripletCandidate:
    """A triplet to ask about, with why."""

    anchor: str
    b: str
    c: str
    uncertainty: float
    disagreement: float

    @property
    def priority(self) -> float:
        """Disagreement first (a committee split is the stronger signal), then uncertainty."""
        return self.disagreement + self.uncertainty


def uncertainty(s_b: np.ndarray | float, s_c: np.ndarray | float, *, temperature: float = 0.05) -> np.ndarray:
    """``1 - |2 sigmoid((s_b - s_c)/T) - 1|`` = ``1 - |tanh((s_b - s_c) / 2T)|``: 1 when equal, -> 0 when far apart."""
    diff = (np.asarray(s_b, dtype=np.float64) - np.asarray(s_c, dtype=np.float64)) / (2 * temperature)
    return 1.0 - np.abs(np.tanh(diff))


def disagreement(s_b, s_c, o_b, o_c) -> np.ndarray:
    """1.0 where two models order B and C oppositely (a strict flip), else 0.0."""
    a = np.sign(np.asarray(s_b, dtype=np.float64) - np.asarray(s_c, dtype=np.float64))
    b = np.sign(np.asarray(o_b, dtype=np.float64) - np.asarray(o_c, dtype=np.float64))
    return ((a * b) < 0).astype(np.float64)


def rank_pairs(anchor: str, scores: dict[str, float], *, other_scores: dict[str, float] | None = None,
               temperature: float = 0.05, n: int | None = None) -> list[TripletCandidate]:
    """Every (B, C) pair of the scored candidates of one anchor, most doubtful first.

    Parameters
    ----------
    anchor : str
        The anchor track id.
    scores : dict of str to float
        The model's similarity of each candidate to the anchor (e.g. search scores).
    other_scores : dict, optional
        Another model version's scores of the same candidates; candidates it lacks get no
        disagreement term.
    temperature : float
        Score scale of :func:`uncertainty`.
    n : int, optional
        Keep only the first ``n``.
    """
    ids = [i for i in scores if i != anchor]
    out = []
    for b, c in itertools.combinations(ids, 2):
        u = float(uncertainty(scores[b], scores[c], temperature=temperature))
        d = 0.0
        if other_scores is not None and b in other_scores and c in other_scores:
            d = float(disagreement(scores[b], scores[c], other_scores[b], other_scores[c]))
        out.append(TripletCandidate(anchor, b, c, u, d))
    out.sort(key=lambda t: (-t.priority, t.b, t.c))
    return out[:n] if n is not None else out


def most_uncertain_triplets(ids: list[str], vectors: np.ndarray, *, n: int = 20, other_vectors: np.ndarray | None = None,
                            candidates: int = 8, temperature: float = 0.05) -> list[TripletCandidate]:
    """The ``n`` most doubtful triplets over embedded tracks (cosine similarity).

    For each anchor, the ``candidates`` nearest tracks form the (B, C) pairs, so questions stay
    about plausible neighbours rather than obvious mismatches.

    Parameters
    ----------
    ids : list of str
    vectors : np.ndarray
        ``(N, D)`` embeddings of ``ids``.
    n : int
    other_vectors : np.ndarray, optional
        ``(N, D')`` embeddings of the same tracks by another model version.
    candidates : int
    temperature : float
    """
    x = _normalise(vectors)
    sims = x @ x.T
    other = None if other_vectors is None else _normalise(other_vectors) @ _normalise(other_vectors).T
    pool: list[TripletCandidate] = []
    for a in range(len(ids)):
        order = [j for j in np.argsort(-sims[a], kind="stable") if j != a][:candidates]
        scores = {ids[j]: float(sims[a, j]) for j in order}
        oscores = None if other is None else {ids[j]: float(other[a, j]) for j in order}
        pool.extend(rank_pairs(ids[a], scores, other_scores=oscores, temperature=temperature))
    pool.sort(key=lambda t: (-t.priority, t.anchor, t.b, t.c))
    return pool[:n]


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)
