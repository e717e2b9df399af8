"""Training-free baselines every learned row of the evaluation is compared with, in the same run.

- **MFCC statistics** (timbre): per track, the mean and covariance of 20 MFCCs, the "bag of frames"
  timbre model (Aucouturier & Pachet 2004), standardised over the corpus.
- **Chroma 2D-FTM** (versions): the key- and shift-invariant cover-song descriptor of Bertin-Mahieux
  & Ellis (2012), "Large-scale cover song recognition using the 2D Fourier transform magnitude":
  CENS chroma (Mueller et al. 2005), patches of ~6 s, the magnitude of each patch's 2D FFT (a
  transposition is a circular shift along the pitch axis and an offset one along time, and the
  magnitude is blind to both), the median over patches, compared by cosine. Fixed frames stand in
  for the paper's beats, as in the cover-song baselines users try first.
- **Random**: a seeded Gaussian vector per track; what chance looks like in each table column.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

N_MFCC, SR = 20, 22050
#: CENS at hop 512 (23 ms), kept every 4th frame: ~10.8 frames per second.
CENS_HOP, CENS_STEP = 512, 4
#: 2D-FTM patch length and hop, in kept CENS frames (~5.9 s and ~0.7 s).
PATCH, PATCH_HOP = 64, 8
#: Bertin-Mahieux & Ellis raise chroma to this power before the FFT (their section 3).
CHROMA_POWER = 1.96


def mfcc_stats(path: str | Path, *, max_seconds: float = 60.0) -> np.ndarray:
    """``(20 + 210,)``: MFCC means and the upper triangle of their covariance."""
    import librosa

    from sapphire_core.audio import load_audio

    y = load_audio(path, sr=SR)[: int(max_seconds * SR)]
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC)
    cov = np.cov(m) if m.shape[1] > 1 else np.zeros((N_MFCC, N_MFCC))
    iu = np.triu_indices(N_MFCC)
    return np.concatenate([m.mean(axis=1), cov[iu]]).astype(np.float64)


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


def chroma_2dftm(path: str | Path, *, max_seconds: float = 600.0) -> np.ndarray:
    """The 2D-FTM cover-song descriptor of an audio file (see the module docstring)."""
    import librosa

    from sapphire_core.audio import load_audio

    y = load_audio(path, sr=SR)[: int(max_seconds * SR)]
    cens = librosa.feature.chroma_cens(y=y, sr=SR, hop_length=CENS_HOP)[:, ::CENS_STEP]
    return two_d_ftm(cens)


def random_vector(path: str | Path, *, dim: int = 64) -> np.ndarray:
    """A Gaussian vector seeded by the file name: the chance row."""
    seed = int.from_bytes(hashlib.sha256(Path(path).name.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim)


class Baseline:
    """A training-free descriptor per file, cached on disk by file content, optionally z-scored.

    Parameters
    ----------
    name : str
        Cache folder name (bump its version suffix when ``describe`` changes).
    describe : callable
        ``describe(path) -> (D,)`` vector.
    standardize : bool
        Z-score each dimension with the corpus statistics (:meth:`fit`) before cosine.
    cache_dir : path, optional
    """

    def __init__(self, name: str, describe: Callable[[Path], np.ndarray], *, standardize: bool,
                 cache_dir: str | Path | None = None) -> None:
        self.name, self.describe, self.standardize = name, describe, standardize
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def raw(self, path: str | Path) -> np.ndarray:
        from sapphire_core.cache import file_hash
        from sapphire_core.io import atomic_write_bytes

        if self.cache_dir is None:
            return self.describe(Path(path))
        f = self.cache_dir / self.name / f"{file_hash(path)}.npy"
        if f.is_file():
            return np.load(f)
        v = self.describe(Path(path))
        buf = io.BytesIO()
        np.save(buf, v)
        atomic_write_bytes(f, buf.getvalue())
        return v

    def fit(self, raw: np.ndarray) -> Baseline:
        self.mean, self.std = raw.mean(axis=0), raw.std(axis=0) + 1e-8
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(np.asarray(raw, np.float64))
        if self.standardize:
            z = (z - self.mean) / self.std
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def mfcc_baseline(cache_dir: str | Path | None = None) -> Baseline:
    """MFCC statistics, z-scored over the corpus."""
    return Baseline("mfcc_stats_v1", mfcc_stats, standardize=True, cache_dir=cache_dir)


def chroma_baseline(cache_dir: str | Path | None = None) -> Baseline:
    """CENS chroma 2D-FTM, compared as is (z-scoring weights noisy high frequencies up and loses ~0.1 top-1)."""
    return Baseline("chroma_2dftm_v1", chroma_2dftm, standardize=False, cache_dir=cache_dir)


def random_baseline() -> Baseline:
    """Seeded random vectors (nothing to cache)."""
    return Baseline("random", random_vector, standardize=False)
