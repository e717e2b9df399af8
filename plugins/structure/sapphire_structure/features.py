"""Beat-synchronous chroma and timbre: the frame grid every structure feature is computed on.

Structure is analysed per beat, as in McFee & Ellis (2014) and Weiss & Bello (2010): one column
per beat makes repeated sections line up on diagonals whatever the tempo, and keeps the matrices
small (a three-minute song has a few hundred beats, not ten thousand frames).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sapphire_core.context import shared

#: STFT/CQT hop (samples at 22.05 kHz: 23 ms).
HOP_LENGTH = 512
#: Beats longer than this are split in two, so boundaries can still be placed within ±0.5 s.
MAX_BEAT_SECONDS = 0.6
#: Grid step used when the beat tracker finds too few beats (very short or arhythmic audio).
FALLBACK_STEP_SECONDS = 0.5
_MIN_BEATS = 8
#: At most this many grid intervals per track: the structure matrices are T x T, so a 60-minute
#: file (~7000 beats) would need gigabytes; longer tracks get a coarser grid (whole beats merged).
MAX_BEATS = 2048
#: Frames per block of frame-level analysis (x 512 samples: ~47.5 s), and the audio context
#: (samples) added on each side of a block.
BLOCK_FRAMES = 2048
CONTEXT = 32768


@dataclass(frozen=True)
class BeatFeatures:
    """Features of one track on its beat grid.

    Attributes
    ----------
    times : np.ndarray
        ``(T + 1,)`` interval edges in seconds: beat ``t`` spans ``times[t]`` to ``times[t + 1]``;
        ``times[0] == 0`` and ``times[-1]`` is the duration.
    chroma : np.ndarray
        ``(12, T)`` CQT chroma (median over each beat), each column scaled to max 1.
    mfcc : np.ndarray
        ``(n_mfcc, T)`` MFCC means over each beat (the timbre).
    frame_chroma : np.ndarray
        ``(12, N)`` frame-rate chroma at ``hop_length`` (for chord recognition).
    onsets : np.ndarray
        ``(T,)`` onset strength at the start of each beat (max over +-2 frames).
    sr, hop_length : int
    tempo : float
        Beats per minute of the (possibly subdivided) grid.
    """

    times: np.ndarray
    chroma: np.ndarray
    mfcc: np.ndarray
    frame_chroma: np.ndarray
    onsets: np.ndarray
    sr: int
    hop_length: int
    tempo: float

    @property
    def n_beats(self) -> int:
        return self.chroma.shape[1]

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def _grid(n_frames: int, sr: int, hop: int, onset_env: np.ndarray) -> np.ndarray:
    """Beat frame positions including 0 and ``n_frames``."""
    import librosa

    # Global tempo from at most two minutes around the middle: the tempogram is
    # (384 x frames) float64, hundreds of MB for a long track, and a static tempo needs no more.
    half = int(60 * sr / hop)
    mid = onset_env.size // 2
    excerpt = onset_env[max(0, mid - half) : mid + half]
    bpm = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=excerpt, sr=sr, hop_length=hop))[0])
    _, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=hop, bpm=bpm, trim=False)
    beats = np.unique(np.asarray(beats, dtype=int))
    if beats.size < _MIN_BEATS:
        step = max(1, int(round(FALLBACK_STEP_SECONDS * sr / hop)))
        beats = np.arange(step, n_frames, step)
    frames = librosa.util.fix_frames(beats, x_min=0, x_max=n_frames)
    # Subdivide long beats (slow music, or a tracker locked to half tempo).
    max_len = MAX_BEAT_SECONDS * sr / hop
    out = [frames[0]]
    for a, b in zip(frames[:-1], frames[1:]):
        parts = int(np.ceil((b - a) / max_len))
        if parts > 1:
            out.extend(np.round(a + (b - a) * np.arange(1, parts) / parts).astype(int).tolist())
        out.append(b)
    return cap_grid(np.unique(np.asarray(out, dtype=int)), MAX_BEATS)


def cap_grid(frames: np.ndarray, max_intervals: int) -> np.ndarray:
    """Keep every ``k``-th edge of a grid (and its last edge) so it has at most ``max_intervals``
    intervals."""
    n = frames.size - 1
    if n <= max_intervals:
        return frames
    step = int(np.ceil(n / max_intervals))
    kept = frames[:-1:step]
    return np.append(kept, frames[-1])


def _frame_features_block(y: np.ndarray, sr: int, hop: int, n_mfcc: int, tuning: float | None):
    import librosa

    with warnings.catch_warnings():
        # The CQT's lowest octaves warn on clips shorter than their window; padding covers it.
        warnings.filterwarnings("ignore", message="n_fft=.*is too large")
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
        chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop, tuning=tuning)
    n = chroma.shape[1]
    # MFCC and onset strength both start from the same log-mel spectrogram (librosa's defaults:
    # n_fft 2048, 128 bands, power_to_db re 1): computed once, the results are bit-identical and
    # the block costs a third less.
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, hop_length=hop))
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc)[:, :n]
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=hop)[:n]
    return chroma, mfcc, onset


def _frame_features(y: np.ndarray, sr: int, hop: int, n_mfcc: int):
    """Frame-rate CQT chroma, MFCC and onset strength, computed in blocks of ``BLOCK_FRAMES``.

    librosa's CQT holds several full-length copies of the signal (one per octave, complex), about
    1.5 GB for 25 minutes; blocks with ``CONTEXT`` samples of audio on either side (longer than
    the lowest CQT filter's half-length) give the same frames with bounded memory. Tuning is
    estimated once, on up to a minute from the middle, so all blocks share it.
    """
    import librosa

    block = BLOCK_FRAMES * hop
    if y.size <= block + 2 * CONTEXT:
        return _frame_features_block(y, sr, hop, n_mfcc, None)
    mid = y.size // 2
    excerpt = y[max(0, mid - 30 * sr) : mid + 30 * sr]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
        tuning = float(librosa.estimate_tuning(y=excerpt, sr=sr, bins_per_octave=36))
    n_total = 1 + y.size // hop  # frames of a centred analysis of the whole signal
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, y.size, block):
        lo = max(0, start - CONTEXT)
        seg = y[lo : start + block + CONTEXT]
        c, m, o = _frame_features_block(seg, sr, hop, n_mfcc, tuning)
        skip = (start - lo) // hop if lo > 0 else 0
        keep = min(BLOCK_FRAMES, n_total - start // hop)
        parts.append((c[:, skip : skip + keep], m[:, skip : skip + keep], o[skip : skip + keep]))
    return (np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1),
            np.concatenate([p[2] for p in parts]))


def _compute(audio: np.ndarray, sr: int, hop: int, n_mfcc: int) -> BeatFeatures:
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    min_len = 4 * 2048
    if y.size < min_len:  # CQT needs a few analysis windows
        y = np.pad(y, (0, min_len - y.size))
    chroma, mfcc, onset_env = _frame_features(y, sr, hop, n_mfcc)
    n_frames = chroma.shape[1]
    frames = _grid(n_frames, sr, hop, onset_env)
    # Interior edges past the real end (short clips are padded) merge into the last interval.
    real_end = audio.size / hop
    frames = np.concatenate([frames[:-1][(frames[:-1] < real_end - 1) | (np.arange(frames.size - 1) == 0)],
                             frames[-1:]])
    beat_chroma = librosa.util.sync(chroma, frames, aggregate=np.median)
    beat_chroma = beat_chroma / np.maximum(beat_chroma.max(axis=0, keepdims=True), 1e-6)
    beat_mfcc = librosa.util.sync(mfcc, frames, aggregate=np.mean)
    times = librosa.frames_to_time(frames, sr=sr, hop_length=hop)
    beat_onsets = np.array([onset_env[max(0, f - 2) : f + 3].max() if onset_env.size else 0.0 for f in frames[:-1]])
    times[-1] = max(audio.size / sr, times[-2] + 1e-3)  # the last interval ends at the true duration
    tempo = 60.0 / float(np.median(np.diff(times))) if times.size > 1 else 0.0
    return BeatFeatures(times=times.astype(np.float64), chroma=beat_chroma.astype(np.float32),
                        mfcc=beat_mfcc.astype(np.float32), frame_chroma=chroma.astype(np.float32),
                        onsets=beat_onsets.astype(np.float32),
                        sr=sr, hop_length=hop, tempo=tempo)


def beat_features(audio: np.ndarray, *, sr: int, hop_length: int = HOP_LENGTH, n_mfcc: int = 13) -> BeatFeatures:
    """Beat-synchronous chroma and MFCC of ``audio``.

    The four structure extractors run on the same track one after another, so the last few
    results are memoised by a hash of the samples (computing CQT chroma and beats dominates
    their cost).

    Parameters
    ----------
    audio : np.ndarray
        Mono samples.
    sr : int
        Sample rate of ``audio``.
    hop_length : int
        Frame hop in samples.
    n_mfcc : int
        Number of MFCCs.

    Returns
    -------
    BeatFeatures

    Examples
    --------
    >>> from sapphire_core.testing.signals import melody
    >>> bf = beat_features(melody([60, 64, 67] * 4, sr=22050), sr=22050)
    >>> bf.chroma.shape[0]
    12
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    # Shared by the structure extractors of one track (sapphire_core.context); computed anew outside one.
    return shared(audio, ("beat_features", sr, hop_length, n_mfcc), lambda: _compute(audio, sr, hop_length, n_mfcc))


def resize_matrix(m: np.ndarray, size: int) -> np.ndarray:
    """Area-resample a square ``(T, T)`` matrix to ``(size, size)``.

    Each output cell averages the input cells it covers (when ``T < size`` a cell covers part
    of one input cell, i.e. nearest-neighbour up-sampling), so the result is independent of
    track length and tempo.
    """
    t = m.shape[0]
    edges = np.linspace(0, t, size + 1)
    lo = np.minimum(np.floor(edges[:-1]).astype(int), t - 1)
    hi = np.maximum(np.ceil(edges[1:]).astype(int), lo + 1)
    # Averaging operator P (size x T), then P m P^T.
    p = np.zeros((size, t), dtype=np.float64)
    for i in range(size):
        p[i, lo[i] : hi[i]] = 1.0 / (hi[i] - lo[i])
    return p @ m @ p.T


def resize_vector(v: np.ndarray, size: int, *, reduce: str = "mean") -> np.ndarray:
    """Area-resample the last axis of ``v`` to ``size`` bins (``reduce`` is ``"mean"`` or ``"max"``)."""
    v = np.asarray(v, dtype=np.float64)
    t = v.shape[-1]
    out = np.zeros((*v.shape[:-1], size))
    if t == 0:
        return out
    edges = np.linspace(0, t, size + 1)
    for i in range(size):
        lo = min(int(np.floor(edges[i])), t - 1)
        hi = max(int(np.ceil(edges[i + 1])), lo + 1)
        seg = v[..., lo:hi]
        out[..., i] = seg.max(axis=-1) if reduce == "max" else seg.mean(axis=-1)
    return out
