"""``tonal``: CENS chroma over time and a key-strength profile; :func:`estimate_key`.

Features (hop 512 at 22.05 kHz)
--------------------------------
cens : (12, T)
    Chroma Energy Normalised Statistics (Mueller, Kurth & Clausen, ISMIR 2005), the chroma
    input of the multi-input model of Ribecky et al.: robust to dynamics and timbre, smoothed over
    ``cens_window`` frames (~1 s).
key_profile : (24,)
    Pearson correlation of the track's mean chroma with a key profile rotated to each of the 24
    keys, in :data:`KEY_NAMES` order (C major ... B major, C minor ... B minor): the
    Krumhansl-Schmuckler algorithm (Krumhansl, *Cognitive Foundations of Musical Pitch*, 1990,
    ch. 4), whose arg-max is the key estimate. The profile weights are selectable
    (:data:`PROFILES`); the default is Albrecht & Shanahan's (2013), fitted to a corpus of
    common-practice music, which they report beats the Krumhansl-Kessler probe-tone ratings. On the
    demo corpus (CQT chroma) the mir_eval weighted score is 0.86 with it and 0.70 with
    Krumhansl-Kessler, whose large fourth/sixth weights pull towards the dominant key when
    harmonics add energy at the fifth.

Backends: ``librosa`` computes chroma from a constant-Q transform (36 bins/octave, 7 octaves from C1,
``librosa.feature.chroma_cqt``), the reference of Ribecky et al.; ``torch`` computes chroma from the
STFT (:func:`sapphire_acoustic.torch_dsp.chroma_stft`, ~10x cheaper, coarser below ~100 Hz) and the
same CENS post-processing. Tuning is estimated once per track (``librosa.estimate_tuning`` on the
first 20 s) so chunked long files stay consistent.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import Field

from sapphire_acoustic.chunking import chunked_frames
from sapphire_acoustic.common import (CHUNK_SECONDS, CONTEXT, HOP_LENGTH, N_FFT, SAMPLE_RATE, AcousticConfig,
                                      AcousticExtractor, FramesConsumer, stft_frames)
from sapphire_core.context import shared

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: The 24 keys in ``key_profile`` order, spelled as mir_eval expects ("C major", "A minor").
KEY_NAMES = tuple(f"{p} major" for p in PITCH_NAMES) + tuple(f"{p} minor" for p in PITCH_NAMES)
#: Krumhansl & Kessler (1982) probe-tone ratings, tonic first (Krumhansl 1990, table 2.1).
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: Major / minor key profiles, tonic first. ``albrecht_shanahan``: Albrecht & Shanahan, "The use of large
#: corpora to train a new type of key-finding algorithm", Music Perception 31(1), 2013, table 1.
#: ``temperley``: Temperley, *The Cognition of Basic Musical Structures*, 2001 (Kostka-Payne profiles).
PROFILES = {
    "albrecht_shanahan": (
        np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081]),
        np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])),
    "krumhansl_kessler": (KK_MAJOR, KK_MINOR),
    "temperley": (np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0]),
                  np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0])),
}
DEFAULT_PROFILE = "albrecht_shanahan"
#: Audio (s) the tuning is estimated from.
TUNING_SECONDS = 20.0


def key_templates(profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """``(24, 12)`` key profiles: row ``k`` is the profile of :data:`KEY_NAMES` ``[k]``.

    Raises
    ------
    ConfigError
        For an unknown ``profile``, listing the valid names.
    """
    if profile not in PROFILES:
        from sapphire_core.errors import ConfigError

        raise ConfigError(f"unknown key profile {profile!r}; valid choices: {', '.join(sorted(PROFILES))}")
    major, minor = PROFILES[profile]
    return np.stack([np.roll(major, t) for t in range(12)] + [np.roll(minor, t) for t in range(12)])


def key_correlations(chroma_mean: np.ndarray, *, profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """Pearson correlation of a 12-bin pitch-class distribution with each of the 24 key profiles.

    Returns zeros for a flat (e.g. silent) distribution, where no key is preferred.
    """
    x = np.asarray(chroma_mean, dtype=np.float64)
    x = x - x.mean()
    t = key_templates(profile)
    t = t - t.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(t, axis=1) * np.linalg.norm(x)
    if denom.min() <= 1e-12:
        return np.zeros(24, dtype=np.float32)
    return (t @ x / denom).astype(np.float32)


def estimate_tuning(audio: np.ndarray, sr: int) -> float:
    """Deviation from A440 in fractions of a semitone (``librosa.estimate_tuning``) from at most the first
    :data:`TUNING_SECONDS`, once per track (shared through the track's context)."""
    return shared(audio, ("tuning", sr), lambda: tuning_of_start(audio, sr))


def tuning_of_start(audio: np.ndarray, sr: int) -> float:
    """:func:`estimate_tuning` without the track's context: from the first :data:`TUNING_SECONDS` of ``audio``."""
    import librosa

    head = np.asarray(audio[: int(TUNING_SECONDS * sr)], dtype=np.float32)
    if head.size < N_FFT or not np.any(head):
        return 0.0
    return float(librosa.estimate_tuning(y=head, sr=sr))


def shared_tuning_of_start(head: np.ndarray, sr: int) -> float:
    """:func:`tuning_of_start` of a stream's first samples, once per track for every extractor streaming it
    (shared through the track's context on the first :data:`TUNING_SECONDS`)."""
    start = np.asarray(head[: int(TUNING_SECONDS * sr)], dtype=np.float32)
    return shared(start, ("tuning", sr), lambda: tuning_of_start(start, sr), slot="tuning")


def shared_chroma_cens_frames(*, sr, hop_length, cens_window, backend, device, tuning):
    """:func:`chroma_cens_frames` whose result for a segment is computed once per track for every extractor
    streaming the same segments (``tonal``'s chroma feeds ``rhythm`` too, as :func:`chroma_and_cens` shares it
    on the whole-track path)."""
    frame_fn = chroma_cens_frames(sr=sr, hop_length=hop_length, cens_window=cens_window, backend=backend,
                                  device=device, tuning=tuning)
    key = ("chroma_cens_frames", sr, hop_length, cens_window, backend, device, float(tuning))
    return lambda seg: shared(seg, key, lambda: frame_fn(seg), slot="segment")


def chroma_and_cens(audio: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                    cens_window: int = 41, backend: str = "torch", device: str = "cpu", tuning: float | None = None,
                    chunk_seconds: float = CHUNK_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """Max-normalised chroma and CENS, both ``(12, T)``, computed in chunks (see module docstring).

    Shared per track, so ``midlevel`` reuses what ``tonal`` computed; treat the result as read-only.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if tuning is None:
        tuning = estimate_tuning(audio, sr)
    key = ("chroma_and_cens", sr, hop_length, cens_window, backend, device, float(tuning), chunk_seconds)
    return shared(audio, key, lambda: _chroma_and_cens(audio, sr=sr, hop_length=hop_length, cens_window=cens_window,
                                                        backend=backend, device=device, tuning=tuning,
                                                        chunk_seconds=chunk_seconds))


def stream_chroma_and_cens(blocks, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH, cens_window: int = 41,
                           backend: str = "torch", device: str = "cpu",
                           chunk_seconds: float = CHUNK_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`chroma_and_cens` of a stream of sample blocks at ``sr`` (e.g. :func:`sapphire_core.audio.audio_blocks`),
    holding about two chunks instead of the track (:func:`sapphire_acoustic.chunking.streamed_frames`).

    Bit-identical to :func:`chroma_and_cens` on the joined blocks for tracks up to one chunk long;
    longer ones are chunked at other places, which moves values by floating-point rounding only.
    """
    from sapphire_acoustic.chunking import streamed_frames

    def make_fn(head):
        return chroma_cens_frames(sr=sr, hop_length=hop_length, cens_window=cens_window, backend=backend,
                                     device=device, tuning=tuning_of_start(head, sr))

    return streamed_frames(blocks, make_fn, hop=hop_length, margin=CONTEXT, sr=sr, chunk_seconds=chunk_seconds)


def _chroma_and_cens(audio, *, sr, hop_length, cens_window, backend, device, tuning, chunk_seconds):
    frame_fn = chroma_cens_frames(sr=sr, hop_length=hop_length, cens_window=cens_window, backend=backend,
                                     device=device, tuning=tuning)
    return chunked_frames(audio, frame_fn, hop=hop_length, margin=CONTEXT, sr=sr, chunk_seconds=chunk_seconds)


def chroma_cens_frames(*, sr, hop_length, cens_window, backend, device, tuning):
    """Segment -> ``(chroma, cens)``, the chunk function of both the whole-track and the streamed path."""
    if backend == "torch":
        from sapphire_acoustic import torch_dsp

        def chroma_and_cens_of(power):
            chroma = torch_dsp.chroma_from_power(power, sr=sr, n_fft=N_FFT, tuning=tuning)
            return chroma.cpu().numpy(), torch_dsp.cens(chroma, win_len_smooth=cens_window).cpu().numpy()

        frame_fn = stft_frames(chroma_and_cens_of, device=device, hop_length=hop_length)
    else:
        import librosa

        def frame_fn(seg):
            with warnings.catch_warnings():
                # The CQT's lowest octave is decimated 64x; librosa warns on short clips, the result is still valid.
                warnings.simplefilter("ignore", UserWarning)
                cqt = np.abs(librosa.cqt(seg, sr=sr, hop_length=hop_length, fmin=librosa.note_to_hz("C1"),
                                         n_bins=7 * 36, bins_per_octave=36, tuning=tuning))
            chroma = librosa.feature.chroma_cqt(C=cqt, sr=sr, hop_length=hop_length, bins_per_octave=36)
            cens = librosa.feature.chroma_cens(C=cqt, sr=sr, hop_length=hop_length, bins_per_octave=36,
                                               win_len_smooth=cens_window)
            return chroma.astype(np.float32), cens.astype(np.float32)

    return frame_fn


def key_from_chroma(chroma: np.ndarray, *, profile: str = DEFAULT_PROFILE) -> tuple[str, np.ndarray]:
    """``(key name, (24,) correlations)`` from a ``(12, T)`` chroma (Krumhansl-Schmuckler)."""
    corr = key_correlations(np.asarray(chroma).mean(axis=-1), profile=profile)
    return KEY_NAMES[int(np.argmax(corr))], corr


def estimate_key(audio: np.ndarray, sr: int = SAMPLE_RATE, *, backend: str = "librosa",
                 profile: str = DEFAULT_PROFILE) -> str:
    """The key of ``audio`` in mir_eval spelling, e.g. ``"C major"`` (Krumhansl-Schmuckler on mean chroma).

    Parameters
    ----------
    audio : np.ndarray
        A mono recording, at ``sr`` Hz (other rates than 22.05 kHz are resampled first).
    sr : int
    backend : {"librosa", "torch"}
        CQT chroma (default, better below 100 Hz) or STFT chroma.
    profile : str
        Key-profile weights, a key of :data:`PROFILES`.

    Examples
    --------
    >>> from sapphire_core.testing.signals import chord
    >>> estimate_key(chord([60, 64, 67], sr=22050), 22050)
    'C major'
    """
    audio = _to_rate(audio, sr)
    chroma, _ = chroma_and_cens(audio, sr=SAMPLE_RATE, backend=backend)
    return key_from_chroma(chroma, profile=profile)[0]


def _to_rate(audio: np.ndarray, sr: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if sr == SAMPLE_RATE:
        return audio
    import soxr

    return soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)


class Tonal(AcousticExtractor):
    """CENS chroma over time and the 24-key correlation profile (Krumhansl-Schmuckler)."""

    name = "tonal"
    version = "1"

    class Config(AcousticConfig):
        cens_window: int = Field(41, ge=1, description="CENS smoothing window (frames)")
        profile: Literal["albrecht_shanahan", "krumhansl_kessler", "temperley"] = DEFAULT_PROFILE

    def output_shapes(self):
        return {"cens": (12, None), "key_profile": (24,)}

    def extract(self, audio, track):
        c = self.config
        chroma, cens = chroma_and_cens(audio, sr=self.sample_rate, cens_window=c.cens_window, backend=c.backend,
                                       device=c.device, chunk_seconds=c.chunk_seconds)
        _, corr = key_from_chroma(chroma, profile=c.profile)
        return {"cens": cens.astype(np.float32), "key_profile": corr}

    def block_consumer(self, track, context, *, expected_samples):
        """:meth:`extract` block by block (the tuning from the stream's start, as on the whole track):
        bit-identical up to one chunk (``chunk_seconds``), within floating-point rounding beyond."""
        c = self.config

        def make_fn(head):
            return shared_chroma_cens_frames(sr=self.sample_rate, hop_length=HOP_LENGTH, cens_window=c.cens_window,
                                             backend=c.backend, device=c.device,
                                             tuning=shared_tuning_of_start(head, self.sample_rate))

        def finish(frames, _):
            chroma, cens = frames
            _, corr = key_from_chroma(chroma, profile=c.profile)
            return {"cens": cens.astype(np.float32), "key_profile": corr}

        return FramesConsumer(make_fn, finish, chunk_seconds=c.chunk_seconds, expected_samples=expected_samples)
