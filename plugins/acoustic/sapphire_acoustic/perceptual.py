"""``perceptual_spectrum``: ISO 226:2003 loudness-weighted log-mel, MFCCs from it, and loudness over time.

Features (hop 512 at 22.05 kHz)
--------------------------------
logmel : (n_mels, T)
    Mel power in dB re full scale plus the ISO 226 weighting at each band's centre frequency
    (:func:`sapphire_acoustic.iso226.loudness_weights_db` at ``weighting_phon``): bands the ear
    hears less loudly are attenuated the way the equal-loudness contour says.
mfcc : (n_mfcc, T)
    Orthonormal DCT-II of ``logmel`` (Davis & Mermelstein 1980), so the cepstrum sees the
    perceptually weighted spectrum.
loudness : (1, T)
    Loudness in sone per frame: the frame's mean-square level with each STFT bin weighted by the
    ISO 226 contour, calibrated so a full-scale sine is ``full_scale_spl`` dB SPL, read as loudness
    level (phon, since the weighting is referenced to 1 kHz), then converted by
    :func:`sapphire_acoustic.iso226.phon_to_sone`. A single-band simplification of Zwicker's model
    (ISO 532-1), chosen for speed; it is exact for a 1 kHz tone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import Field

from sapphire_acoustic import iso226
from sapphire_acoustic.chunking import chunked_frames
from sapphire_acoustic.common import (CHUNK_SECONDS, CONTEXT, HOP_LENGTH, N_FFT, SAMPLE_RATE, AcousticConfig,
                                      AcousticExtractor, FramesConsumer, resolve_device, stft_frames)

#: dB floor of ``logmel`` before weighting (librosa's ``amin=1e-10``).
AMIN = 1e-10


@lru_cache(maxsize=16)
def _weights(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, phon: float):
    import librosa

    mel_centres = librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]
    mel_w_db = iso226.loudness_weights_db(mel_centres, phon=phon).astype(np.float32)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lin_w = 10 ** (iso226.loudness_weights_db(bins, phon=phon) / 10)
    # One-sided spectrum: every bin but DC and Nyquist stands for two (Parseval).
    lin_w[1:-1] *= 2.0
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as the STFT uses
    # mean square = sum_k c_k w_k |X_k|^2 / (N sum win^2); 0 dBFS is a full-scale sine (mean square 0.5).
    lin_w = (lin_w / (n_fft * np.sum(window**2)) / 0.5).astype(np.float32)
    return mel_w_db, lin_w


def perceptual_spectrum(audio: np.ndarray, *, sr: int = SAMPLE_RATE, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
                        n_mels: int = 64, fmin: float = 20.0, fmax: float | None = None, n_mfcc: int = 20,
                        weighting_phon: float = 60.0, full_scale_spl: float = 100.0, backend: str = "torch",
                        device: str = "cpu", chunk_seconds: float = CHUNK_SECONDS) -> dict[str, np.ndarray]:
    """Weighted log-mel, MFCC and loudness of ``audio`` (see the module docstring).

    Parameters
    ----------
    audio : np.ndarray
        Mono float samples at ``sr``.
    backend : {"torch", "librosa"}
        Which STFT/mel implementation to run; the results agree within the tolerances stated in
        :mod:`sapphire_acoustic.torch_dsp`.

    Returns
    -------
    dict
        ``logmel (n_mels, T)``, ``mfcc (n_mfcc, T)``, ``loudness (1, T)``, float32.
    """
    frame_fn, finish = perceptual_frames(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin,
                                         fmax=fmax, n_mfcc=n_mfcc, weighting_phon=weighting_phon,
                                         full_scale_spl=full_scale_spl, backend=backend, device=device)
    return finish(*chunked_frames(np.asarray(audio, dtype=np.float32), frame_fn, hop=hop_length, margin=CONTEXT,
                                  sr=sr, chunk_seconds=chunk_seconds))


def perceptual_frames(*, sr: int = SAMPLE_RATE, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, n_mels: int = 64,
                      fmin: float = 20.0, fmax: float | None = None, n_mfcc: int = 20, weighting_phon: float = 60.0,
                      full_scale_spl: float = 100.0, backend: str = "torch", device: str = "cpu"):
    """:func:`perceptual_spectrum` in two steps, for whole tracks and streams alike: ``(frame_fn, finish)``,
    where ``frame_fn`` maps a segment to ``(mel, weighted power)`` (a chunk function for
    :mod:`sapphire_acoustic.chunking`) and ``finish(mel, power)`` turns the joined frames into the result."""
    fmax = float(fmax or sr / 2)
    mel_w_db, lin_w = _weights(sr, n_fft, n_mels, float(fmin), fmax, float(weighting_phon))
    if backend == "torch":
        import torch

        from sapphire_acoustic import torch_dsp

        w_t = torch.from_numpy(lin_w).to(resolve_device(device))

        def mel_and_loudness(power):
            mel = torch_dsp.mel_from_power(power, sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
            return mel.cpu().numpy(), (w_t @ power).cpu().numpy()

        frame_fn = stft_frames(mel_and_loudness, device=device, n_fft=n_fft, hop_length=hop_length)
    else:
        import librosa

        basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)

        def frame_fn(seg):
            power = np.abs(librosa.stft(seg, n_fft=n_fft, hop_length=hop_length)) ** 2
            return basis @ power, lin_w @ power

    def finish(mel, ms):
        # In place, the same float32 operations in the same order: a whole-track temporary per step would
        # add ~80 MB each for 2 hours of audio.
        logmel = np.asarray(mel, dtype=np.float32)
        np.maximum(logmel, AMIN, out=logmel)
        np.log10(logmel, out=logmel)
        logmel *= 10.0
        logmel += mel_w_db[:, None]
        mfcc = _dct(n_mfcc, n_mels) @ logmel
        phon = 10.0 * np.log10(np.maximum(ms, AMIN)) + full_scale_spl
        loud = iso226.phon_to_sone(phon).astype(np.float32)[None, :]
        return {"logmel": logmel, "mfcc": mfcc.astype(np.float32), "loudness": loud}

    return frame_fn, finish


@lru_cache(maxsize=8)
def _dct(n_out: int, n_in: int) -> np.ndarray:
    import scipy.fft

    return scipy.fft.dct(np.eye(n_in), type=2, norm="ortho", axis=0)[:n_out].astype(np.float32)


class PerceptualSpectrum(AcousticExtractor):
    """ISO 226:2003 equal-loudness weighted log-mel, MFCCs and loudness (sone) over time."""

    name = "perceptual_spectrum"
    version = "1"

    class Config(AcousticConfig):
        n_mels: int = Field(64, ge=8, le=256)
        n_mfcc: int = Field(20, ge=1, le=128)
        fmin: float = Field(20.0, ge=0.0)
        weighting_phon: float = Field(60.0, ge=20.0, le=90.0, description="ISO 226 contour used for weighting")
        full_scale_spl: float = Field(100.0, description="dB SPL a full-scale sine is assumed to play at")

    def output_shapes(self):
        c = self.config
        return {"logmel": (c.n_mels, None), "mfcc": (c.n_mfcc, None), "loudness": (1, None)}

    def extract(self, audio, track):
        c = self.config
        return perceptual_spectrum(audio, sr=self.sample_rate, n_mels=c.n_mels, n_mfcc=c.n_mfcc, fmin=c.fmin,
                                   weighting_phon=c.weighting_phon, full_scale_spl=c.full_scale_spl,
                                   backend=c.backend, device=c.device, chunk_seconds=c.chunk_seconds)

    def block_consumer(self, track, context, *, expected_samples):
        """:meth:`extract` block by block: bit-identical up to one chunk (``chunk_seconds``), within
        floating-point rounding beyond (:func:`sapphire_acoustic.chunking.streamed_frames`)."""
        c = self.config
        frame_fn, finish = perceptual_frames(sr=self.sample_rate, n_mels=c.n_mels, n_mfcc=c.n_mfcc, fmin=c.fmin,
                                             weighting_phon=c.weighting_phon, full_scale_spl=c.full_scale_spl,
                                             backend=c.backend, device=c.device)
        return FramesConsumer(lambda head: frame_fn, lambda frames, _: finish(*frames), chunk_seconds=c.chunk_seconds,
                              expected_samples=expected_samples)
