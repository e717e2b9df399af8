"""Self-similarity and recurrence matrices over beat-synchronous features.

References
----------
Foote, J. (1999). Visualizing music and audio using self-similarity. ACM Multimedia.
McFee, B. & Ellis, D. P. W. (2014). Analyzing song structure with spectral clustering. ISMIR.
Serrà, J., Müller, M., Grosche, P. & Arcos, J. L. (2014). Unsupervised music structure
annotation by time series structure features and segment similarity. IEEE Trans. Multimedia.
"""

from __future__ import annotations

import numpy as np

from sapphire_structure.features import BeatFeatures


def stack_memory(x: np.ndarray, n_steps: int) -> np.ndarray:
    """Time-delay embedding: column ``t`` also holds its neighbours ``t - n_steps // 2`` ..
    ``t + (n_steps - 1) // 2`` (edge-padded).

    Stacking a few beats makes a column describe a short passage, so repeated passages match
    along diagonals and single shared chords do not (McFee & Ellis 2014, sec. 3.1). The window
    is centred so that the embedding does not shift boundaries later in time.
    """
    if n_steps <= 1:
        return x
    t = x.shape[1]
    offsets = np.arange(n_steps) - n_steps // 2
    cols = np.clip(np.arange(t)[None, :] + offsets[:, None], 0, t - 1)
    return np.concatenate([x[:, c] for c in cols], axis=0)


def cosine_ssm(x: np.ndarray) -> np.ndarray:
    """``(T, T)`` cosine similarity of the columns of ``x``."""
    norm = np.linalg.norm(x, axis=0, keepdims=True)
    xn = x / np.maximum(norm, 1e-9)
    return xn.T @ xn


def gaussian_ssm(x: np.ndarray) -> np.ndarray:
    """``(T, T)`` similarity ``exp(-d^2 / sigma^2)`` of the columns of ``x``, with ``sigma`` the
    median non-zero distance (a scale-free choice, as in McFee & Ellis 2014 eq. 7)."""
    sq = np.sum(x**2, axis=0)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x.T @ x, 0.0)
    nz = d2[d2 > 0]
    sigma2 = float(np.median(nz)) if nz.size else 1.0
    return np.exp(-d2 / max(sigma2, 1e-12))


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-variance rows (so no MFCC coefficient dominates the distance)."""
    return (x - x.mean(axis=1, keepdims=True)) / np.maximum(x.std(axis=1, keepdims=True), 1e-6)


def self_similarity(bf: BeatFeatures, *, chroma_weight: float = 0.5, n_steps: int = 4) -> np.ndarray:
    """The beat-level self-similarity matrix of a track, values in [0, 1].

    A weighted mean of a harmonic SSM (cosine similarity of time-delay-embedded chroma: it
    shows repeated passages as diagonal stripes) and a timbre SSM (Gaussian similarity of
    standardised MFCCs: it shows sections of homogeneous sound as blocks, Foote 1999).

    Parameters
    ----------
    bf : BeatFeatures
        Beat-synchronous features (:func:`sapphire_structure.features.beat_features`).
    chroma_weight : float
        Weight of the chroma SSM; the timbre SSM gets ``1 - chroma_weight``.
    n_steps : int
        Beats stacked per chroma column.

    Returns
    -------
    np.ndarray
        ``(T, T)`` symmetric matrix, ``T = bf.n_beats``.
    """
    s_chroma = cosine_ssm(stack_memory(bf.chroma.astype(np.float64), n_steps))
    s_timbre = gaussian_ssm(standardize(bf.mfcc[1:].astype(np.float64)))  # MFCC 0 is loudness
    return chroma_weight * s_chroma + (1.0 - chroma_weight) * s_timbre


def recurrence_matrix(x: np.ndarray, *, k: int | None = None, exclude: int = 3) -> np.ndarray:
    """Symmetric k-nearest-neighbour recurrence affinity of the columns of ``x``.

    ``R[i, j] > 0`` only when ``i`` and ``j`` are mutual k-nearest neighbours and at least
    ``exclude`` beats apart (McFee & Ellis 2014 eq. 6; ``k = 2 sqrt(T)`` by default as they
    suggest); weights are Gaussian in the distance.
    """
    t = x.shape[1]
    if k is None:
        k = max(1, int(2 * np.sqrt(t)))
    k = min(k, max(1, t - 2 * exclude - 1))
    sq = np.sum(x**2, axis=0)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x.T @ x, 0.0)
    band = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :]) < exclude
    d2m = np.where(band, np.inf, d2)
    if t <= 2 * exclude + 1:
        return np.zeros((t, t))
    nn = np.argsort(d2m, axis=1, kind="stable")[:, :k]
    knn = np.zeros((t, t), dtype=bool)
    knn[np.arange(t)[:, None], nn] = True
    mutual = knn & knn.T & ~band
    finite = d2[mutual]
    sigma2 = float(np.median(finite)) if finite.size else 1.0
    return np.where(mutual, np.exp(-d2 / max(sigma2, 1e-12)), 0.0)


def path_enhance(r: np.ndarray, *, width: int = 7) -> np.ndarray:
    """Median-filter ``r`` along its diagonals: keeps repeated *passages* (stripes), drops
    isolated matches (McFee & Ellis 2014 sec. 3.1, after Serrà et al. 2014)."""
    from scipy.ndimage import median_filter

    t = r.shape[0]
    if t < width:
        return r
    # Time-lag view: L[i, l] = R[i, i + l mod T]; a diagonal becomes a horizontal line.
    idx = (np.arange(t)[:, None] + np.arange(t)[None, :]) % t
    lag = r[np.arange(t)[:, None], idx]
    lag = median_filter(lag, size=(width, 1), mode="nearest")
    out = np.zeros_like(r)
    out[np.arange(t)[:, None], idx] = lag
    return np.maximum(out, out.T)
