"""``rhythm``: tempo, beats, cyclic tempogram and a rhythm summary; :func:`estimate_tempo`.

Features (hop 512 at 22.05 kHz)
--------------------------------
tempogram : (tempogram_bins, T)
    Cyclic tempogram (Grosche, Mueller & Kurth, "Cyclic tempogram - a mid-level tempo
    representation for music signals", ICASSP 2010): the local autocorrelation tempogram of the
    spectral-flux onset envelope, read on a log2 tempo axis and folded into one octave (tempo
    classes ``60 * 2^(c / bins)`` BPM, octave-equivalent), max-normalised per frame.
tempo : (1,)
    Global tempo (BPM), :func:`tempo_from_novelty`: the autocorrelation of an onset novelty curve
    that adds harmonic change (chroma flux) to spectral flux, so legato voices, organ and strings,
    whose notes change pitch without sharp attacks, still show their pulse.
summary : (5,)
    In :data:`RHYTHM_SUMMARY_NAMES` order:

    ``swing_ratio``
        Long/short ratio of the two parts of a beat split by its dominant off-beat onset
        (1 = straight eighths, 2 = triplet swing; Friberg & Sundstroem, Music Perception 2002).
        Always >= 1; 1 when fewer than a quarter of the beats have an off-beat onset.
    ``microtiming_ms``
        Median absolute deviation (ms) of onsets from the swing-adjusted beat grid (beats and the
        off-beat at the swing position): groove / micro-timing.
    ``onset_density``
        Onsets per second (Lartillot & Toiviainen's "event density").
    ``pulse_clarity``
        Maximum of the normalised autocorrelation of the mean-removed onset envelope over
        30-300 BPM lags (Lartillot et al., ISMIR 2008, "MaxAutocor"), in [0, 1].
    ``beat_regularity``
        Fraction of 8 s windows whose local tempo is within 4 % of the global tempo or its
        double/half, in [0, 1].

Onset times are refined below the frame by parabolic interpolation of the envelope peak, so the
swing ratio of a synthetic swung click track is recovered to a few percent at hop 512.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import Field

from sapphire_acoustic.chunking import chunked_frames, frame_chunks
from sapphire_acoustic.common import (CHUNK_SECONDS, CONTEXT, HOP_LENGTH, N_FFT, SAMPLE_RATE, AcousticConfig,
                                      AcousticExtractor, FramesConsumer, resolve_device, stft_frames)
from sapphire_core.context import shared

#: Order of the ``summary`` vector of the ``rhythm`` extractor.
RHYTHM_SUMMARY_NAMES = ("swing_ratio", "microtiming_ms", "onset_density", "pulse_clarity", "beat_regularity")
#: Autocorrelation window of the tempogram (frames, ~8.9 s), librosa's default.
TEMPOGRAM_WIN = 384
#: Tempo range (BPM) folded into the cyclic tempogram and searched for pulse clarity.
TEMPO_RANGE = (30.0, 480.0)
PULSE_RANGE = (30.0, 300.0)
REGULARITY_WINDOW_SECONDS = 8.0
#: Smallest onset-envelope peak (mean dB rise over the mel bands) counted as an onset.
MIN_ONSET_DB = 1.5


@dataclass
class RhythmAnalysis:
    """Intermediate results shared by the ``rhythm`` and ``midlevel`` extractors."""

    envelope: np.ndarray  # (T,) onset strength
    cyclic: np.ndarray  # (bins, T)
    tempo: float
    beats: np.ndarray  # beat times (s)
    onsets: np.ndarray  # sub-frame onset times (s)
    onset_strength: np.ndarray  # envelope value at each onset
    swing: float
    swing_phase: float  # off-beat position within the beat (0.5 straight)
    microtiming_ms: float
    onset_density: float
    pulse_clarity: float
    beat_regularity: float
    duration: float

    def summary(self) -> np.ndarray:
        return np.array([self.swing, self.microtiming_ms, self.onset_density, self.pulse_clarity,
                         self.beat_regularity], dtype=np.float32)


def onset_envelope(audio: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH, n_mels: int = 128,
                   backend: str = "torch", device: str = "cpu", chunk_seconds: float = CHUNK_SECONDS) -> np.ndarray:
    """Spectral-flux onset strength ``(T,)`` (``librosa.onset.onset_strength`` on a 128-band dB mel), chunked."""
    audio = np.asarray(audio, dtype=np.float32)
    frame_fn = onset_frames(sr=sr, hop_length=hop_length, n_mels=n_mels, backend=backend, device=device)
    # Flux at frame k reads mel frames k-3 and k-4 (librosa's centring pad): CONTEXT covers that too.
    return chunked_frames(audio, frame_fn, hop=hop_length, margin=CONTEXT, sr=sr, chunk_seconds=chunk_seconds)


def onset_frames(*, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH, n_mels: int = 128, backend: str = "torch",
                 device: str = "cpu"):
    """The chunk function of :func:`onset_envelope` (segment -> ``(T,)`` onset strength), for streams too."""
    if backend == "torch":
        from sapphire_acoustic import torch_dsp

        def onsets(power):
            mel = torch_dsp.mel_from_power(power, sr=sr, n_fft=N_FFT, n_mels=n_mels)
            return torch_dsp.onset_strength_from_db(torch_dsp.power_to_db(mel), n_fft=N_FFT,
                                                    hop_length=hop_length).cpu().numpy()

        frame_fn = stft_frames(onsets, device=device, hop_length=hop_length)
    else:
        import librosa

        def frame_fn(seg):
            mel = librosa.feature.melspectrogram(y=seg, sr=sr, n_fft=N_FFT, hop_length=hop_length, n_mels=n_mels)
            return librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=1.0, top_db=None), sr=sr,
                                                hop_length=hop_length).astype(np.float32)

    return frame_fn


@lru_cache(maxsize=8)
def cyclic_matrix(bins: int, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                  win_length: int = TEMPOGRAM_WIN) -> np.ndarray:
    """``(bins, win_length)`` map from autocorrelation lags to cyclic tempo classes (Grosche et al. 2010, eq. 5):
    each lag whose tempo lies in :data:`TEMPO_RANGE` is split linearly between its two nearest classes
    ``60 * 2^(c / bins)`` BPM (mod one octave); each class is then averaged over its lags."""
    lags = np.arange(1, win_length)
    bpm = 60.0 * sr / hop_length / lags
    keep = (bpm >= TEMPO_RANGE[0]) & (bpm <= TEMPO_RANGE[1])
    pos = (np.log2(bpm[keep] / 60.0) % 1.0) * bins
    lo = np.floor(pos).astype(int) % bins
    frac = pos - np.floor(pos)
    w = np.zeros((bins, win_length))
    np.add.at(w, (lo, lags[keep]), 1.0 - frac)
    np.add.at(w, ((lo + 1) % bins, lags[keep]), frac)
    return (w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)


def _tempogram_chunks(env: np.ndarray, *, backend: str, device: str, sr: int, hop_length: int, chunk_frames: int):
    """Yield ``(start, stop, tempogram[:, start:stop])`` over the envelope in bounded memory."""
    total = env.shape[-1]
    half = TEMPOGRAM_WIN // 2
    for lo, start, stop, hi in frame_chunks(total, chunk=chunk_frames, margin=half + 1):
        seg = env[lo:min(hi, total)]
        if backend == "torch":
            import torch

            from sapphire_acoustic import torch_dsp

            with torch.no_grad():
                tg = torch_dsp.tempogram(torch.from_numpy(np.ascontiguousarray(seg)).to(resolve_device(device)),
                                         win_length=TEMPOGRAM_WIN).cpu().numpy()
        else:
            import librosa

            tg = librosa.feature.tempogram(onset_envelope=seg, sr=sr, hop_length=hop_length,
                                           win_length=TEMPOGRAM_WIN).astype(np.float32)
        yield start, stop, tg[:, start - lo : stop - lo]


def _tempo_from_tg(mean_tg: np.ndarray, *, sr: int, hop_length: int, start_bpm: float = 120.0) -> float:
    """Tempo (BPM) from a mean autocorrelation tempogram ``(win_length,)``.

    The lag is chosen as ``librosa.feature.tempo`` does (``log1p(1e6 * tg)`` plus a log-normal prior,
    one octave wide, around ``start_bpm``), then refined below one lag by a parabola through the peak
    and its neighbours: at hop 512 one lag near 120 BPM is ~5.5 BPM, too coarse for a +-2 BPM answer.
    """
    tg = np.asarray(mean_tg, dtype=np.float64)
    if not np.any(tg[1:]):
        return start_bpm
    lags = np.arange(1, tg.size)
    bpm = 60.0 * sr / hop_length / lags
    ok = (bpm >= TEMPO_RANGE[0]) & (bpm <= 320.0)
    score = np.log1p(1e6 * tg[1:]) - 0.5 * (np.log2(bpm) - np.log2(start_bpm)) ** 2
    score[~ok] = -np.inf
    lag = int(lags[np.argmax(score)])
    if 1 < lag < tg.size - 1:
        a, b, c = tg[lag - 1], tg[lag], tg[lag + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag = lag + float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return float(60.0 * sr / hop_length / lag)


def chroma_flux(chroma: np.ndarray) -> np.ndarray:
    """Half-wave rectified frame-to-frame increase of a ``(12, T)`` chroma, summed over pitch classes ``(T,)``:
    a harmonic-change novelty (new pitch classes sounding), high at note changes even without attacks."""
    c = np.asarray(chroma, dtype=np.float64)
    return np.maximum(np.diff(c, axis=1, prepend=c[:, :1]), 0.0).sum(axis=0)


def novelty(envelope: np.ndarray, chroma: np.ndarray | None) -> np.ndarray:
    """Onset novelty for tempo: robust z-scores (median-centred, unit std) of spectral flux and, when given,
    of chroma flux, added with equal weight."""

    def z(x):
        x = np.asarray(x, dtype=np.float64)
        x = x - np.median(x)
        return x / (x.std() + 1e-9)

    out = z(envelope)
    if chroma is not None and chroma.shape[-1] and np.any(chroma):
        cf = chroma_flux(chroma)[: out.size]
        out[: cf.size] += z(cf)
    return out


def tempo_from_novelty(nov: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                       start_bpm: float = 120.0, std_octaves: float = 1.0) -> float:
    """Global tempo (BPM) from a novelty curve by autocorrelation (after Ellis, "Beat tracking by dynamic
    programming", JNMR 2007, sec. 3.1).

    1. High-pass: subtract a 1 s moving average, so slow loudness changes do not mask the pulse.
    2. Global autocorrelation (FFT), unbiased (divided by the overlap, floored at a quarter of the length).
    3. Each candidate lag ``L`` is scored ``(r[L] + r[2L] / 2) * w(L)``: the comb term prefers the lag whose
       double is also periodic (the beat over its subdivisions); ``w`` is Ellis's log-Gaussian tempo prior,
       ``start_bpm`` and one octave wide, as ``librosa.feature.tempo``. Only local maxima of ``r`` between
       30 and 320 BPM compete.
    4. The winning lag is refined below one frame by a parabola through ``r`` around it.
    """
    import scipy.ndimage

    fr = sr / hop_length
    x = np.asarray(nov, dtype=np.float64)
    n = x.size
    if n < 8 or not np.any(x - x.mean()):
        return start_bpm
    x = x - scipy.ndimage.uniform_filter1d(x, max(3, int(fr)), mode="nearest")
    x = x - x.mean()
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, nfft)
    r = np.fft.irfft(spec.real**2 + spec.imag**2, nfft)[:n]
    if r[0] <= 0:
        return start_bpm
    r = r / r[0] * n / np.maximum(n - np.arange(n), n / 4)
    max_lag = min(n // 2 - 1, int(np.ceil(60 * fr / TEMPO_RANGE[0])) + 1)
    lags = np.arange(2, max_lag)
    if lags.size < 3:
        return start_bpm
    bpm = 60 * fr / lags
    # Peak heights from a parabola through each lag and its neighbours: a period between two whole
    # frames (120 BPM is 21.5 frames at hop 512) splits its peak in two lower halves otherwise.
    a, b, c = r[lags - 1], r[lags], r[lags + 1]
    denom = a - 2 * b + c
    height = np.where(denom < 0, b - (a - c) ** 2 / (8 * np.where(denom < 0, denom, -1.0)), b)
    double = np.minimum(2 * lags, n - 2)
    comb = height + 0.5 * np.maximum.reduce([r[double - 1], r[double], r[double + 1]])
    prior = np.exp(-0.5 * ((np.log2(bpm) - np.log2(start_bpm)) / std_octaves) ** 2)
    peak = np.zeros(lags.size, dtype=bool)
    peak[1:-1] = (r[lags][1:-1] >= r[lags][:-2]) & (r[lags][1:-1] >= r[lags][2:])
    score = np.where(peak & (bpm >= TEMPO_RANGE[0]) & (bpm <= 320.0), comb * prior, -np.inf)
    if not np.isfinite(score).any():
        return start_bpm
    lag = float(lags[int(np.argmax(score))])
    a, b, c = r[int(lag) - 1], r[int(lag)], r[int(lag) + 1]
    denom = a - 2 * b + c
    if denom < 0:
        lag += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return float(60 * fr / lag)


def _refine_onsets(env: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Sub-frame peak positions by fitting a parabola through each peak and its two neighbours."""
    f = frames[(frames > 0) & (frames < env.size - 1)]
    a, b, c = env[f - 1], env[f], env[f + 1]
    denom = a - 2 * b + c
    delta = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    return f + np.clip(delta, -0.5, 0.5)


def _smooth_grid(beats: np.ndarray, half: int = 4) -> np.ndarray:
    """Beat times regularised by a local straight-line fit over ``2 * half + 1`` beats: follows tempo
    changes, averages out the per-beat jitter that micro-timing is measured against."""
    n = beats.size
    out = beats.astype(np.float64).copy()
    idx = np.arange(n)
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        if hi - lo >= 3:
            slope, icpt = np.polyfit(idx[lo:hi], beats[lo:hi], 1)
            out[i] = slope * i + icpt
    return out


def swing_and_timing(onsets: np.ndarray, strengths: np.ndarray, beats: np.ndarray) -> tuple[float, float, float]:
    """``(swing ratio, off-beat phase, micro-timing ms)`` from onset and beat times (see module docstring)."""
    if beats.size < 3 or onsets.size < 3:
        return 1.0, 0.5, 0.0
    # Snap each beat to the nearest onset within 10 % of a beat (onset and beat times then share the
    # envelope's latency, which would otherwise bias the phases), then regularise the grid locally.
    period = float(np.median(np.diff(beats)))
    idx = np.clip(np.searchsorted(onsets, beats), 1, onsets.size - 1)
    near = np.where(np.abs(onsets[idx - 1] - beats) < np.abs(onsets[idx] - beats), onsets[idx - 1], onsets[idx])
    grid = _smooth_grid(np.where(np.abs(near - beats) < 0.1 * period, near, beats))
    k = np.searchsorted(grid, onsets, side="right") - 1
    inside = (k >= 0) & (k < grid.size - 1)
    k, t, w = k[inside], onsets[inside], strengths[inside]
    start, length = grid[k], grid[k + 1] - grid[k]
    phase = (t - start) / np.maximum(length, 1e-6)
    off = (phase > 0.15) & (phase < 0.85)
    p = 0.5
    if off.sum() >= max(4, 0.25 * (grid.size - 1)):
        hist, edges = np.histogram(phase[off], bins=28, range=(0.15, 0.85), weights=w[off])
        mode = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
        close = off & (np.abs(phase - mode) < 0.05)
        p = float(np.average(phase[close], weights=w[close]))
    r = p / (1.0 - p)
    swing = float(min(max(r, 1.0 / r), 4.0))
    targets = np.array([0.0, p, 1.0])
    dev = np.min(np.abs(phase[:, None] - targets[None, :]), axis=1) * length
    micro = float(np.median(dev) * 1000.0) if dev.size else 0.0
    return swing, p, micro


def pulse_clarity(env: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> float:
    """Max normalised autocorrelation of the mean-removed envelope over :data:`PULSE_RANGE` (Lartillot et al. 2008)."""
    x = env.astype(np.float64) - env.mean()
    n = x.size
    if n < 8 or not np.any(x):
        return 0.0
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, nfft)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, nfft)[:n]
    ac = ac / ac[0]
    fr = sr / hop_length
    lo, hi = int(np.floor(60 * fr / PULSE_RANGE[1])), int(np.ceil(60 * fr / PULSE_RANGE[0]))
    hi = min(hi, n - 1)
    if hi <= lo:
        return 0.0
    return float(np.clip(ac[lo : hi + 1].max(), 0.0, 1.0))


def analyze_rhythm(audio: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH, tempogram_bins: int = 30,
                   backend: str = "torch", device: str = "cpu", chunk_seconds: float = CHUNK_SECONDS) -> RhythmAnalysis:
    """Everything the rhythm features are made of (see the module docstring).

    Shared per track (``midlevel`` reuses what ``rhythm`` computed); treat the result as read-only.
    """
    audio = np.asarray(audio, dtype=np.float32)
    key = ("rhythm", sr, hop_length, tempogram_bins, backend, device, chunk_seconds)
    return shared(audio, key, lambda: _analyze_rhythm(audio, sr=sr, hop_length=hop_length,
                                                       tempogram_bins=tempogram_bins, backend=backend, device=device,
                                                       chunk_seconds=chunk_seconds))


def _analyze_rhythm(audio, *, sr, hop_length, tempogram_bins, backend, device, chunk_seconds) -> RhythmAnalysis:
    from sapphire_acoustic.tonal import chroma_and_cens

    audio = np.asarray(audio, dtype=np.float32)
    env = onset_envelope(audio, sr=sr, hop_length=hop_length, backend=backend, device=device,
                         chunk_seconds=chunk_seconds)
    chroma, _ = chroma_and_cens(audio, sr=sr, hop_length=hop_length, backend=backend, device=device,
                                chunk_seconds=chunk_seconds)
    return rhythm_from_frames(env, chroma, duration=audio.size / sr, sr=sr, hop_length=hop_length,
                              tempogram_bins=tempogram_bins, backend=backend, device=device,
                              chunk_seconds=chunk_seconds)


def rhythm_from_frames(env: np.ndarray, chroma: np.ndarray, *, duration: float, sr: int, hop_length: int,
                       tempogram_bins: int, backend: str, device: str, chunk_seconds: float) -> RhythmAnalysis:
    """:func:`analyze_rhythm` from the track's onset envelope ``(T,)`` and chroma ``(12, T)`` (computed whole
    or streamed) and its duration in seconds."""
    import librosa

    total = env.size
    fr = sr / hop_length
    cmat = cyclic_matrix(tempogram_bins, sr=sr, hop_length=hop_length)
    cyclic = np.zeros((tempogram_bins, total), dtype=np.float32)
    win = max(1, int(REGULARITY_WINDOW_SECONDS * fr))
    local_tgs = []
    chunk_frames = max(win, int(chunk_seconds * fr) // win * win)
    for start, stop, tg in _tempogram_chunks(env, backend=backend, device=device, sr=sr, hop_length=hop_length,
                                             chunk_frames=chunk_frames):
        cyc = cmat @ tg
        cyclic[:, start:stop] = cyc / np.maximum(cyc.max(axis=0, keepdims=True), 1e-9)
        for w0 in range(0, stop - start, win):
            part = tg[:, w0 : w0 + win]
            if part.shape[1] >= win // 4:
                local_tgs.append(part.mean(axis=1))
    tempo = tempo_from_novelty(novelty(env, chroma), sr=sr, hop_length=hop_length)

    frames = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=hop_length, units="frames")
    frames = np.asarray(frames, dtype=int)
    # onset_detect normalises the envelope, so a steady tone's flicker would count as onsets; keep peaks
    # with at least MIN_ONSET_DB of mean spectral flux (noise and steady tones stay below ~1.3 dB).
    frames = frames[env[frames] >= MIN_ONSET_DB] if frames.size else frames
    onset_frames = _refine_onsets(env, frames)
    strengths = env[np.clip(np.round(onset_frames).astype(int), 0, total - 1)] if onset_frames.size else np.zeros(0)
    onsets = onset_frames * hop_length / sr
    if np.any(env):
        _, beat_frames = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop_length, bpm=tempo,
                                                 units="frames")
        beats = np.asarray(beat_frames, dtype=np.float64) * hop_length / sr
    else:
        beats = np.zeros(0)
    swing, phase, micro = swing_and_timing(onsets, strengths, beats)

    agree = []
    for ltg in local_tgs:
        if not np.any(ltg[1:]):
            continue
        ratio = np.log2(_tempo_from_tg(ltg, sr=sr, hop_length=hop_length) / tempo)
        agree.append(min(abs(ratio - r) for r in (-1.0, 0.0, 1.0)) < np.log2(1.04))
    return RhythmAnalysis(
        envelope=env, cyclic=cyclic, tempo=tempo, beats=beats, onsets=onsets, onset_strength=strengths, swing=swing,
        swing_phase=phase, microtiming_ms=micro, onset_density=float(onsets.size / max(duration, 1e-9)),
        pulse_clarity=pulse_clarity(env, sr=sr, hop_length=hop_length),
        beat_regularity=float(np.mean(agree)) if agree else 0.0, duration=duration)


def estimate_tempo(audio: np.ndarray, sr: int = SAMPLE_RATE, *, backend: str = "librosa") -> float:
    """Global tempo of ``audio`` in BPM (:func:`tempo_from_novelty` on spectral + chroma flux).

    Parameters
    ----------
    audio : np.ndarray
        A mono recording; any sample rate ``sr`` (it is resampled to 22.05 kHz).
    sr : int
    backend : {"librosa", "torch"}
        ``librosa`` (default) takes the chroma flux from CQT chroma, the more accurate choice on the demo
        corpus; ``torch`` from STFT chroma, several times faster.

    Examples
    --------
    >>> from sapphire_core.testing.signals import click_track
    >>> round(estimate_tempo(click_track(120.0, sr=22050), 22050))
    120
    """
    from sapphire_acoustic.tonal import _to_rate, chroma_and_cens

    audio = _to_rate(audio, sr)
    env = onset_envelope(audio, backend=backend)
    chroma, _ = chroma_and_cens(audio, backend=backend)
    return tempo_from_novelty(novelty(env, chroma))


class Rhythm(AcousticExtractor):
    """Cyclic tempogram over time, global tempo and a 5-value rhythm summary (swing, groove, density, clarity...)."""

    name = "rhythm"
    version = "1"

    class Config(AcousticConfig):
        tempogram_bins: int = Field(30, ge=4, le=120, description="cyclic tempo classes per octave")

    def output_shapes(self):
        return {"tempogram": (self.config.tempogram_bins, None), "tempo": (1,),
                "summary": (len(RHYTHM_SUMMARY_NAMES),)}

    def extract(self, audio, track):
        c = self.config
        r = analyze_rhythm(audio, sr=self.sample_rate, tempogram_bins=c.tempogram_bins, backend=c.backend,
                           device=c.device, chunk_seconds=c.chunk_seconds)
        return {"tempogram": r.cyclic, "tempo": np.array([r.tempo], dtype=np.float32), "summary": r.summary()}

    def block_consumer(self, track, context, *, expected_samples):
        """:meth:`extract` block by block: the onset envelope and (``tonal``'s, shared) chroma streamed, then
        the same analysis; bit-identical up to one chunk (``chunk_seconds``), within floating-point rounding
        of the frames beyond."""
        from sapphire_acoustic.tonal import shared_chroma_cens_frames, shared_tuning_of_start

        c, sr = self.config, self.sample_rate
        onset_fn = onset_frames(sr=sr, hop_length=HOP_LENGTH, backend=c.backend, device=c.device)

        def make_fn(head):
            chroma_fn = shared_chroma_cens_frames(sr=sr, hop_length=HOP_LENGTH, cens_window=41, backend=c.backend,
                                                  device=c.device, tuning=shared_tuning_of_start(head, sr))
            return lambda seg: (onset_fn(seg), chroma_fn(seg)[0])

        def finish(frames, samples):
            env, chroma = frames
            r = rhythm_from_frames(env, chroma, duration=samples / sr, sr=sr, hop_length=HOP_LENGTH,
                                   tempogram_bins=c.tempogram_bins, backend=c.backend, device=c.device,
                                   chunk_seconds=c.chunk_seconds)
            return {"tempogram": r.cyclic, "tempo": np.array([r.tempo], dtype=np.float32), "summary": r.summary()}

        return FramesConsumer(make_fn, finish, chunk_seconds=c.chunk_seconds, expected_samples=expected_samples)
