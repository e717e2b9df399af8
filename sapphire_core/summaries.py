"""Fixed-length summaries of frame features, shared by the evaluation baselines and by plugins.

- :func:`mfcc_statistics`: the means and covariance of MFCCs, the "bag of frames" timbre model
  (Aucouturier & Pachet 2004).
- :func:`two_d_ftm`: the key- and shift-invariant cover-song descriptor of Bertin-Mahieux & Ellis
  (2012), "Large-scale cover song recognition using the 2D Fourier transform magnitude".

Pure numpy on arrays a plugin already has, so that a plugin's training-free similarity and the
baselines it is measured against compute the same thing.
"""

from __future__ import annotations

import numpy as np

#: CENS at hop 512 (23 ms) is kept every 4th frame for the 2D-FTM: ~10.8 frames per second.
CENS_STEP = 4
#: 2D-FTM patch length and hop, in kept CENS frames (~5.9 s and ~0.7 s).
PATCH, PATCH_HOP = 64, 8
#: Bertin-Mahieux & Ellis raise chroma to this power before the FFT (their section 3).
CHROMA_POWER = 1.96


def mfcc_statistics(mfcc: np.ndarray) -> np.ndarray:
    """``(n + n (n + 1) / 2,)``: the means of ``(n, T)`` cepstra and the upper triangle of their covariance.

    Examples
    --------
    >>> mfcc_statistics(np.array([[1.0, 3.0], [2.0, 2.0]])).tolist()
    [2.0, 2.0, 2.0, 0.0, 0.0]
    """
    m = np.asarray(mfcc, np.float64)
    n = m.shape[0]
    cov = np.cov(m) if m.shape[1] > 1 else np.zeros((n, n))
    return np.concatenate([m.mean(axis=1), cov[np.triu_indices(n)]])


def two_d_ftm(chroma: np.ndarray, *, patch: int = PATCH, hop: int = PATCH_HOP) -> np.ndarray:
    """Median 2D Fourier transform magnitude of ``(12, T)`` chroma patches: ``(12 * (patch // 2 + 1),)``.

    Shorter inputs are zero-padded to one patch. The FFT magnitude of a real patch is symmetric along
    time, so only the non-negative time frequencies are kept.

    Examples
    --------
    A transposed (pitch-rolled) chroma gives the same descriptor:

    >>> c = np.random.default_rng(0).random((12, 100))
    >>> bool(np.allclose(two_d_ftm(c), two_d_ftm(np.roll(c, 5, axis=0))))
    True
    """
    c = np.asarray(chroma, dtype=np.float64)
    if c.shape[1] < patch:
        c = np.pad(c, ((0, 0), (0, patch - c.shape[1])))
    starts = range(0, c.shape[1] - patch + 1, hop)
    mags = [np.abs(np.fft.fft2(c[:, s:s + patch] ** CHROMA_POWER))[:, : patch // 2 + 1].ravel() for s in starts]
    return np.median(np.stack(mags), axis=0)
