"""The MFCC statistics baseline: per track, the mean and covariance of 20 MFCCs
(the "bag of frames" timbre model, Aucouturier & Pachet 2004), standardised over the corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_MFCC, SR = 20, 22050


def mfcc_stats(path: str | Path, *, max_seconds: float = 60.0) -> np.ndarray:
    """``(20 + 210,)``: MFCC means and the upper triangle of their covariance."""
    import librosa

    from sapphire_core.audio import load_audio

    y = load_audio(path, sr=SR)[: int(max_seconds * SR)]
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC)
    cov = np.cov(m) if m.shape[1] > 1 else np.zeros((N_MFCC, N_MFCC))
    iu = np.triu_indices(N_MFCC)
    return np.concatenate([m.mean(axis=1), cov[iu]]).astype(np.float64)


class MfccBaseline:
    """Computes (and caches on disk, keyed by file content) MFCC statistics; z-scored by corpus statistics."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def raw(self, path: str | Path) -> np.ndarray:
        from sapphire_core.cache import file_hash
        from sapphire_core.io import atomic_write_bytes

        if self.cache_dir is not None:
            f = self.cache_dir / "mfcc_stats_v1" / f"{file_hash(path)}.npy"
            if f.is_file():
                return np.load(f)
            v = mfcc_stats(path)
            import io

            buf = io.BytesIO()
            np.save(buf, v)
            atomic_write_bytes(f, buf.getvalue())
            return v
        return mfcc_stats(path)

    def fit(self, raw: np.ndarray) -> MfccBaseline:
        self.mean, self.std = raw.mean(axis=0), raw.std(axis=0) + 1e-8
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(raw) - self.mean) / self.std
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
