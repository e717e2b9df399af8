"""Key-invariant alignment of chroma sequences: how well one recording follows another's harmony.

This is the classic cover-song / version-identification recipe, with no training:

- **Features**: CENS chroma (Müller et al., 2005), smoothed over ~1 s and sampled at ~5.4 frames
  per second; each frame is unit-norm.
- **Key**: the optimal transposition index (OTI, Serrà et al., 2008) rotates the reference's
  global chroma onto the query's; the best :data:`ROTATIONS` candidates are tried.
- **Tempo and structure**: dynamic time warping on the cosine distance of frames. Two recordings of
  about the same length are aligned end to end; a shorter query (an excerpt) is aligned anywhere
  inside the longer one (subsequence DTW). Steps (1,1), (1,2), (2,1) bound the local tempo ratio to
  [1/2, 2].

The score is ``1 - mean cosine distance along the best path``, in [0, 1] (1 = same harmony, frame
by frame, up to a transposition and a tempo curve).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: The Tonal extractor's CENS runs at 22.05 kHz / 512 = 43 fps; alignment uses every 8th frame.
FRAME_STEP = 8
FRAMES_PER_SECOND = 22050 / 512 / FRAME_STEP
#: Transpositions tried per pair of similar length (the best by OTI of the global chroma). An
#: excerpt's global chroma can differ from its whole track's, so excerpts try all twelve.
ROTATIONS = 3
#: Below this length ratio the shorter recording is aligned inside the longer one.
GLOBAL_RATIO = 0.7
#: Longer sequences are averaged over blocks of frames first (both by the same factor) so that the
#: shorter has at most this many: the cost grows with the product of the lengths, and two whole
#: pieces of several minutes still align on their harmony at one frame every ~1-2 s.
MAX_FRAMES = 400


def chroma_sequence(audio: np.ndarray, sr: int) -> np.ndarray:
    """The ``(T, 12)`` float32 sequence of unit-norm CENS frames the alignment compares.

    ``audio`` holds mono samples at ``sr`` Hz; any rate works (it is resampled to 22.05 kHz).
    """
    from sapphire_acoustic.tonal import SAMPLE_RATE, _to_rate, chroma_and_cens

    _, cens = chroma_and_cens(_to_rate(np.asarray(audio, np.float32), sr), sr=SAMPLE_RATE, backend="torch")
    return unit_frames(cens[:, ::FRAME_STEP].T)


def file_chroma_sequence(path, *, blocks=None) -> np.ndarray:
    """:func:`chroma_sequence` of an audio file, decoded block by block: memory is a few minutes of audio,
    not the track (:func:`sapphire_acoustic.tonal.stream_chroma_and_cens`; the same sequence for tracks
    up to one minute, within rounding beyond). ``blocks``: the file's blocks at 22.05 kHz as
    :func:`sapphire_core.audio.audio_blocks` yields them, when already decoded (default: decoded here)."""
    from sapphire_core.audio import audio_blocks

    from sapphire_acoustic.tonal import SAMPLE_RATE, stream_chroma_and_cens

    if blocks is None:
        blocks = audio_blocks(path, sr=SAMPLE_RATE)
    _, cens = stream_chroma_and_cens(blocks, sr=SAMPLE_RATE, backend="torch")
    return unit_frames(cens[:, ::FRAME_STEP].T)


def unit_frames(seq: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (silent rows stay zero)."""
    seq = np.asarray(seq, np.float32)
    return seq / np.maximum(np.linalg.norm(seq, axis=1, keepdims=True), 1e-9)


def pool_frames(seq: np.ndarray, factor: int) -> np.ndarray:
    """Unit-norm means of consecutive blocks of ``factor`` frames (a last partial block included)."""
    n = -(-len(seq) // factor) * factor
    padded = np.concatenate([seq, np.repeat(seq[-1:], n - len(seq), axis=0)]) if n > len(seq) else seq
    return unit_frames(padded.reshape(-1, factor, seq.shape[1]).mean(axis=1))


def best_rotations(query: np.ndarray, reference: np.ndarray, n: int = ROTATIONS) -> list[int]:
    """The ``n`` pitch rotations of ``reference`` whose global chroma best matches the query's (OTI)."""
    q, r = query.mean(axis=0), reference.mean(axis=0)
    corr = [float(q @ np.roll(r, k)) for k in range(12)]
    return sorted(range(12), key=lambda k: -corr[k])[:n]


@functools.lru_cache(maxsize=1)
def _kernels():
    import numba

    # Both kernels take the two sequences, not a cost matrix: the cosine distance of two frames is
    # computed where it is needed (12 products), with no BLAS call, and only the last three rows of
    # the accumulated cost D and path length L are kept (the steps reach back two rows at most).
    # An explanation passes an (n, m) ``steps`` array, which records each cell's chosen step (1:
    # (1,1), 2: (1,2), 3: (2,1); 0: a path's first cell) so the best path can be traced back;
    # ranking passes a (1, 1) one and the inner loop stays as lean as before.
    @numba.njit(cache=True, nogil=True)
    def _run(a, b, subsequence, steps):  # pragma: no cover - compiled
        n, m = a.shape[0], b.shape[0]
        trace = steps.shape[0] == n and steps.shape[1] == m
        inf = np.inf
        D = np.full((3, m), inf)
        L = np.ones((3, m))
        out, end_i, end_j = inf, -1, -1
        for i in range(n):
            r, r1, r2 = i % 3, (i - 1) % 3, (i - 2) % 3
            for j in range(m):
                c = 1.0
                for k in range(12):
                    c -= a[i, k] * b[j, k]
                if i == 0:
                    # subsequence: the query may start anywhere; global: only at the first frame
                    D[r, j] = c if (subsequence or j == 0) else inf
                    L[r, j] = 1.0
                    continue
                best, bl = inf, 1.0
                if j >= 1 and D[r1, j - 1] < best:
                    best, bl = D[r1, j - 1], L[r1, j - 1]
                if j >= 2 and D[r1, j - 2] < best:
                    best, bl = D[r1, j - 2], L[r1, j - 2]
                if i >= 2 and j >= 1 and D[r2, j - 1] < best:
                    best, bl = D[r2, j - 1], L[r2, j - 1]
                D[r, j], L[r, j] = best + c, bl + 1.0
                if trace:  # the step chosen above: the first, in the same order, that reaches ``best``
                    if j >= 1 and D[r1, j - 1] == best:
                        steps[i, j] = 1
                    elif j >= 2 and D[r1, j - 2] == best:
                        steps[i, j] = 2
                    elif i >= 2 and j >= 1:
                        steps[i, j] = 3
            # subsequence: the path ends anywhere on the last row; global: the end may fall short of
            # the last frame of either side by the step pattern's slack
            if (subsequence and i == n - 1) or (not subsequence and i >= n - 3):
                for j in range(0 if subsequence else max(0, m - 3), m):
                    if D[r, j] / L[r, j] < out:
                        out, end_i, end_j = D[r, j] / L[r, j], i, j
        return out, end_i, end_j

    @numba.njit(cache=True, nogil=True)
    def global_path(a, b, steps):  # pragma: no cover - compiled
        return _run(a, b, False, steps)

    @numba.njit(cache=True, nogil=True)
    def subsequence_path(a, b, steps):  # pragma: no cover - compiled
        return _run(a, b, True, steps)

    return global_path, subsequence_path


@dataclass(frozen=True)
class ChromaAlignment:
    """Where and how a query follows a reference: the path :func:`alignment_score` scores, by its ends.

    Attributes
    ----------
    score : float
        :func:`alignment_score` of the pair, in [0, 1].
    query_start, query_end, reference_start, reference_end : int
        The aligned frames ``[start, end)`` of each sequence (:data:`FRAMES_PER_SECOND`). The shorter
        sequence is aligned whole (an excerpt inside its track), so one side spans all its frames.
    transposition : int
        Semitones the query lies above the reference, folded into ``[-6, 6)`` (chroma has no octaves).
    tempo : float
        The query's tempo over the reference's: reference frames per query frame along the middle
        of the path (:func:`path_slope`; 0.8 = the query plays 20 % slower). DTW's steps bound it to
        [1/2, 2].
    """

    score: float
    query_start: int
    query_end: int
    reference_start: int
    reference_end: int
    transposition: int
    tempo: float


def align_sequences(query: np.ndarray, reference: np.ndarray, *, rotations: int = ROTATIONS,
                    trace: bool = True) -> ChromaAlignment | None:
    """The best alignment of two ``(T, 12)`` unit-norm chroma sequences, traced to its ends.

    Symmetric in its arguments, as the score is: sequences are pooled to at most :data:`MAX_FRAMES`
    frames for the shorter one (:func:`pool_frames`), then the shorter sequence is aligned inside the
    longer one (trying all twelve transpositions) when their lengths differ by more than
    :data:`GLOBAL_RATIO`, end to end (trying the best ``rotations`` by OTI) otherwise.

    trace : bool
        Trace the path back for its ends and tempo (False: the score alone, as ranking needs; the
        spans then cover both sequences and the transposition and tempo read 0 and 1).

    Returns
    -------
    ChromaAlignment or None
        None when either sequence has fewer than two frames.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> track = unit_frames(rng.random((120, 12)))
    >>> excerpt = np.roll(track[30:70], 3, axis=1)  # frames 30-69, three semitones up
    >>> a = align_sequences(excerpt, track)
    >>> (a.reference_start, a.reference_end, a.transposition, a.tempo, round(a.score, 3))
    (30, 70, 3, 1.0, 1.0)
    """
    if len(query) < 2 or len(reference) < 2:
        return None
    swapped = len(query) > len(reference)
    short, long_ = (reference, query) if swapped else (query, reference)
    factor = -(-len(short) // MAX_FRAMES)
    a, b = (pool_frames(short, factor), pool_frames(long_, factor)) if factor > 1 else (short, long_)
    global_path, subsequence_path = _kernels()
    whole = len(a) >= GLOBAL_RATIO * len(b)
    kernel = global_path if whole else subsequence_path
    a64 = np.ascontiguousarray(a, dtype=np.float64)
    no_steps = np.zeros((1, 1), np.int8)
    best, k_best = (np.inf, -1, -1), 0
    for k in best_rotations(a, b, rotations if whole else 12):
        found = kernel(a64, np.ascontiguousarray(np.roll(b, k, axis=1), dtype=np.float64), no_steps)
        if found[0] < best[0]:
            best, k_best = found, k
    cost, end_i, end_j = best
    if not np.isfinite(cost):
        return None
    score = float(np.clip(1.0 - cost, 0.0, 1.0))
    if not trace:
        return ChromaAlignment(score, 0, len(query), 0, len(reference), 0, 1.0)
    steps = np.zeros((len(a), len(b)), np.int8)  # the best rotation again, its steps recorded
    kernel(a64, np.ascontiguousarray(np.roll(b, k_best, axis=1), dtype=np.float64), steps)
    path = trace_back(steps, end_i, end_j)
    # pooled frame p covers frames p * factor .. (p + 1) * factor - 1 of the original
    short_span = (int(path[0, 0]) * factor, min(len(short), (end_i + 1) * factor))
    long_span = (int(path[0, 1]) * factor, min(len(long_), (end_j + 1) * factor))
    q, r = (long_span, short_span) if swapped else (short_span, long_span)
    # the longer side rolled up by k fits the shorter: a query that is the longer side lies k below
    shift = -k_best if swapped else k_best
    slope = path_slope(path)  # longer-side frames per shorter-side frame
    return ChromaAlignment(score=score, query_start=q[0], query_end=q[1], reference_start=r[0],
                           reference_end=r[1], transposition=(shift + 6) % 12 - 6,
                           tempo=round(1.0 / slope if swapped else slope, 3))


def trace_back(steps: np.ndarray, i: int, j: int) -> np.ndarray:
    """The ``(n_points, 2)`` path of ``(row, column)`` cells that ends at ``(i, j)``, first cell first,
    from the steps the alignment kernel recorded (1: (1,1), 2: (1,2), 3: (2,1), 0: the start)."""
    back = {1: (1, 1), 2: (1, 2), 3: (2, 1)}
    path = [(i, j)]
    while steps[i, j]:
        di, dj = back[int(steps[i, j])]
        i, j = i - di, j - dj
        path.append((i, j))
    return np.array(path[::-1])


def path_slope(path: np.ndarray, *, trim: float = 0.15) -> float:
    """Columns per row along an alignment path: a least-squares line through its middle.

    The ends are left out (``trim`` of the rows at each end): chroma smoothed over ~1 s blurs the
    first and last second of an excerpt, and the path compresses or stretches there.

    Examples
    --------
    >>> rows = np.arange(100)
    >>> path_slope(np.stack([rows, 30 + (rows * 1.5).astype(int)], axis=1))
    1.5
    """
    rows, cols = path[:, 0].astype(float), path[:, 1].astype(float)
    lo, hi = rows[0] + trim * (rows[-1] - rows[0]), rows[-1] - trim * (rows[-1] - rows[0])
    middle = (rows >= lo) & (rows <= hi)
    if middle.sum() < 2 or np.ptp(rows[middle]) == 0:
        middle = np.ones_like(rows, bool)
    if np.ptp(rows[middle]) == 0:
        return 1.0
    return round(float(np.polyfit(rows[middle], cols[middle], 1)[0]), 3)


def alignment_score(query: np.ndarray, reference: np.ndarray, *, rotations: int = ROTATIONS) -> float:
    """How well two ``(T, 12)`` unit-norm chroma sequences align, in [0, 1] (higher is closer).

    The score of :func:`align_sequences` (0 when a sequence is too short to align): one minus the mean
    cosine distance of frames along the best path.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = unit_frames(rng.random((40, 12)))
    >>> b = np.roll(np.repeat(a, 2, axis=0), 5, axis=1)  # half tempo, up a fourth
    >>> round(alignment_score(a, b), 3)
    1.0
    """
    found = align_sequences(query, reference, rotations=rotations, trace=False)
    return found.score if found is not None else 0.0


__all__ = ["FRAMES_PER_SECOND", "ChromaAlignment", "align_sequences", "alignment_score", "best_rotations",
           "chroma_sequence", "path_slope", "trace_back", "unit_frames"]
