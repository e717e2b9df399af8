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

from sapphire_core.summaries import CENS_STEP, mfcc_statistics, two_d_ftm

N_MFCC, SR = 20, 22050
CENS_HOP = 512


def mfcc_stats(path: str | Path, *, max_seconds: float = 60.0) -> np.ndarray:
    """``(20 + 210,)``: MFCC means and the upper triangle of their covariance."""
    import librosa

    from sapphire_core.audio import load_audio

    y = load_audio(path, sr=SR)[: int(max_seconds * SR)]
    return mfcc_statistics(librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC))


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
