"""Melody matching for query by humming: key- and octave-invariant subsequence DTW.

A query is a frame melody (fractional MIDI per :data:`~sapphire_vocal.melody.FRAME_SECONDS`); a
reference is a ``(T, 12)`` pitch-class affinity in [0, 1] (:func:`sapphire_vocal.melody.melody_affinity`
for a single line, :func:`sapphire_vocal.melody.posteriorgram_affinity` for a mix), or ``(L, T, 12)``:
``L`` candidate lines of one track, of which the query is matched against the one it fits best. The
local cost is ``1 - affinity`` at the query's tuning-corrected, octave-folded pitch; the alignment cost
is minimised over the 12 transpositions (and the lines). This is the second, re-ranking stage of :class:`sapphire_vocal.qbh.QbhIndex`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: DTW runs on every ``DTW_DECIMATE``-th 50 ms frame (0.1 s): a hum's notes last >= 80 ms anyway.
DTW_DECIMATE = 2


def tuning_offset(melody: np.ndarray) -> float:
    """Global tuning (semitones in [-0.5, 0.5)): circular mean of the pitches' fractional parts."""
    if melody.size == 0:
        return 0.0
    ang = 2 * np.pi * melody
    return float(np.angle(np.mean(np.exp(1j * ang))) / (2 * np.pi))


def folded_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Semitone distance ignoring octaves, in [0, 6]."""
    d = np.mod(a - b + 6.0, 12.0) - 6.0
    return np.abs(d)


@functools.lru_cache(maxsize=1)
def _kernel():
    import numba

    @numba.njit(cache=True, nogil=True, fastmath=False)
    def run(q, A2):  # pragma: no cover - compiled
        # A2 is the affinity with its 12 columns repeated (m, 24), so the 12 transpositions of a
        # query frame read one contiguous slice, and the innermost loops (over the 12 shifts) are
        # branch-free so that they vectorise.
        n, m = q.size, A2.shape[0]
        inf = np.float32(np.inf)
        two = np.float32(2.0)
        one = np.float32(1.0)
        prev2 = np.full((m, 12), inf, dtype=np.float32)
        prev = np.full((m, 12), inf, dtype=np.float32)
        cur = np.full((m, 12), inf, dtype=np.float32)
        c = np.empty(12, dtype=np.float32)
        for i in range(n):
            fl = np.floor(q[i])
            lo = int(fl) % 12
            frac = np.float32(q[i] - fl)
            for j in range(m):
                if np.isnan(A2[j, 0]):
                    cur[j, :] = inf
                    continue
                for s in range(12):
                    c[s] = one - ((one - frac) * A2[j, lo + s] + frac * A2[j, lo + s + 1])
                if i == 0:
                    cur[j, :] = c  # free start anywhere in a reference (subsequence DTW)
                elif j == 0:
                    cur[j, :] = inf
                elif j == 1 or i == 1:
                    for s in range(12):
                        v = prev[j - 1, s] + c[s]
                        if j >= 2:
                            v = min(v, prev[j - 2, s] + c[s])
                        if i >= 2:
                            v = min(v, prev2[j - 1, s] + two * c[s])
                        cur[j, s] = v
                else:
                    for s in range(12):
                        cur[j, s] = min(min(prev[j - 1, s], prev[j - 2, s]) + c[s], prev2[j - 1, s] + two * c[s])
            prev2, prev, cur = prev, cur, prev2
        best = np.empty(m, dtype=np.float32)
        for j in range(m):
            best[j] = prev[j, :].min()
        return best

    return run


def other_reading(query: np.ndarray) -> float:
    """The tuning half a semitone from :func:`tuning_offset` of the frames DTW reads, in [-0.5, 0.5).

    A singer whose every note is 25-50 cents off, either way, leaves the notes' fractional parts
    bunched near +-0.4: their circular mean may then land on the half-semitone that puts every note
    between two pitch classes, and the right reading is the other one. Both kinds of demo query have
    widely spread fractional parts (median resultant length 0.18 for the project hums, 0.16-0.19 for
    the sung queries), so no spread threshold tells the two cases apart; a matcher tries both
    (:func:`dtw_costs` with ``tuning=``).
    """
    t = tuning_offset(np.asarray(query, dtype=np.float64)[::DTW_DECIMATE])
    return float(np.mod(t + 1.0, 1.0) - 0.5)


def dtw_costs(query: np.ndarray, references: list[np.ndarray], *, tuning: float | None = None) -> np.ndarray:
    """Mean per-query-frame cost of the best subsequence alignment of ``query`` (a melody) inside
    each reference (a ``(T, 12)`` pitch-class affinity, or ``(L, T, 12)`` lines: the best line's),
    minimised over the 12 transpositions; in [0, 1].

    The local cost is ``1 - affinity`` at the query's (tuning-corrected, octave-folded) pitch,
    interpolated between the two nearest pitch classes. Steps (1,1), (1,2) and (2,1) (query,
    reference) limit the local tempo ratio to 1/2-2; the (2,1) step consumes two query frames, so
    its cost counts twice and skipping is never cheaper. All references go through one compiled pass
    (numba), concatenated with two NaN rows between them, which no step can jump.

    Parameters
    ----------
    query : np.ndarray
        ``(T,)`` MIDI pitch per 50 ms frame.
    references : list of np.ndarray
        ``(T_k, 12)`` or ``(L_k, T_k, 12)`` affinities at the same frame rate.
    tuning : float, optional
        The query's tuning (semitones subtracted before octave folding) [default: :func:`tuning_offset`
        of the frames read; :func:`other_reading` is the alternative half a semitone away].

    Returns
    -------
    np.ndarray
        ``(len(references),)`` costs; 1 for a reference or query too short to align.
    """
    q = np.asarray(query, dtype=np.float64)[::DTW_DECIMATE]
    q = (q - (tuning_offset(q) if tuning is None else tuning)).astype(np.float32)
    n = q.size
    out = np.ones(len(references))
    if n < 2 or not references:
        return out
    parts, spans, row = [], [], 0
    gap = np.full((2, 12), np.nan, dtype=np.float32)
    need = (n + 1) // 2 + 1
    for k, ref in enumerate(references):
        for line in lines(ref):
            r = line[::DTW_DECIMATE]
            if r.shape[0] < 2:
                continue
            if r.shape[0] < need:  # shorter than the fastest path: hold its last frame (never cheaper)
                r = np.concatenate([r, np.repeat(r[-1:], need - r.shape[0], axis=0)])
            parts += [r, gap]
            spans.append((k, row, row + r.shape[0]))
            row += r.shape[0] + 2
    if not parts:
        return out
    A = np.concatenate(parts)
    last = _kernel()(q, np.ascontiguousarray(np.concatenate([A, A], axis=1)))
    for k, a, b in spans:  # a track's cost: its best line's
        out[k] = min(out[k], float(last[a:b].min()) / n)
    return out


def lines(reference: np.ndarray) -> list[np.ndarray]:
    """The ``(T, 12)`` float32 lines of a reference: itself, or each of an ``(L, T, 12)`` stack."""
    ref = np.asarray(reference, dtype=np.float32)
    return list(ref) if ref.ndim == 3 else [ref]


def dtw_cost(query: np.ndarray, reference: np.ndarray) -> float:
    """:func:`dtw_costs` of a query melody against one reference melody (1-D), affinity (2-D) or lines (3-D)."""
    from sapphire_vocal.melody import melody_affinity

    ref = np.asarray(reference)
    return float(dtw_costs(query, [melody_affinity(ref) if ref.ndim == 1 else ref])[0])


@dataclass(frozen=True)
class Alignment:
    """Where and how a query melody fits a reference: what :func:`dtw_costs` minimises, traced back.

    Attributes
    ----------
    start, end : int
        The aligned reference frames ``[start, end)`` (:data:`~sapphire_vocal.melody.FRAME_SECONDS` each).
    transposition : float
        Semitones the query lies above the reference (its tuning included), folded into ``[-6, 6)``:
        matching ignores octaves, so a hum an octave below the track reads 0.
    cost : float
        The mean per-query-frame cost, as :func:`dtw_costs` returns; in [0, 1].
    """

    start: int
    end: int
    transposition: float
    cost: float


def align(query: np.ndarray, reference: np.ndarray, *, tuning: float | None = None) -> Alignment | None:
    """The best alignment of ``query`` (a melody) inside one reference (a ``(T, 12)`` affinity, or the
    best of its lines for ``(L, T, 12)``).

    The same recurrence, steps and local cost as :func:`dtw_costs` (so ``cost`` is the same number),
    in numpy over one reference, keeping for every cell the reference frame its path started at; it
    serves explanations (a handful of results), not ranking.

    Parameters
    ----------
    query : np.ndarray
        ``(T,)`` MIDI pitch per 50 ms frame.
    reference : np.ndarray
        ``(T_ref, 12)`` or ``(L, T_ref, 12)`` pitch-class affinity at the same frame rate.
    tuning : float, optional
        As in :func:`dtw_costs`.

    Returns
    -------
    Alignment or None
        None when the query or the reference is too short to align.

    Examples
    --------
    >>> from sapphire_vocal.melody import melody_affinity
    >>> tune = np.repeat([60.0, 64, 67, 71, 69, 65, 62, 66, 70, 63], 6)
    >>> a = align(tune[12:42] + 3, melody_affinity(tune))  # notes 3-7, three semitones up
    >>> (a.start, a.end, a.transposition, round(a.cost, 3))  # ends are exact to DTW's 0.1 s or a held note
    (12, 40, 3.0, 0.0)
    """
    found = [a for a in (_align_line(query, line, tuning) for line in lines(reference)) if a is not None]
    return min(found, key=lambda a: a.cost) if found else None


def _align_line(query: np.ndarray, ref: np.ndarray, tuning: float | None) -> Alignment | None:
    """:func:`align` in one ``(T, 12)`` line."""
    t = np.asarray(query, dtype=np.float64)[::DTW_DECIMATE]
    tuning = tuning_offset(t) if tuning is None else tuning
    q = (t - tuning).astype(np.float32)
    r = ref[::DTW_DECIMATE]
    n, m_real = q.size, r.shape[0]
    if n < 2 or m_real < 2:
        return None
    need = (n + 1) // 2 + 1
    if m_real < need:  # as dtw_costs: hold the last frame
        r = np.concatenate([r, np.repeat(r[-1:], need - m_real, axis=0)])
    m = r.shape[0]
    A2 = np.concatenate([r, r, r[:, :1]], axis=1)  # columns lo .. lo + 12 read without wrapping
    inf = np.float32(np.inf)

    def shifted(a: np.ndarray, by: int, fill) -> np.ndarray:  # out[j] = a[j - by]
        out = np.full_like(a, fill)
        out[by:] = a[:-by]
        return out

    rows = np.repeat(np.arange(m)[:, None], 12, axis=1)
    prev2, prev = np.full((m, 12), inf, np.float32), np.full((m, 12), inf, np.float32)
    start2, start = rows.copy(), rows.copy()
    for i in range(n):
        fl = np.floor(q[i])
        lo, frac = int(fl) % 12, np.float32(q[i] - fl)
        c = np.float32(1) - ((np.float32(1) - frac) * A2[:, lo : lo + 12] + frac * A2[:, lo + 1 : lo + 13])
        if i == 0:
            cur, cur_start = c, rows.copy()  # free start anywhere (subsequence DTW)
        else:
            # (1,1), (1,2) and (2,1) steps, the last counting its cost twice (see dtw_costs)
            options = np.stack([shifted(prev, 1, inf) + c, shifted(prev, 2, inf) + c, shifted(prev2, 1, inf) + 2 * c])
            starts = np.stack([shifted(start, 1, 0), shifted(start, 2, 0), shifted(start2, 1, 0)])
            pick = np.argmin(options, axis=0)
            cur = np.take_along_axis(options, pick[None], 0)[0]
            cur_start = np.take_along_axis(starts, pick[None], 0)[0]
            cur[0] = inf
        prev2, prev, start2, start = prev, cur, start, cur_start
    j, s = np.unravel_index(int(np.argmin(prev)), prev.shape)
    if not np.isfinite(prev[j, s]):
        return None
    # Frame j of the decimated reference covers frames j * D .. j * D + D - 1 of the original.
    first = int(start[j, s]) * DTW_DECIMATE
    last = min(ref.shape[0], (min(int(j), m_real - 1) + 1) * DTW_DECIMATE)
    shift = round(float(np.mod(tuning - s + 6.0, 12.0) - 6.0), 2)
    return Alignment(first, last, shift, min(1.0, float(prev[j, s]) / n))
