"""Batched torch STFT / mel / MFCC / chroma / CENS / tempogram: the ``backend: torch`` path.

Every function takes ``(N,)`` or ``(B, N)`` tensors (any device, so the same code runs on a GPU
when one is present) and mirrors one librosa 0.11 function with its default conventions:
periodic Hann window, ``center=True`` with zero padding, Slaney mel filters, orthonormal DCT-II.
Filter banks are built once by librosa (they are constants) and cached per device.

Agreement with librosa (asserted in ``tests/test_torch_dsp.py``, float32 vs librosa's float32
with float64 internals): power spectra and mel within ``rtol=1e-3`` of the largest value, log-mel
and MFCC within 0.05 dB / 0.05 where the power is above -80 dB re max, chroma and CENS within 1e-3,
the autocorrelation tempogram within 1e-3.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch


def default_device() -> torch.device:
    """CUDA when available, else CPU (:func:`sapphire_core.device.resolve_device`)."""
    from sapphire_core.device import resolve_device

    return resolve_device("auto")


def as_batch(y) -> tuple[torch.Tensor, bool]:
    """``y`` as a float32 ``(B, N)`` tensor, and whether it was 1-D."""
    t = torch.as_tensor(y)
    if t.dtype != torch.float32:
        t = t.to(torch.float32)
    return (t[None], True) if t.ndim == 1 else (t, False)


@lru_cache(maxsize=32)
def _window(n_fft: int, device: str) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=device)


def _abs2(z: torch.Tensor) -> torch.Tensor:
    """``|z|^2`` of a complex tensor. Elementwise on .real/.imag: ~7x faster on a CPU than a sum over the
    last axis of ``view_as_real`` (a reduction over an axis of length 2) and than ``abs()`` (a hypot)."""
    re, im = z.real, z.imag
    return torch.addcmul(re * re, im, im)


def stft_power(y: torch.Tensor, *, n_fft: int = 2048, hop_length: int = 512) -> torch.Tensor:
    """``|STFT|^2``, ``(B, 1 + n_fft//2, frames)``; matches ``np.abs(librosa.stft(y)) ** 2``."""
    y, squeeze = as_batch(y)
    spec = torch.stft(y, n_fft, hop_length=hop_length, window=_window(n_fft, str(y.device)), center=True,
                      pad_mode="constant", return_complex=True)
    power = _abs2(spec)
    return power[0] if squeeze else power


@lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, device: str) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(basis.astype(np.float32)).to(device)


def mel_from_power(power: torch.Tensor, *, sr: int, n_fft: int, n_mels: int = 64, fmin: float = 0.0,
                   fmax: float | None = None) -> torch.Tensor:
    """Mel power from a power spectrogram ``(..., F, T)`` (Slaney filters, as ``librosa.filters.mel``)."""
    basis = _mel_basis(sr, n_fft, n_mels, float(fmin), fmax, str(power.device))
    return torch.matmul(basis, power)


def melspectrogram(y, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 64,
                   fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Mel power spectrogram; matches ``librosa.feature.melspectrogram`` with the same arguments."""
    return mel_from_power(stft_power(y, n_fft=n_fft, hop_length=hop_length), sr=sr, n_fft=n_fft, n_mels=n_mels,
                          fmin=fmin, fmax=fmax)


def power_to_db(s: torch.Tensor, *, amin: float = 1e-10) -> torch.Tensor:
    """``10 log10(max(s, amin))`` (``librosa.power_to_db(s, ref=1.0, top_db=None)``)."""
    return 10.0 * torch.log10(torch.clamp(s, min=amin))


@lru_cache(maxsize=32)
def _dct_matrix(n_out: int, n_in: int, device: str) -> torch.Tensor:
    # Orthonormal DCT-II, the transform librosa.feature.mfcc applies (scipy.fft.dct(type=2, norm="ortho")).
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return torch.from_numpy(m.astype(np.float32)).to(device)


def mfcc_from_db(log_mel: torch.Tensor, *, n_mfcc: int = 20) -> torch.Tensor:
    """MFCCs from a log-mel spectrogram ``(..., n_mels, T)`` in dB (``librosa.feature.mfcc(S=log_mel)``)."""
    return torch.matmul(_dct_matrix(n_mfcc, log_mel.shape[-2], str(log_mel.device)), log_mel)


@lru_cache(maxsize=32)
def _chroma_basis(sr: int, n_fft: int, tuning: float, device: str) -> torch.Tensor:
    import librosa

    basis = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning)
    return torch.from_numpy(basis.astype(np.float32)).to(device)


def chroma_from_power(power: torch.Tensor, *, sr: int, n_fft: int, tuning: float = 0.0) -> torch.Tensor:
    """Chroma ``(..., 12, T)`` from a power spectrogram, max-normalised per frame
    (``librosa.feature.chroma_stft(S=power, tuning=tuning)``)."""
    raw = torch.matmul(_chroma_basis(sr, n_fft, float(tuning), str(power.device)), power)
    peak = raw.amax(dim=-2, keepdim=True)
    # librosa.util.normalize: frames whose max is below the float32 tiny value are left as zeros.
    return torch.where(peak > torch.finfo(torch.float32).tiny, raw / peak.clamp_min(1e-30), torch.zeros_like(raw))


def chroma_stft(y, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512, tuning: float = 0.0) -> torch.Tensor:
    """STFT chroma; matches ``librosa.feature.chroma_stft(y=y, sr=sr, tuning=tuning)``."""
    return chroma_from_power(stft_power(y, n_fft=n_fft, hop_length=hop_length), sr=sr, n_fft=n_fft, tuning=tuning)


def cens(chroma: torch.Tensor, *, win_len_smooth: int = 41) -> torch.Tensor:
    """Chroma Energy Normalised Statistics (Mueller, Kurth & Clausen, ISMIR 2005), as ``librosa.feature.chroma_cens``:
    L1-normalise, quantise at 0.4/0.2/0.1/0.05, smooth with a Hann window, L2-normalise."""
    c = chroma / chroma.abs().sum(dim=-2, keepdim=True).clamp_min(1e-30)
    q = sum(0.25 * (c > step).to(c.dtype) for step in (0.4, 0.2, 0.1, 0.05))
    if win_len_smooth:
        win = torch.hann_window(win_len_smooth + 2, periodic=False, dtype=c.dtype, device=c.device)
        win = win / win.sum()
        shape = q.shape
        flat = q.reshape(-1, 1, shape[-1])
        # scipy.ndimage.convolve(mode="constant") == zero-padded correlation with the flipped (symmetric) window.
        pad = (win.numel() - 1) // 2
        flat = torch.nn.functional.conv1d(flat, win.flip(0)[None, None], padding=pad)
        q = flat.reshape(shape)
    norm = q.square().sum(dim=-2, keepdim=True).sqrt()
    return torch.where(norm > 0, q / norm.clamp_min(1e-30), torch.zeros_like(q))


def onset_strength_from_db(log_mel: torch.Tensor, *, n_fft: int = 2048, hop_length: int = 512) -> torch.Tensor:
    """Spectral-flux onset envelope ``(..., T)`` from a dB mel spectrogram
    (``librosa.onset.onset_strength(S=log_mel)``: lag 1, mean over bands, centred)."""
    flux = torch.clamp(log_mel[..., 1:] - log_mel[..., :-1], min=0).mean(dim=-2)
    pad = 1 + n_fft // (2 * hop_length)
    flux = torch.nn.functional.pad(flux, (pad, 0))
    return flux[..., : log_mel.shape[-1]]


def tempogram(onset_env: torch.Tensor, *, win_length: int = 384) -> torch.Tensor:
    """Autocorrelation tempogram ``(..., win_length, T)`` (``librosa.feature.tempogram(onset_envelope=...)``):
    Hann-windowed local autocorrelation of the onset envelope, normalised by the lag-0 peak per frame
    (Grosche, Mueller & Kurth 2010)."""
    env = onset_env
    squeeze = env.ndim == 1
    if squeeze:
        env = env[None]
    half = win_length // 2
    # librosa pads with a linear ramp to zero at the ends (np.pad mode="linear_ramp").
    left = env[..., :1] * torch.linspace(0, 1, half + 1, device=env.device, dtype=env.dtype)[:-1]
    right = env[..., -1:] * torch.linspace(1, 0, half + 1, device=env.device, dtype=env.dtype)[1:]
    padded = torch.cat([left, env, right], dim=-1)
    frames = padded.unfold(-1, win_length, 1)[..., : env.shape[-1], :]  # (B, T, win)
    frames = frames * torch.hann_window(win_length, periodic=True, device=env.device, dtype=env.dtype)
    # Any FFT size >= 2 * win - 1 gives the linear autocorrelation; a power of two is much faster.
    n_pad = 1 << (2 * win_length - 2).bit_length()
    spec = torch.fft.rfft(frames, n=n_pad, dim=-1)
    ac = torch.fft.irfft(_abs2(spec), n=n_pad, dim=-1)[..., :win_length]
    peak = ac.abs().amax(dim=-1, keepdim=True)
    ac = torch.where(peak > torch.finfo(ac.dtype).tiny, ac / peak.clamp_min(1e-30), torch.zeros_like(ac))
    out = ac.transpose(-1, -2)
    return out[0] if squeeze else out
