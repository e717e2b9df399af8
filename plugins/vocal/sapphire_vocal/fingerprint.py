"""Stage 1 of query by humming: a fixed-length melody vector, invariant to key and tempo.

A melody is reduced to its sequence of pitch *changes* (notes from :func:`note_pitches`, repeated
pitches merged), so neither the key (intervals) nor the tempo (no durations) matters. The vector
is a weighted concatenation of

* interval unigrams and bigrams: intervals folded into [-6, 6] semitones (an octave error cancels),
  each voting for the semitone bins with a Gaussian of width :data:`SIGMA` (a sung interval that
  is 0.7 semitones off still votes mostly near the right bin), 13 + 13 x 13 bins;
* contour trigrams: each interval as down-leap / down-step / up-step / up-leap (a leap is more than
  2.5 semitones), 4 x 4 x 4 bins: robust when a singer's intervals are off by a semitone;

square-rooted (Hellinger: cosine then compares distributions, not raw counts) and L2-normalised,
so an inner product ranks windows (the n-gram histogram of the MUSART/QBH literature, e.g. Dannenberg
et al., JASIST 2007, and Uitdenbogerd & Zobel's interval n-grams, ACM MM 1999).

A track is indexed as overlapping windows of :data:`WINDOW_NOTES` notes every :data:`HOP_NOTES`
(a hum may start anywhere); a query is one vector of all its notes.
"""

from __future__ import annotations

import numpy as np

from sapphire_vocal.contour import segment_notes

#: Notes per indexed window and the hop between windows (a 5-15 s hum holds ~8-30 notes).
WINDOW_NOTES = 16
HOP_NOTES = 4
#: Intervals above this (semitones) are leaps in the contour alphabet.
LEAP = 2.5
#: Block weights of the vector (unigram, bigram, contour trigram) before normalisation.
WEIGHTS = (0.5, 1.0, 1.0)
#: Width (semitones) of an interval's vote: a sung interval is often 0.5-1 semitone off.
SIGMA = 0.6
DIM = 13 + 13 * 13 + 4 * 4 * 4


def note_pitches(melody: np.ndarray, *, frame_seconds: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The note sequence of a frame melody: ``(pitches, start_frames)``, consecutive notes within
    half a semitone merged (a held or repeated pitch is one event for interval matching)."""
    melody = np.asarray(melody, dtype=np.float64)
    if melody.size < 2:
        return np.zeros(0), np.zeros(0, dtype=int)
    notes = segment_notes(melody, np.ones(melody.size, dtype=bool), hop_seconds=frame_seconds, jump=0.5,
                          min_seconds=0.1, smooth_seconds=0.1)
    pitches, starts = [], []
    for nt in notes:
        if pitches and abs(nt.pitch - pitches[-1]) < 0.5:
            continue
        pitches.append(nt.pitch)
        starts.append(nt.start)
    return np.asarray(pitches, dtype=np.float64), np.asarray(starts, dtype=int)


def interval_votes(intervals: np.ndarray, *, sigma: float = SIGMA) -> np.ndarray:
    """``(k, 13)`` soft votes of folded intervals for the bins -6..6 semitones: a Gaussian of width
    ``sigma`` around each interval (circular, as folding is), rows summing to 1."""
    x = np.mod(np.asarray(intervals, dtype=np.float64) + 6.0, 12.0) - 6.0
    d = np.abs(x[:, None] - np.arange(-6, 7)[None, :])
    d = np.minimum(d, 12.0 - d)
    w = np.exp(-0.5 * (d / sigma) ** 2)
    return w / w.sum(axis=1, keepdims=True)


def embed_pitches(pitches: np.ndarray) -> np.ndarray:
    """The ``(DIM,)`` unit vector of one note sequence (zeros when it has fewer than 3 notes)."""
    return embed_windows(np.asarray(pitches, dtype=np.float64), [(0, len(pitches))])[0]


def embed_windows(pitches: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """``(len(spans), DIM)`` vectors of the note ranges ``pitches[a:b]`` (rows of zeros for ranges
    with fewer than 3 notes)."""
    pitches = np.asarray(pitches, dtype=np.float64)
    out = np.zeros((len(spans), DIM), dtype=np.float32)
    if pitches.size < 3:
        return out
    iv = np.diff(pitches)
    votes = interval_votes(iv)
    contour = np.where(iv < -LEAP, 0, np.where(iv < 0, 1, np.where(iv <= LEAP, 2, 3)))
    for r, (a, b) in enumerate(spans):
        k = b - a - 1  # intervals inside the span
        if k < 2:
            continue
        v = votes[a : a + k]
        uni = v.sum(axis=0)
        bi = v[:-1].T @ v[1:]
        tri = np.zeros(64)
        if k >= 3:
            c = contour[a : a + k]
            np.add.at(tri, 16 * c[:-2] + 4 * c[1:-1] + c[2:], 1.0)
        blocks = []
        for block, weight in zip((uni, bi.ravel(), tri), WEIGHTS):
            total = block.sum()
            blocks.append(weight * np.sqrt(block / total) if total > 0 else block)
        vec = np.concatenate(blocks)
        out[r] = vec / (np.linalg.norm(vec) + 1e-12)
    return out


def window_spans(n_notes: int, *, window: int = WINDOW_NOTES, hop: int = HOP_NOTES) -> list[tuple[int, int]]:
    """Overlapping ``(start, end)`` note ranges covering ``n_notes`` notes; one range when shorter."""
    if n_notes <= window:
        return [(0, n_notes)]
    starts = list(range(0, n_notes - window + 1, hop))
    if starts[-1] + window < n_notes:
        starts.append(n_notes - window)
    return [(a, a + window) for a in starts]
