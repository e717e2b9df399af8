"""Query-by-humming synthesis: an imperfect hummed rendition of a work's main melody.

A hum is built from the melody notes the way a person would produce it: a random transposition
into a comfortable voice range, a different tempo, timing that drifts, notes a little out of tune,
vibrato, glides between notes, a voice-like harmonic timbre shaped by a nasal /m/ formant
envelope, breath noise and room noise. Everything is drawn from a seeded ``numpy`` generator, so
the same seed gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Formants of a hummed /m/-/u/ (Hz, bandwidth Hz, gain); Fant (1960) nasal murmur, F1 ~ 250-300 Hz.
_FORMANTS = ((280.0, 120.0, 1.0), (900.0, 200.0, 0.25), (2300.0, 300.0, 0.08))


@dataclass
class Hum:
    """A synthesized hum and what was done to the melody."""

    audio: np.ndarray
    sr: int
    offset: float  # start of the excerpt in the source melody (s, source time)
    duration: float  # seconds of audio
    transpose: int  # semitones applied (including any octave shift)
    tempo_scale: float  # > 1 is faster than the source


def _formant_gain(freq: np.ndarray) -> np.ndarray:
    """Spectral envelope: a sum of resonances (magnitude of a 2-pole peak at each formant)."""
    g = np.zeros_like(freq)
    for fc, bw, amp in _FORMANTS:
        g += amp / np.sqrt(1.0 + ((freq - fc) / (bw / 2)) ** 2)
    return g


def choose_window(melody: list, rng: np.random.Generator, *, min_s: float = 5.0, max_s: float = 15.0):
    """Pick a run of consecutive melody notes lasting about ``min_s``-``max_s`` seconds (source time).

    Returns ``(notes, offset)`` with onsets relative to ``offset``; empty when the melody is too short.
    """
    notes = sorted((float(o), float(d), int(p)) for o, d, p in melody)
    if not notes:
        return [], 0.0
    total = notes[-1][0] + notes[-1][1] - notes[0][0]
    length = float(rng.uniform(min(8.0, max(min_s, total * 0.6)), max(min_s, min(max_s, total))))
    starts = [i for i, n in enumerate(notes) if n[0] <= notes[-1][0] + notes[-1][1] - min(length, total)]
    i0 = int(rng.choice(starts)) if starts else 0
    offset = notes[i0][0]
    chosen = [(o - offset, d, p) for o, d, p in notes[i0:] if o - offset < length]
    return chosen, offset


def synthesize_hum(
    melody: list,
    *,
    seed: int,
    sr: int = 22050,
    min_s: float = 5.0,
    max_s: float = 15.0,
    snr_db: tuple[float, float] = (18.0, 30.0),
) -> Hum:
    """Hum a 5-15 s stretch of ``melody`` (``[[onset_s, duration_s, midi_pitch], ...]``).

    Parameters
    ----------
    melody : list
        The main melody, monophonic or not (overlapping notes are hummed in onset order).
    seed : int
        Seeds every random choice (window, transposition, tempo, jitter, noise).
    sr : int
        Output sample rate.
    snr_db : (float, float)
        Range of the background noise level below the hum's RMS.

    Returns
    -------
    Hum
    """
    rng = np.random.default_rng(seed)
    tempo_scale = float(np.round(rng.uniform(0.8, 1.25), 3))
    # Window lengths in source time, so that the hum itself (after the tempo change, drift and a
    # 0.3 s tail) lasts min_s-max_s seconds.
    notes, offset = choose_window(melody, rng, min_s=min_s * tempo_scale, max_s=(max_s - 1.5) * tempo_scale)
    if not notes:
        raise ValueError("melody has no notes to hum")
    # Monophonic line: when notes overlap (chords in the top part), keep the highest at each onset.
    mono: dict[float, tuple[float, int]] = {}
    for o, d, p in notes:
        if o not in mono or p > mono[o][1]:
            mono[o] = (d, p)
    line = sorted((o, d, p) for o, (d, p) in mono.items())
    transpose = int(rng.integers(-5, 6))
    median = float(np.median([p for _, _, p in line])) + transpose
    voice_center = float(rng.choice([55.0, 64.0]))  # a low or a high voice
    transpose += int(12 * np.round((voice_center - median) / 12))
    # Timing drift: each inter-onset interval stretched by a random factor (people rush and drag).
    onsets, durs = [], []
    t = 0.0
    for i, (o, d, _p) in enumerate(line):
        if i:
            ioi = (o - line[i - 1][0]) / tempo_scale
            t += ioi * float(np.clip(1.0 + rng.normal(0, 0.07), 0.7, 1.3))
        onsets.append(t)
        durs.append(max(0.08, d / tempo_scale * float(np.clip(1 + rng.normal(0, 0.1), 0.6, 1.3))))
    detune = float(rng.uniform(-0.4, 0.4))  # the whole hum a little sharp or flat (semitones)
    jitter = rng.normal(0, 0.25, len(line))  # per-note intonation error (semitones)
    total = min(onsets[-1] + durs[-1] + 0.3, max_s)
    n = int(total * sr)
    f0 = np.zeros(n, dtype=np.float64)
    env = np.zeros(n, dtype=np.float64)
    vib_rate = float(rng.uniform(4.8, 6.5))
    vib_depth = float(rng.uniform(0.15, 0.45))  # semitones
    tt = np.arange(n) / sr
    for i, ((_o, _d, p), on, dur) in enumerate(zip(line, onsets, durs)):
        dur = min(dur, total - 0.05 - on)
        a, b = int(on * sr), min(n, int((on + dur) * sr))
        if b <= a:
            continue
        midi = p + transpose + detune + jitter[i]
        seg_t = tt[a:b] - on
        # Vibrato fades in after ~150 ms, as in sustained singing (Sundberg 1987).
        vib = vib_depth * np.clip(seg_t / 0.15 - 1.0, 0, 1) * np.sin(2 * np.pi * vib_rate * seg_t)
        # Glide in from the previous pitch over ~50 ms (portamento).
        if i:
            prev = line[i - 1][2] + transpose + detune + jitter[i - 1]
            glide = np.clip(seg_t / 0.05, 0, 1)
            midi_t = prev + (midi - prev) * glide
        else:
            midi_t = np.full_like(seg_t, midi)
        f0[a:b] = 440.0 * 2 ** ((midi_t + vib - 69) / 12)
        attack = np.clip(seg_t / 0.04, 0, 1)
        release = np.clip((dur - seg_t) / 0.06, 0, 1)
        env[a:b] = np.maximum(env[a:b], attack * release * float(rng.uniform(0.7, 1.0)))
    # Hold the pitch through short gaps so the phase stays continuous.
    idx = np.maximum.accumulate(np.where(f0 > 0, np.arange(n), 0))
    f0 = f0[idx]
    f0[f0 <= 0] = 200.0
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros(n, dtype=np.float64)
    # Harmonic amplitudes follow f0 slowly: evaluate the envelope every 64 samples (~3 ms), hold between.
    f0_slow = f0[::64]
    for k in range(1, 13):
        fk = k * f0_slow
        amp = np.repeat(_formant_gain(fk) / k * (fk < sr / 2 - 500), 64)[:n]
        y += amp * np.sin(k * phase)
    y *= env
    # Breath noise riding on the envelope, and background noise at a random SNR.
    y += 0.02 * env * rng.standard_normal(n)
    rms = float(np.sqrt(np.mean(y**2))) or 1e-4
    snr = float(rng.uniform(*snr_db))
    y += rms * 10 ** (-snr / 20) * rng.standard_normal(n)
    y = y / (np.max(np.abs(y)) + 1e-9) * 0.8
    return Hum(audio=y.astype(np.float32), sr=sr, offset=float(offset), duration=n / sr, transpose=transpose,
               tempo_scale=tempo_scale)
