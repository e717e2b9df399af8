"""Training-free descriptor blocks of a recording: timbre, tonality, key and mode, rhythm, dynamics.

Each block is a fixed-length vector summarising one perceptual aspect of a whole recording, built
from the acoustic plugin's own DSP (one shared STFT on the torch path) and the core's
summaries that the evaluation baselines use (:mod:`sapphire_core.summaries`), with no learned weight:

``timbre`` (250)
    Means and covariance of 20 MFCCs of the ISO 226-weighted log-mel
    (:func:`sapphire_acoustic.perceptual.perceptual_spectrum`) over the sounding frames: the "bag of
    frames" timbre model of the MFCC baseline (Aucouturier & Pachet 2004), plus the spread of each
    MFCC's frame-to-frame change (how fast the sound colour moves: attacks, vibrato).
``tonality`` (396)
    The chroma 2D Fourier transform magnitude of the cover-song baseline (Bertin-Mahieux & Ellis
    2012, :func:`sapphire_core.summaries.two_d_ftm`) on the CENS of
    constant-Q :func:`sapphire_acoustic.tonal.chroma_and_cens` (as the baseline's): harmony and its movement, blind to key and to
    where a passage starts.
``key_mode`` (36)
    The 24 key-profile correlations (Krumhansl-Schmuckler, :func:`sapphire_acoustic.tonal.key_correlations`)
    and the mean chroma, each rotated so the best key's tonic comes first: major or minor, how
    clear the key is and how chromatic the music is, the same in every key.
``rhythm`` (48 + 16)
    The autocorrelation of the onset envelope (:func:`sapphire_acoustic.rhythm.onset_envelope`) on a
    log-lag axis from 0.1 to 4 s (the maximum within each bin) and smoothed over a fifth of an octave, so a tempo change of
    up to ~15 % moves it little, plus the magnitude of its Fourier transform along log-lag, which a
    tempo change (a shift along log-lag) leaves unchanged: the scale transform of Holzapfel &
    Stylianou (2011), "Scale transform in rhythmic similarity of music".
``dynamics`` (16)
    Loudness level (phon, from the perceptual spectrum's sone curve) over the sounding frames:
    mean, spread and percentiles, frame-to-frame change, and the share of its fluctuation in 8
    log-spaced modulation bands from 0.25 to 16 Hz (swells, phrases, tremolo).
"""

from __future__ import annotations

import numpy as np

#: Block names, in the order of the similarity vector (:mod:`sapphire_acoustic.sounds_like`).
BLOCKS = ("timbre", "tonality", "key_mode", "rhythm", "dynamics")
#: Frames below this share of the loudest frame's loudness (sone) are silence for the timbre block.
SILENCE_SONE = 0.05
#: Autocorrelation lags (s) of the rhythm block and its log-lag grid.
LAG_RANGE = (0.1, 4.0)
LOG_LAG_BINS = 48
#: Smoothing of the log-lag autocorrelation (bins; 48 bins span 5.3 octaves).
LAG_SMOOTH_BINS = 1.5
SCALE_COEFFICIENTS = 16
#: Frames quieter than the loudest minus this (phon) are silence, left out of the dynamics block.
SILENCE_PHON = 50.0
MODULATION_RANGE = (0.25, 16.0)
MODULATION_BANDS = 8


def descriptor_blocks(audio: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """The :data:`BLOCKS` of a mono recording (any rate; resampled to 22.05 kHz), float32 vectors.

    Examples
    --------
    >>> from sapphire_core.testing.signals import chord
    >>> blocks = descriptor_blocks(chord([60, 64, 67], sr=22050, seconds=3.0), 22050)
    >>> {k: v.shape for k, v in blocks.items()}["key_mode"]
    (36,)
    """
    from sapphire_core.context import TrackContext, track_context

    from sapphire_acoustic.perceptual import perceptual_spectrum
    from sapphire_acoustic.rhythm import onset_envelope
    from sapphire_acoustic.tonal import _to_rate, chroma_and_cens

    audio = _to_rate(audio, sr)
    with track_context(TrackContext()):  # one STFT per chunk, shared by the spectrum and the onsets
        spectrum = perceptual_spectrum(audio, backend="torch")
        envelope = onset_envelope(audio, backend="torch")
        # Constant-Q chroma: the STFT's is coarse below ~100 Hz and found 0.07 fewer versions (training works).
        chroma, cens = chroma_and_cens(audio, backend="librosa")
    return _blocks_of(spectrum, envelope, chroma, cens)


def file_descriptor_blocks(path, *, blocks=None) -> dict[str, np.ndarray]:
    """:func:`descriptor_blocks` of an audio file, decoded block by block: memory is a few minutes of audio
    plus the frame-wise features, not the track (:func:`sapphire_acoustic.chunking.streamed_frames`).
    The same blocks for tracks up to one chunk (60 s), within floating-point rounding beyond. ``blocks``:
    the file's sample blocks at 22.05 kHz as :func:`sapphire_core.audio.audio_blocks` yields them, when
    already decoded (default: decoded here).
    """
    from sapphire_core.audio import audio_blocks
    from sapphire_core.context import TrackContext, track_context

    from sapphire_acoustic.chunking import streamed_frames
    from sapphire_acoustic.common import CONTEXT, HOP_LENGTH, SAMPLE_RATE
    from sapphire_acoustic.perceptual import perceptual_frames
    from sapphire_acoustic.rhythm import onset_frames
    from sapphire_acoustic.tonal import chroma_cens_frames, tuning_of_start

    spectrum_fn, finish_spectrum = perceptual_frames(backend="torch")
    onset_fn = onset_frames(backend="torch")

    def make_fn(head):
        # The same three analyses (and chroma settings) as descriptor_blocks, on each segment in turn.
        chroma_fn = chroma_cens_frames(sr=SAMPLE_RATE, hop_length=HOP_LENGTH, cens_window=41, backend="librosa",
                                       device="cpu", tuning=tuning_of_start(head, SAMPLE_RATE))
        return lambda seg: (*spectrum_fn(seg), onset_fn(seg), *chroma_fn(seg))

    with track_context(TrackContext()):  # one STFT per segment, shared by the spectrum and the onsets
        if blocks is None:
            blocks = audio_blocks(path, sr=SAMPLE_RATE)
        mel, power, envelope, chroma, cens = streamed_frames(blocks, make_fn,
                                                             hop=HOP_LENGTH, margin=CONTEXT, sr=SAMPLE_RATE)
    return _blocks_of(finish_spectrum(mel, power), envelope, chroma, cens)


def _blocks_of(spectrum: dict[str, np.ndarray], envelope: np.ndarray, chroma: np.ndarray,
               cens: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`BLOCKS` from a track's frame-wise features."""
    from sapphire_acoustic.common import HOP_LENGTH, SAMPLE_RATE
    from sapphire_core.summaries import CENS_STEP, two_d_ftm

    fps = SAMPLE_RATE / HOP_LENGTH
    blocks = {
        "timbre": timbre_profile(spectrum["mfcc"], spectrum["loudness"][0]),
        "tonality": two_d_ftm(cens[:, ::CENS_STEP]),
        "key_mode": key_mode_profile(chroma),
        "rhythm": rhythm_profile(envelope, fps),
        "dynamics": dynamics_profile(spectrum["loudness"][0], fps),
    }
    return {k: np.nan_to_num(np.asarray(v, np.float32)) for k, v in blocks.items()}


def timbre_profile(mfcc: np.ndarray, sone: np.ndarray) -> np.ndarray:
    """``(n + n (n + 1) / 2 + n,)``: MFCC means, covariance and delta spread over the sounding frames."""
    from sapphire_core.summaries import mfcc_statistics

    m = np.asarray(mfcc, np.float64)
    loud = np.asarray(sone, np.float64)[: m.shape[1]]
    sounding = loud > SILENCE_SONE * loud.max() if loud.size else np.zeros(0, bool)
    if sounding.sum() > 10:  # the silence after the last note says nothing about the instruments
        m = m[:, np.flatnonzero(sounding)]
    delta = np.diff(m, axis=1).std(axis=1) if m.shape[1] > 1 else np.zeros(m.shape[0])
    return np.concatenate([mfcc_statistics(m), delta])


def key_mode_profile(chroma: np.ndarray) -> np.ndarray:
    """``(36,)``: major and minor key correlations and the mean chroma, rotated to the best key's tonic.

    Examples
    --------
    A transposition rotates the chroma and leaves the profile as it was:

    >>> c = np.random.default_rng(0).random((12, 50))
    >>> bool(np.allclose(key_mode_profile(c), key_mode_profile(np.roll(c, 3, axis=0)), atol=1e-6))
    True
    """
    from sapphire_acoustic.tonal import key_correlations

    mean = np.asarray(chroma, np.float64).mean(axis=-1)
    corr = key_correlations(mean).astype(np.float64)
    tonic = int(np.argmax(corr)) % 12
    mean = mean / max(float(mean.sum()), 1e-9)
    return np.concatenate([np.roll(corr[:12], -tonic), np.roll(corr[12:], -tonic), np.roll(mean, -tonic)])


def log_lag_autocorrelation(envelope: np.ndarray, frames_per_second: float) -> np.ndarray:
    """``(LOG_LAG_BINS,)``: the normalised autocorrelation of an onset envelope at log-spaced lags."""
    x = np.asarray(envelope, np.float64)
    x = x - x.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    if n < 2 or acf[0] <= 1e-12:
        return np.zeros(LOG_LAG_BINS)
    acf = acf / acf[0]
    # Each log-lag bin keeps the largest autocorrelation among the lags it covers: a peak between two
    # bin centres (a sharp pulse) is not lost, as it would be by reading the curve at the centres.
    edges = np.geomspace(LAG_RANGE[0], LAG_RANGE[1], LOG_LAG_BINS + 1) * frames_per_second
    lo = np.minimum(np.round(edges[:-1]).astype(int), n - 1)
    hi = np.maximum(np.minimum(np.round(edges[1:]).astype(int), n - 1), lo)
    return np.array([acf[a:b + 1].max() for a, b in zip(lo, hi)])


def rhythm_profile(envelope: np.ndarray, frames_per_second: float) -> np.ndarray:
    """``(LOG_LAG_BINS + SCALE_COEFFICIENTS,)``: smoothed log-lag autocorrelation and its scale transform."""
    from scipy.ndimage import gaussian_filter1d

    acf = log_lag_autocorrelation(envelope, frames_per_second)
    smooth = gaussian_filter1d(acf, LAG_SMOOTH_BINS, mode="nearest")
    scale = np.abs(np.fft.rfft(acf - acf.mean()))[:SCALE_COEFFICIENTS]
    return np.concatenate([smooth, scale])


def dynamics_profile(sone: np.ndarray, frames_per_second: float) -> np.ndarray:
    """``(8 + MODULATION_BANDS,)``: loudness-level statistics and modulation band shares (see module docs)."""
    # Stevens' law read backwards (exact above 40 phon, where the music is): a doubling of sone is +10 phon.
    phon = 40.0 + 10.0 * np.log2(np.maximum(np.asarray(sone, np.float64), 1e-6))
    sounding = phon[phon > phon.max() - SILENCE_PHON] if phon.size else phon
    if sounding.size < 2:
        return np.zeros(8 + MODULATION_BANDS)
    p5, p25, p50, p75, p95 = np.percentile(sounding, [5, 25, 50, 75, 95])
    stats = [sounding.mean(), sounding.std(), p5, p25, p50, p75, p95 - p5, np.abs(np.diff(sounding)).mean()]
    power = np.abs(np.fft.rfft(phon - phon.mean())) ** 2
    freqs = np.fft.rfftfreq(len(phon), 1.0 / frames_per_second)
    edges = np.geomspace(*MODULATION_RANGE, MODULATION_BANDS + 1)
    bands = np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    return np.concatenate([stats, bands / max(float(bands.sum()), 1e-12)])


__all__ = ["BLOCKS", "descriptor_blocks", "dynamics_profile", "key_mode_profile", "log_lag_autocorrelation",
           "rhythm_profile", "timbre_profile"]
