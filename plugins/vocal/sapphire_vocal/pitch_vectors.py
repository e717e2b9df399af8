"""Stage 1 of query by humming, second view: the pitch contour over time, sampled at fixed points.

The interval n-grams of :mod:`sapphire_vocal.fingerprint` see a hum as a string of pitch changes, so
one note a singer splits or merges, or an interval sung a semitone wide, changes several n-grams.
This view sees it as a curve instead (the "pitch vector" of Ryynänen & Klapuri, "Query by humming
of MIDI and audio using locality sensitive hashing", ICASSP 2008): :data:`POINTS` pitches sampled
evenly over :data:`SECONDS` of the melody, minus their mean (key invariance), with octave jumps
folded back (a pitch tracker's octave error). A split note or a slightly wrong interval moves the
curve a little instead of changing its words.

A track is indexed as one window at every note start (a hum starts on a note); a query yields a
vector per tempo hypothesis in :data:`TEMPOS` (the sung stretch that covers :data:`SECONDS` of the
track at that tempo) at each of its first :data:`QUERY_STARTS` note starts (so one mis-detected
first note does not lose the query). A start is used only when the hum is long enough for every
tempo hypothesis (>= 6 s from it): a shorter hum, tried at the fast tempos only, would rank tracks
by the wrong stretch of themselves, so it is left to the n-grams.

The store ranks by inner product, the view by Euclidean distance. Two extra coordinates bridge them:
a track's ``x`` is stored as ``[x, |x|^2 / 2, sqrt(R^2 - |x|^2 - |x|^4 / 4)]`` and a query's ``q`` as
``[q, -1, 0]``, so ``q'.x' = q.x - |x|^2 / 2 = (|q|^2 - |q - x|^2) / 2`` ranks like the distance,
and every stored vector has the same norm ``R``, so the inverted file's k-means cells are
spherical (with ``[x, -|x|^2 / 2]`` alone, long vectors captured the cells and at 10k tracks the
sung track fell out of the shortlist twice as often as with exact search).
"""

from __future__ import annotations

import numpy as np

#: Track seconds per window: a 6 s hum sung at x0.75 the tempo covers it; 6-10 notes at 70-150 bpm.
SECONDS = 4.5
#: Pitch samples per window.
POINTS = 24
#: Tempo ratios (hum / track) a query is tried at: a geometric grid over x0.75-1.33, ~5% apart (with
#: 9 steps, ~7% apart, the sung track was in the 50-track shortlist for 0.72 of bench_qbh's queries
#: at 10k tracks; 0.82 with 13).
TEMPOS = tuple(float(t) for t in np.geomspace(0.75, 1.33, 13))
#: A query is read from each of its first few note starts.
QUERY_STARTS = 3
#: Deviations from the window's median beyond this (semitones) are folded by an octave.
FOLD = 9.0
DIM = POINTS + 2
#: Squared norm of every stored vector: above the largest ``|x|^2 + |x|^4 / 4`` (``|x_i| <= 2 FOLD``).
_MAX_X2 = POINTS * (2 * FOLD) ** 2
_R2 = 1.01 * (_MAX_X2 + _MAX_X2 ** 2 / 4)


def contours(melody: np.ndarray, starts, spans) -> np.ndarray:
    """``(n, POINTS)`` pitches of ``melody`` (MIDI per frame) sampled over frames
    ``[start, start + span)`` for each of ``starts`` and ``spans`` (arrays of one length, or scalars
    that broadcast), octave jumps folded towards each row's median, minus each row's mean."""
    melody = np.asarray(melody, dtype=np.float64)
    starts, spans = np.broadcast_arrays(np.atleast_1d(np.asarray(starts, dtype=np.float64)),
                                        np.atleast_1d(np.asarray(spans, dtype=np.float64)))
    pos = starts[:, None] + spans[:, None] * (np.arange(POINTS) / POINTS)[None, :]
    x = np.interp(pos.ravel(), np.arange(melody.size), melody).reshape(pos.shape)
    x = x - np.median(x, axis=1, keepdims=True)
    x = np.where(x > FOLD, x - 12.0, np.where(x < -FOLD, x + 12.0, x))
    return x - x.mean(axis=1, keepdims=True)


def track_vectors(melody: np.ndarray, starts: np.ndarray, *, frame_seconds: float = 0.05) -> np.ndarray:
    """``(n, DIM)`` window vectors of a track: one per note start with :data:`SECONDS` of melody after
    it (the whole melody as one window when it is shorter), as ``[x, |x|^2 / 2, sqrt(R^2 - ...)]``."""
    melody = np.asarray(melody, dtype=np.float64)
    if melody.size < 2:
        return np.zeros((0, DIM), dtype=np.float32)
    span = SECONDS / frame_seconds
    starts = np.asarray(starts, dtype=np.float64)
    starts = starts[starts + span <= melody.size]
    x = contours(melody, starts, span) if starts.size else contours(melody, 0, melody.size - 1)
    half = 0.5 * (x ** 2).sum(axis=1, keepdims=True)
    return np.hstack([x, half, np.sqrt(np.maximum(_R2 - 2 * half - half ** 2, 0.0))]).astype(np.float32)


def query_vectors(melody: np.ndarray, starts: np.ndarray, *, frame_seconds: float = 0.05) -> list[np.ndarray]:
    """The query's vectors: one ``(len(TEMPOS), DIM)`` block, a row per tempo, for each of its first
    :data:`QUERY_STARTS` note starts with enough hum after it for the slowest tempo; rows are
    ``[q, -1, 0]`` (turn the store's scores into distances with :func:`distances`). Empty for a short hum."""
    melody = np.asarray(melody, dtype=np.float64)
    blocks = []
    for s in np.asarray(starts)[:QUERY_STARTS]:
        if s + SECONDS / frame_seconds / min(TEMPOS) > melody.size:
            break
        x = contours(melody, s, SECONDS / frame_seconds / np.asarray(TEMPOS))
        blocks.append(np.hstack([x, np.full((len(x), 1), -1.0), np.zeros((len(x), 1))]).astype(np.float32))
    return blocks


def distances(queries: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances from the store's inner-product ``scores`` (rows: ``queries`` from
    :func:`query_vectors`): ``|q - x|^2 = |q|^2 - 2 q.x'``."""
    q = np.asarray(queries, dtype=np.float64)[:, :POINTS]
    return (q ** 2).sum(axis=1, keepdims=True) - 2.0 * np.asarray(scores, dtype=np.float64)


def change_points(melody: np.ndarray) -> np.ndarray:
    """Frames where a clean (score-derived) melody changes pitch, the first frame included: the
    note starts of a line whose notes are exact, without :func:`~sapphire_vocal.fingerprint.note_pitches`'
    smoothing."""
    melody = np.asarray(melody, dtype=np.float64)
    if melody.size == 0:
        return np.zeros(0, dtype=int)
    return np.concatenate([[0], np.flatnonzero(np.abs(np.diff(melody)) >= 0.5) + 1])
