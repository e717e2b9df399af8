"""Pitch-contour utilities shared by the descriptors, the contour extractor and query by humming.

Everything here is pure numpy over a frame-rate pitch track: fractional MIDI pitch per frame plus
a voicing mask. Transposition invariance comes from subtracting the median voiced pitch (a key
change moves every pitch by the same amount); tempo invariance from resampling the voiced frames
to a fixed number of points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d


def voiced_mask(periodicity: np.ndarray, *, threshold: float = 0.5, min_frames: int = 3) -> np.ndarray:
    """Frames whose CREPE confidence is at least ``threshold``, dropping voiced runs shorter than
    ``min_frames`` (isolated confident frames in noise)."""
    voiced = np.asarray(periodicity) >= threshold
    if min_frames <= 1 or not voiced.any():
        return voiced
    out = voiced.copy()
    for start, end in runs(voiced):
        if end - start < min_frames:
            out[start:end] = False
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the runs of True in a 1-D bool array (end exclusive)."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


@dataclass(frozen=True)
class Note:
    """A stable-pitch segment of a pitch track (frame indices, end exclusive)."""

    start: int
    end: int
    pitch: float  # median fractional MIDI pitch


def segment_notes(midi: np.ndarray, voiced: np.ndarray, *, hop_seconds: float, jump: float = 0.6,
                  min_seconds: float = 0.06, smooth_seconds: float = 0.15) -> list[Note]:
    """Split a pitch track into notes: at voicing gaps and where the smoothed pitch leaves the
    running note pitch by more than ``jump`` semitones.

    The smoothing is a moving average over ``smooth_seconds``, about one vibrato period: it
    attenuates a 6 Hz vibrato to ~10% (sinc(6 x 0.15)), so even a ±100 cent vibrato stays one
    note, while a step of a semitone or more still crosses ``jump`` (mid-way through the step).
    """
    midi = np.asarray(midi, dtype=np.float64)
    win = max(1, int(round(smooth_seconds / hop_seconds)))
    min_frames = max(1, int(round(min_seconds / hop_seconds)))
    notes: list[Note] = []
    for a, b in runs(voiced):
        raw = midi[a:b]
        seg = uniform_filter1d(raw, size=min(win, b - a), mode="nearest")
        bounds = [0]
        ref, count, i = seg[0], 1, 1
        while i < len(seg):
            if abs(seg[i] - ref) <= jump:
                count += 1
                ref += (seg[i] - ref) / count  # follow slow drift within a note (a sung note sags)
                i += 1
                continue
            # The smoothed pitch has left the note: the new one is where it settles one window on,
            # and the boundary is where the raw pitch first gets closer to the new note than the old.
            settle = min(i + win, len(seg) - 1)
            new_ref = seg[settle]
            lo = max(bounds[-1] + 1, i - win)
            closer = np.abs(raw[lo : settle + 1] - new_ref) < np.abs(raw[lo : settle + 1] - ref)
            k = lo + int(np.argmax(closer)) if closer.any() else i
            bounds.append(k)
            ref, count, i = new_ref, 1, settle + 1
        bounds.append(len(seg))
        for s0, s1 in zip(bounds[:-1], bounds[1:]):
            if s1 - s0 >= min_frames:
                notes.append(Note(a + s0, a + s1, float(np.median(raw[s0:s1]))))
    return notes


def relative_pitch(midi: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Semitones relative to the median voiced pitch (0 on unvoiced frames): transposition-invariant."""
    midi = np.asarray(midi, dtype=np.float64)
    out = np.zeros_like(midi)
    if voiced.any():
        out[voiced] = midi[voiced] - np.median(midi[voiced])
    return out


def fill_unvoiced(values: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """``values`` from the first to the last voiced frame, each unvoiced frame holding the previous
    voiced value (a rest or breath keeps the last pitch). Empty if none is voiced."""
    voiced = np.asarray(voiced, dtype=bool)
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        return np.zeros(0)
    v = np.asarray(values, dtype=np.float64)[idx[0] : idx[-1] + 1]
    m = voiced[idx[0] : idx[-1] + 1]
    last = np.maximum.accumulate(np.where(m, np.arange(len(m)), 0))
    return v[last]


def resample_voiced(values: np.ndarray, voiced: np.ndarray, n: int, *, smooth_frames: int = 1) -> np.ndarray:
    """``values`` over the voiced span (first to last voiced frame, gaps holding the previous pitch)
    resampled to ``n`` points: tempo-invariant, as a slower rendition has more frames but the same
    shape. Zeros if none is voiced.

    Gaps are held rather than dropped so that a frame or two of voicing flicker at a note boundary
    (which differs between renditions) does not shift the time axis of everything after it.
    ``smooth_frames`` > 1 median-filters the span first, removing one-frame glitches at note
    transitions (a pitch tracker's half-way guesses).

    Downsampling averages each point's span of frames (a box anti-aliasing filter) rather than
    picking single frames, so a note boundary that moves by one frame between two renditions moves
    each output point by a fraction of a frame's worth, not by a whole step.
    """
    v = fill_unvoiced(values, voiced)
    if v.size == 0:
        return np.zeros(n)
    if smooth_frames > 1 and v.size > smooth_frames:
        v = median_filter(v, size=smooth_frames, mode="nearest")
    if v.size == 1:
        return np.full(n, v[0])
    if v.size < 2 * n:
        return np.interp(np.linspace(0, v.size - 1, n), np.arange(v.size), v)
    # Exact box average over fractional spans, via the cumulative sum (piecewise-constant frames).
    c = np.concatenate([[0.0], np.cumsum(v)])
    edges = np.linspace(0, v.size, n + 1)
    at = np.interp(edges, np.arange(v.size + 1), c)
    return np.diff(at) / np.diff(edges)


def fold_octave_errors(midi: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Move isolated octave jumps (pitch trackers' commonest error) back next to their neighbours:
    any voiced frame more than 9 semitones from the local median is shifted by whole octaves toward it."""
    midi = np.asarray(midi, dtype=np.float64).copy()
    if voiced.sum() < 3:
        return midi
    idx = np.flatnonzero(voiced)
    local = median_filter(midi[idx], size=min(len(idx) | 1, 15), mode="nearest")
    diff = midi[idx] - local
    shift = np.where(np.abs(diff) > 9, -12 * np.round(diff / 12), 0.0)
    midi[idx] += shift
    return midi
