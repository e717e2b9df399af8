"""MS-SSIM between log-mel spectrograms (Wang, Simoncelli & Bovik 2003) as a perceptual
timbral/structural similarity of two recordings, and its rank correlation with embedding similarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Spectrogram "image" size: 64 mel bands x 256 frames (~12 s at hop 1024, 22.05 kHz). Three scales
#: (weights renormalised from the first three of Wang et al.'s five) fit an image this small.
N_MELS, N_FRAMES, HOP, SR = 64, 256, 1024, 22050
BETAS = (0.0448, 0.2856, 0.3001)


def logmel_image(path: str | Path, *, offset: float = 0.0) -> np.ndarray:
    """``(N_MELS, N_FRAMES)`` log-mel spectrogram scaled to [0, 1] (zero-padded when shorter)."""
    import librosa

    from sapphire_core.audio import load_audio

    y = load_audio(path, sr=SR)
    start = int(offset * SR)
    y = y[start:start + N_FRAMES * HOP]
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=2048, hop_length=HOP, n_mels=N_MELS)
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    img = np.zeros((N_MELS, N_FRAMES), np.float32)
    width = min(N_FRAMES, db.shape[1])
    img[:, :width] = (db[:, :width] + 80.0) / 80.0
    return img


def ms_ssim_pairs(images: dict[str, np.ndarray], pairs: list[tuple[str, str]]) -> np.ndarray:
    """MS-SSIM (torchmetrics) of each pair of spectrogram images."""
    import torch
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    if not pairs:
        return np.zeros(0)
    a = torch.from_numpy(np.stack([images[p] for p, _ in pairs]))[:, None]
    b = torch.from_numpy(np.stack([images[q] for _, q in pairs]))[:, None]
    out = []
    for s in range(0, len(pairs), 64):
        v = msssim(a[s:s + 64], b[s:s + 64], data_range=1.0, kernel_size=7, betas=BETAS, normalize="relu",
                   reduction="none")
        out.append(v.numpy())
    return np.concatenate(out).astype(np.float64)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (NaN when fewer than 3 pairs or a constant input)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x), np.asarray(y)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)
