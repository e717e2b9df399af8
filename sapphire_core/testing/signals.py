"""Analytic test signals with known answers (pure numpy)."""

from __future__ import annotations

import numpy as np


def sine(freq: float = 440.0, *, sr: int = 22050, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    """A pure tone of ``freq`` Hz."""
    t = np.arange(int(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def vibrato_sine(freq: float = 440.0, *, rate_hz: float = 6.0, extent_cents: float = 50.0, sr: int = 16000,
                 seconds: float = 3.0, amplitude: float = 0.5) -> np.ndarray:
    """A tone whose pitch swings ``±extent_cents`` around ``freq`` at ``rate_hz``."""
    t = np.arange(int(sr * seconds)) / sr
    inst = freq * 2 ** (extent_cents / 1200 * np.sin(2 * np.pi * rate_hz * t))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    return (amplitude * np.sin(phase)).astype(np.float32)


def click_track(bpm: float = 120.0, *, sr: int = 22050, seconds: float = 10.0, swing: float = 1.0,
                subdivide: bool = False, click_hz: float = 1000.0) -> np.ndarray:
    """Clicks on every beat at ``bpm``; with ``subdivide`` an off-beat click splits each beat
    in the ratio ``swing`` : 1 (``swing=2`` is a triplet swing)."""
    y = np.zeros(int(sr * seconds), dtype=np.float32)
    beat = 60.0 / bpm
    click_len = int(0.01 * sr)
    click = (np.sin(2 * np.pi * click_hz * np.arange(click_len) / sr) * np.hanning(click_len)).astype(np.float32)
    times = []
    t = 0.0
    while t < seconds:
        times.append((t, 1.0))
        if subdivide:
            times.append((t + beat * swing / (swing + 1.0), 0.6))
        t += beat
    for when, gain in times:
        i = int(round(when * sr))
        if i + click_len <= y.size:
            y[i : i + click_len] += gain * click
    return y


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def melody(pitches: list[float], *, durations: list[float] | float = 0.4, sr: int = 16000, transpose: float = 0.0,
           tempo_scale: float = 1.0, harmonics: int = 3, amplitude: float = 0.4) -> np.ndarray:
    """A monophonic melody of MIDI ``pitches`` with a few harmonics and short fades per note.

    ``transpose`` shifts every pitch (semitones); ``tempo_scale`` > 1 plays slower.
    """
    if np.isscalar(durations):
        durations = [float(durations)] * len(pitches)
    out = []
    for p, d in zip(pitches, durations):
        n = int(sr * d * tempo_scale)
        t = np.arange(n) / sr
        f = midi_to_hz(p + transpose)
        tone = sum((0.6**k) * np.sin(2 * np.pi * f * (k + 1) * t) for k in range(harmonics))
        env = np.ones(n)
        fade = min(int(0.02 * sr), n // 4)
        if fade:
            env[:fade] = np.linspace(0, 1, fade)
            env[-fade:] = np.linspace(1, 0, fade)
        out.append(tone * env)
    y = np.concatenate(out)
    return (amplitude * y / np.max(np.abs(y))).astype(np.float32)


def chord(pitches: list[float], *, sr: int = 22050, seconds: float = 2.0, harmonics: int = 4) -> np.ndarray:
    """Notes sounding together, e.g. ``[60, 64, 67]`` for a C-major triad."""
    t = np.arange(int(sr * seconds)) / sr
    y = sum((0.5**k) * np.sin(2 * np.pi * midi_to_hz(p) * (k + 1) * t) for p in pitches for k in range(harmonics))
    return (0.4 * y / np.max(np.abs(y))).astype(np.float32)


def write_wav(path, y: np.ndarray, sr: int) -> None:
    """Write float samples as a 16-bit wav file."""
    import soundfile as sf

    sf.write(str(path), y, sr, subtype="PCM_16")
