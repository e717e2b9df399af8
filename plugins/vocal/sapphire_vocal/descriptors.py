"""Vocal performance and melodic descriptors of a pitch track (pure numpy; the extractor is a shell).

Vibrato follows the usual sinusoidal model of a sung note (Sundberg, "The Science of the Singing
Voice", 1987; Nakano, Goto & Hiraga, Interspeech 2006): within each note the pitch minus its
linear trend is band-passed to 3-10 Hz; the rate is the spectral peak (parabolic interpolation)
and the extent is the sinusoid's semi-amplitude, sqrt(2) x RMS, in cents (so "±50 cents" -> 50).
Key and mode use the Krumhansl-Kessler probe-tone profiles (Krumhansl, "Cognitive Foundations of
Musical Pitch", 1990, table 4.1) correlated with the duration-weighted pitch-class histogram.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import uniform_filter1d

from sapphire_vocal.contour import Note, fold_octave_errors, segment_notes, voiced_mask
from sapphire_vocal.crepe import cents_to_midi

KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: Scale degrees (semitones above the tonic): major, and natural + harmonic minor together.
SCALE_MAJOR = (0, 2, 4, 5, 7, 9, 11)
SCALE_MINOR = (0, 2, 3, 5, 7, 8, 10, 11)

INTERVAL_RANGE = 12  # interval histogram bins: -12 .. +12 semitones (clipped)
CONTOUR_SYMBOLS = "DRU"  # Parsons code: down, repeat, up
VIBRATO_BAND_HZ = (3.0, 10.0)
MIN_VIBRATO_NOTE_S = 0.3
MIN_VIBRATO_EXTENT = 10.0  # cents; below this a note counts as straight
#: CREPE's estimate is roughly the mean pitch over its 64 ms frame, which attenuates a vibrato of
#: rate f by sinc(f x L). The effective L (50 ms, a little under the frame: the network weighs the
#: frame centre more) was calibrated on synthetic vibrato (tiny and full, 220-440 Hz, 4-8 Hz,
#: ±30-100 cents), leaving the corrected extent within ±10%.
CREPE_EFFECTIVE_WINDOW_S = 0.05
#: Frames trimmed at each end of a note before vibrato analysis (the smoothed segmentation puts
#: note boundaries mid-way through transitions).
NOTE_EDGE_S = 0.05
GLIDE_SLOPE = 4.0  # semitones per second of the vibrato-smoothed pitch

SCALAR_NAMES = (
    "vibrato_rate_hz",
    "vibrato_extent_cents",
    "vibrato_ratio",
    "tuning_offset_cents",
    "intonation_dev_semitone_cents",
    "intonation_dev_scale_cents",
    "pitch_range_semitones",
    "tessitura_median_midi",
    "tessitura_iqr_semitones",
    "glide_rate_semitones_per_s",
    "glide_ratio",
    "voiced_ratio",
    "note_onset_rate_hz",
    "phoneme_rate_hz",
    "has_lyrics",
    "mean_abs_interval",
    "mode_major_corr",
    "mode_minor_corr",
    "scale_entropy_bits",
    "contour_trigram_entropy_bits",
)
INTERVAL_NAMES = tuple(f"interval_{i:+d}" for i in range(-INTERVAL_RANGE, INTERVAL_RANGE + 1))
TRIGRAMS = tuple("".join(t) for t in itertools.product(CONTOUR_SYMBOLS, repeat=3))
TRIGRAM_NAMES = tuple(f"contour_{t}" for t in TRIGRAMS)
PC_NAMES = tuple(f"pc_rel_tonic_{i}" for i in range(12))
#: Names of the entries of ``vocal_descriptors``' ``values`` vector, in order.
DESCRIPTOR_NAMES: tuple[str, ...] = SCALAR_NAMES + INTERVAL_NAMES + TRIGRAM_NAMES + PC_NAMES


def vibrato(midi: np.ndarray, notes: list[Note], *, hop_seconds: float,
            window_seconds: float = CREPE_EFFECTIVE_WINDOW_S) -> tuple[float, float, float]:
    """``(rate_hz, extent_cents, ratio)`` over the notes long enough to show vibrato.

    Rate and extent are duration-weighted means over notes with vibrato; ratio is the share of
    (long) note time that has vibrato. All zero when no note has any. ``window_seconds`` is the
    pitch tracker's effective averaging window, whose attenuation is undone (0 for none).
    """
    fs = 1.0 / hop_seconds
    rates, extents, weights, total = [], [], [], 0.0
    for note in notes:
        edge = int(round(NOTE_EDGE_S / hop_seconds))
        x = np.asarray(midi[note.start + edge : note.end - edge], dtype=np.float64) * 100.0
        if len(x) < 8 or len(x) * hop_seconds < MIN_VIBRATO_NOTE_S:
            continue
        total += len(x)
        t = np.arange(len(x))
        x = x - np.polyval(np.polyfit(t, x, 1), t)
        n_fft = max(4096, 1 << int(np.ceil(np.log2(len(x)))))
        spec = np.fft.rfft(x * np.hanning(len(x)), n_fft)
        freqs = np.fft.rfftfreq(n_fft, hop_seconds)
        band = (freqs >= VIBRATO_BAND_HZ[0]) & (freqs <= min(VIBRATO_BAND_HZ[1], fs / 2))
        if not band.any():
            continue
        power = np.abs(spec) ** 2
        k = int(np.flatnonzero(band)[np.argmax(power[band])])
        if 0 < k < len(power) - 1:  # parabolic interpolation of the log-power peak
            a, b, c = np.log(power[k - 1 : k + 2] + 1e-12)
            delta = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        else:
            delta = 0.0
        rate = float(freqs[k] + delta * (freqs[1] - freqs[0]))
        # Semi-amplitude of the band-limited part: a sinusoid of amplitude A has RMS A / sqrt(2).
        full = np.fft.rfft(x)
        f_full = np.fft.rfftfreq(len(x), hop_seconds)
        keep = (f_full >= VIBRATO_BAND_HZ[0]) & (f_full <= VIBRATO_BAND_HZ[1])
        banded = np.fft.irfft(np.where(keep, full, 0), len(x))
        extent = float(np.sqrt(2.0) * np.sqrt(np.mean(banded**2)))
        extent /= max(float(np.sinc(rate * window_seconds)), 0.3)
        if extent >= MIN_VIBRATO_EXTENT:
            rates.append(rate)
            extents.append(extent)
            weights.append(len(x))
    if not weights:
        return 0.0, 0.0, 0.0
    w = np.asarray(weights, dtype=np.float64)
    return float(np.average(rates, weights=w)), float(np.average(extents, weights=w)), float(w.sum() / total)


def estimate_key(pc_hist: np.ndarray) -> tuple[int, str, float, float]:
    """``(tonic_pc, mode, best_major_corr, best_minor_corr)`` by Krumhansl-Kessler correlation."""
    if pc_hist.sum() <= 0:
        return 0, "major", 0.0, 0.0
    maj = [np.corrcoef(pc_hist, np.roll(KK_MAJOR, k))[0, 1] for k in range(12)]
    mnr = [np.corrcoef(pc_hist, np.roll(KK_MINOR, k))[0, 1] for k in range(12)]
    maj, mnr = np.nan_to_num(maj), np.nan_to_num(mnr)
    if maj.max() >= mnr.max():
        return int(np.argmax(maj)), "major", float(maj.max()), float(mnr.max())
    return int(np.argmax(mnr)), "minor", float(maj.max()), float(mnr.max())


def _entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


def compute_descriptors(
    cents: np.ndarray,
    periodicity: np.ndarray,
    *,
    hop_seconds: float,
    lyrics: str | None = None,
    language: str | None = None,
    voicing_threshold: float = 0.5,
) -> np.ndarray:
    """The ``DESCRIPTOR_NAMES`` vector of one pitch track.

    Parameters
    ----------
    cents : np.ndarray
        ``(T,)`` f0 in cents re 10 Hz (as from :func:`sapphire_vocal.crepe.track_pitch`).
    periodicity : np.ndarray
        ``(T,)`` voicing confidence.
    hop_seconds : float
        Frame hop.
    lyrics, language : str, optional
        When lyrics are known, the phoneme rate is phonemes per voiced second.
    voicing_threshold : float
        Confidence above which a frame is voiced.

    Returns
    -------
    np.ndarray
        ``(len(DESCRIPTOR_NAMES),)`` float32, finite.
    """
    out = dict.fromkeys(DESCRIPTOR_NAMES, 0.0)
    n = len(cents)
    voiced = voiced_mask(periodicity, threshold=voicing_threshold)
    duration = max(n * hop_seconds, 1e-6)
    out["voiced_ratio"] = float(voiced.mean()) if n else 0.0
    if lyrics and lyrics.strip():
        from sapphire_vocal.phonemes import count_phonemes

        out["has_lyrics"] = 1.0
        voiced_s = voiced.sum() * hop_seconds
        out["phoneme_rate_hz"] = count_phonemes(lyrics, language=language) / voiced_s if voiced_s > 0.5 else 0.0
    if voiced.sum() < 3:
        return np.asarray([out[k] for k in DESCRIPTOR_NAMES], dtype=np.float32)

    midi = fold_octave_errors(cents_to_midi(cents), voiced)
    vm = midi[voiced]
    p5, p25, p50, p75, p95 = np.percentile(vm, [5, 25, 50, 75, 95])
    out["pitch_range_semitones"] = float(p95 - p5)
    out["tessitura_median_midi"] = float(p50)
    out["tessitura_iqr_semitones"] = float(p75 - p25)

    notes = segment_notes(midi, voiced, hop_seconds=hop_seconds)
    out["note_onset_rate_hz"] = len(notes) / duration
    out["vibrato_rate_hz"], out["vibrato_extent_cents"], out["vibrato_ratio"] = vibrato(
        midi, notes, hop_seconds=hop_seconds)

    # Glides: slope of the pitch smoothed over ~one vibrato period (170 ms), so vibrato averages out.
    win = max(1, int(round(0.17 / hop_seconds)))
    slopes, in_glide = [], 0
    from sapphire_vocal.contour import runs

    for a, b in runs(voiced):
        if b - a < 3:
            continue
        smooth = uniform_filter1d(midi[a:b], size=min(win, b - a), mode="nearest")
        slope = np.abs(np.gradient(smooth)) / hop_seconds
        g = slope > GLIDE_SLOPE
        in_glide += int(g.sum())
        slopes.extend(slope[g].tolist())
    out["glide_ratio"] = in_glide / max(int(voiced.sum()), 1)
    out["glide_rate_semitones_per_s"] = float(np.median(slopes)) if slopes else 0.0

    if notes:
        pitches = np.array([nt.pitch for nt in notes])
        durs = np.array([nt.end - nt.start for nt in notes], dtype=np.float64)
        # Global tuning: circular mean of the notes' offsets from the equal-tempered grid.
        ang = 2 * np.pi * (pitches - np.round(pitches))
        tuning = float(np.angle(np.average(np.exp(1j * ang), weights=durs)) / (2 * np.pi))
        out["tuning_offset_cents"] = 100.0 * tuning
        tuned = pitches - tuning
        out["intonation_dev_semitone_cents"] = float(np.average(np.abs(tuned - np.round(tuned)), weights=durs) * 100)
        pcs = np.mod(np.round(tuned), 12).astype(int)
        pc_hist = np.bincount(pcs, weights=durs, minlength=12)
        tonic, mode, maj, mnr = estimate_key(pc_hist)
        out["mode_major_corr"], out["mode_minor_corr"] = maj, mnr
        scale = np.array(SCALE_MAJOR if mode == "major" else SCALE_MINOR)
        rel = np.mod(tuned - tonic, 12.0)
        dist = np.abs(rel[:, None] - np.concatenate([scale, [12]])[None, :]).min(axis=1)
        out["intonation_dev_scale_cents"] = float(np.average(dist, weights=durs) * 100)
        rel_hist = np.roll(pc_hist, -tonic)
        rel_hist = rel_hist / rel_hist.sum()
        for i in range(12):
            out[PC_NAMES[i]] = float(rel_hist[i])
        out["scale_entropy_bits"] = _entropy_bits(rel_hist)
        if len(notes) >= 2:
            intervals = np.diff(pitches)
            out["mean_abs_interval"] = float(np.mean(np.abs(intervals)))
            clipped = np.clip(np.round(intervals), -INTERVAL_RANGE, INTERVAL_RANGE).astype(int)
            hist = np.bincount(clipped + INTERVAL_RANGE, minlength=2 * INTERVAL_RANGE + 1) / len(clipped)
            for i, name in enumerate(INTERVAL_NAMES):
                out[name] = float(hist[i])
            symbols = "".join("R" if abs(iv) < 0.5 else ("U" if iv > 0 else "D") for iv in intervals)
            grams = [symbols[i : i + 3] for i in range(len(symbols) - 2)]
            if grams:
                counts = np.array([grams.count(t) for t in TRIGRAMS], dtype=np.float64) / len(grams)
                for name, c in zip(TRIGRAM_NAMES, counts):
                    out[name] = float(c)
                out["contour_trigram_entropy_bits"] = _entropy_bits(counts)
    values = np.asarray([out[k] for k in DESCRIPTOR_NAMES], dtype=np.float32)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
