"""A second query generator for testing query by humming: sung "la/oo" renditions of a melody.

Written apart from the corpus hums (:mod:`sapphire_core.corpus.hums`) on purpose, so that a matcher
tuned on those is tested on something it has not seen: a different source model, other formants,
other error and tempo ranges. Never train on its output.

* Source: a glottal pulse train (Rosenberg's pulse shape, "Effect of glottal pulse shape on the
  quality of natural vowels", JASA 1971) through a cascade of second-order formant resonators
  (Klatt, "Software for a cascade/parallel formant synthesizer", JASA 1980) for an /a/ or /u/ vowel
  (Peterson & Barney 1952 averages), not additive harmonics under a nasal envelope.
* Performance: starts at a random bar; tempo x0.75-1.3; every note off by 25-50 cents, either way;
  vibrato 5-7 Hz, 20-60 cents; a breath (filtered noise burst) before each phrase and aspiration
  noise throughout; a little room hum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Vowel formants (Hz) and bandwidths (Hz): Peterson & Barney (1952), male/female averages.
VOWELS = {
    "a": ((730.0, 90.0), (1090.0, 110.0), (2440.0, 170.0)),
    "u": ((300.0, 70.0), (870.0, 100.0), (2240.0, 160.0)),
}


@dataclass
class SungQuery:
    """A sung query and how it was made."""

    audio: np.ndarray
    sr: int
    start_bar: int
    offset: float  # source time of the first sung note (s)
    tempo_scale: float  # > 1 is faster
    transpose: float  # semitones, including the register shift


def _resonator(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    """Klatt's digital resonator: y[n] = A x[n] + B y[n-1] + C y[n-2], unity gain at DC."""
    from scipy.signal import lfilter

    c = -np.exp(-2 * np.pi * bw / sr)
    b = 2 * np.exp(-np.pi * bw / sr) * np.cos(2 * np.pi * freq / sr)
    a = 1 - b - c
    return lfilter([a], [1, -b, -c], x)


def _glottal_source(f0: np.ndarray, sr: int, open_quotient: float = 0.6) -> np.ndarray:
    """Rosenberg pulses at the instantaneous ``f0``, differentiated (lip radiation)."""
    phase = np.cumsum(f0 / sr) % 1.0
    tp, tn = 0.6 * open_quotient, 0.4 * open_quotient  # opening and closing fractions of a period
    g = np.where(phase < tp, 0.5 * (1 - np.cos(np.pi * phase / tp)),
                 np.where(phase < tp + tn, np.cos(0.5 * np.pi * (phase - tp) / tn), 0.0))
    return np.diff(g, prepend=0.0)


def sing(melody: list, *, seed: int, meter: str = "4/4", bpm: float = 90.0, sr: int = 16000,
         min_s: float = 6.0, max_s: float = 14.0) -> SungQuery:
    """Sing a stretch of ``melody`` (``[[onset_s, duration_s, midi], ...]``) from a random bar.

    Parameters
    ----------
    melody : list
        The tune; overlapping notes are sung highest first at each onset.
    seed : int
        Seeds every choice.
    meter, bpm : str, float
        The melody's meter (``"3/4"``) and tempo, to find its bar lines.
    sr : int
        Output sample rate.
    min_s, max_s : float
        Length of the sung stretch as sung (after the tempo change), plus a breath and a tail.

    Returns
    -------
    SungQuery

    Raises
    ------
    ValueError
        When the melody has no notes.
    """
    rng = np.random.default_rng([seed, 7919])
    notes = sorted((float(o), float(d), float(p)) for o, d, p in melody)
    if not notes:
        raise ValueError("melody has no notes to sing")
    line: dict[float, tuple[float, float]] = {}
    for o, d, p in notes:
        if o not in line or p > line[o][1]:
            line[o] = (d, p)
    onsets = np.array(sorted(line))
    end = max(o + line[o][0] for o in onsets)
    try:
        beats = float(meter.split("/")[0]) * 4.0 / float(meter.split("/")[1])
    except (ValueError, IndexError, ZeroDivisionError):
        beats = 4.0
    bar_s = beats * 60.0 / max(bpm, 1.0)
    tempo = float(rng.uniform(0.75, 1.3))
    # The sung stretch lasts min_s-max_s seconds as sung (source seconds x tempo).
    length = float(rng.uniform(min_s, max_s)) * tempo
    last_start = max(0.0, min(end - length, onsets[-1]))
    bars = [b for b in range(int(last_start // bar_s) + 1) if np.any((onsets >= b * bar_s) & (onsets < (b + 1) * bar_s))]
    start_bar = int(rng.choice(bars)) if bars else 0
    t0 = start_bar * bar_s
    chosen = [(o - t0, *line[o]) for o in onsets if t0 <= o < t0 + length]
    if not chosen:
        chosen = [(0.0, *line[onsets[0]])]
        t0 = float(onsets[0])
    offset = t0 + chosen[0][0]
    median = float(np.median([p for _, _, p in chosen]))
    register = float(rng.choice([50.0, 57.0, 62.0, 67.0]))  # bass, tenor, alto, soprano comfort
    transpose = float(np.round(register - median)) + float(rng.uniform(-0.5, 0.5))
    lead = 0.45  # room for the opening breath
    total = lead + (chosen[-1][0] - chosen[0][0] + chosen[-1][1]) / tempo + 0.4
    n = int(total * sr)
    t = np.arange(n) / sr
    midi = np.full(n, np.nan)
    amp = np.zeros(n)
    errors = rng.uniform(0.25, 0.5, len(chosen)) * rng.choice([-1.0, 1.0], len(chosen))
    for (o, d, p), err in zip(chosen, errors):
        a = int((lead + (o - chosen[0][0]) / tempo) * sr)
        b = min(n, a + int(max(0.1, d / tempo * rng.uniform(0.75, 0.95)) * sr))
        midi[a:b] = p + transpose + err
        k = np.arange(b - a) / sr
        amp[a:b] = np.minimum(1.0, k / 0.03) * np.minimum(1.0, (b - a - 1 - np.arange(b - a)) / sr / 0.05)
    held = np.where(np.isnan(midi), np.nan, midi)
    idx = np.where(~np.isnan(held), np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    midi = np.where(np.isnan(held), held[idx], held)
    midi = np.where(np.isnan(midi), np.nanmedian(held), midi)
    vib = rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * rng.uniform(5.0, 7.0) * t + rng.uniform(0, 2 * np.pi))
    # Pitch moves between notes over ~60 ms (a one-pole glide), as a voice cannot jump.
    from scipy.signal import lfilter

    alpha = np.exp(-1.0 / (0.02 * sr))
    smooth = lfilter([1 - alpha], [1, -alpha], midi, zi=[alpha * midi[0]])[0]
    f0 = 440.0 * 2 ** ((smooth + vib - 69.0) / 12.0)
    voice = _glottal_source(f0, sr) * lfilter([1 - 0.995], [1, -0.995], amp) * 40.0
    vowel = VOWELS[str(rng.choice(list(VOWELS)))]
    y = sum(_resonator(voice, f, bw, sr) * g for (f, bw), g in zip(vowel, (1.0, 0.5, 0.2)))
    # Aspiration: noise riding on the voice's amplitude, shaped by the same vowel.
    y = y + 0.03 * _resonator(rng.standard_normal(n) * amp, vowel[1][0], 400.0, sr)
    # Breaths: a 250 ms band-limited noise burst before the first note and before long rests.
    breath = np.zeros(n)
    starts = [0.1]
    for (o1, d1, _), (o2, _, _) in zip(chosen[:-1], chosen[1:]):
        if (o2 - o1 - d1) / tempo > 0.35:
            starts.append(lead + (o1 + d1 - chosen[0][0]) / tempo + 0.05)
    for s in starts:
        a, b = int(s * sr), min(n, int((s + 0.25) * sr))
        breath[a:b] = np.hanning(b - a) * rng.standard_normal(b - a)
    y = y / (np.max(np.abs(y)) + 1e-9) + 0.15 * _resonator(breath, 1500.0, 1200.0, sr)
    y = y + 0.004 * np.sin(2 * np.pi * 50.0 * t) + 0.003 * rng.standard_normal(n)
    y = 0.8 * y / (np.max(np.abs(y)) + 1e-9)
    return SungQuery(y.astype(np.float32), sr, start_bar, float(offset), tempo, transpose)
