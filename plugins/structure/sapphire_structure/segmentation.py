"""Section boundaries (Foote checkerboard novelty) and section labels (Laplacian segmentation).

References
----------
Foote, J. (2000). Automatic audio segmentation using a measure of audio novelty. ICME.
McFee, B. & Ellis, D. P. W. (2014). Analyzing song structure with spectral clustering. ISMIR.
Serrà, J., Müller, M., Grosche, P. & Arcos, J. L. (2014). Unsupervised music structure
annotation by time series structure features and segment similarity. IEEE Trans. Multimedia.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from sapphire_structure.features import BeatFeatures, beat_features
from sapphire_structure.ssm import cosine_ssm, path_enhance, recurrence_matrix, self_similarity, stack_memory

#: Names of the entries of the ``segments.summary`` vector, in order.
SEGMENT_SUMMARY_NAMES: tuple[str, ...] = (
    "n_sections",            # number of sections
    "mean_section_s",        # mean section duration (s)
    "std_section_s",         # std of section durations (s)
    "min_section_s",         # shortest section (s)
    "max_section_s",         # longest section (s)
    "n_labels",              # number of distinct section labels (A, B, ...)
    "repetition_ratio",      # fraction of the duration in sections whose label occurs more than once
    "label_entropy",         # entropy (bits) of the duration share of each label
    "first_label_share",     # duration share of the opening section's label (e.g. the "A" of AABA)
    "return_to_first",       # 1 if the last section has the label of the first (ternary/rondo forms)
    "mean_novelty",          # mean of the normalised novelty curve
    "boundary_strength",     # mean novelty at the chosen boundaries
)


#: Width of the Gaussian kernel turning section alignment into affinity (see :func:`section_affinity`).
REPEAT_SCALE = 0.25
#: Section affinities below this (an excess alignment under ~60 %) are no edge in the label graph.
MIN_EDGE = 0.1
#: A section alignment must cover at least this fraction of the shorter section.
MIN_COVER = 0.75


@dataclass(frozen=True)
class Segmentation:
    """The structure of one track.

    Attributes
    ----------
    boundaries : np.ndarray
        Section edges in seconds, starting at 0 and ending at the duration.
    labels : list of str
        One label per section, ``"A"``, ``"B"``, ... in order of first appearance.
    novelty : np.ndarray
        ``(T,)`` novelty per beat, scaled to max 1.
    beat_times : np.ndarray
        ``(T + 1,)`` beat edges in seconds.
    boundary_beats : np.ndarray
        Indices into the beat grid of ``boundaries``.
    """

    boundaries: np.ndarray
    labels: list[str]
    novelty: np.ndarray
    beat_times: np.ndarray
    boundary_beats: np.ndarray

    def intervals(self) -> list[tuple[float, float, str]]:
        """``[(start, end, label), ...]``."""
        return [(float(a), float(b), lab) for a, b, lab in zip(self.boundaries[:-1], self.boundaries[1:], self.labels)]


def checkerboard_kernel(half_width: int) -> np.ndarray:
    """Foote's Gaussian-tapered checkerboard kernel of size ``2 * half_width`` (Foote 2000, eq. 1).

    +1 quadrants compare the past with itself and the future with itself, -1 quadrants compare
    past with future, so correlating it along the SSM diagonal peaks where one homogeneous
    block ends and another begins.
    """
    w = max(1, int(half_width))
    idx = np.arange(-w, w) + 0.5
    sign = np.sign(idx)
    taper = np.exp(-0.5 * (idx / (0.5 * w)) ** 2)
    return np.outer(sign * taper, sign * taper)


def foote_novelty(ssm: np.ndarray, *, half_width: int) -> np.ndarray:
    """Novelty per frame: the checkerboard kernel correlated along the diagonal of ``ssm``
    (mirror-padded at the edges), negative values clipped."""
    kernel = checkerboard_kernel(half_width)
    w = kernel.shape[0] // 2
    t = ssm.shape[0]
    # Mirror padding: at the edges the "past" mirrors the "future", so no spurious boundary
    # peaks there (zero padding makes the first and last frames the most novel of all).
    padded = np.pad(ssm, w, mode="symmetric")
    nov = np.array([np.sum(kernel * padded[i : i + 2 * w, i : i + 2 * w]) for i in range(t)])
    return np.maximum(nov, 0.0)


def structure_features(r: np.ndarray, *, smooth: float = 1.0) -> np.ndarray:
    """Serrà et al. (2014) structure features: column ``i`` is row ``i`` of the recurrence matrix
    in circular time-lag form, smoothed over time. They change where the *repetition* pattern
    changes, e.g. between two back-to-back statements of the same phrase, which a
    homogeneity-based novelty cannot see."""
    from scipy.ndimage import gaussian_filter1d

    t = r.shape[0]
    idx = (np.arange(t)[:, None] + np.arange(t)[None, :]) % t
    lag = r[np.arange(t)[:, None], idx]
    return gaussian_filter1d(lag, sigma=smooth, axis=0).T


def _normalise(x: np.ndarray) -> np.ndarray:
    m = float(np.max(x)) if x.size else 0.0
    return x / m if m > 0 else np.zeros_like(x)


def novelty_curve(bf: BeatFeatures, *, half_width: int = 8) -> np.ndarray:
    """Combined boundary novelty per beat, scaled to max 1.

    Foote's checkerboard kernel is run over two SSMs and the normalised curves averaged: the
    chroma + timbre SSM (changes of sound, Foote 2000) and the SSM of structure features
    (changes of what repeats, Serrà et al. 2014), so both contrasting and repeated sections
    get a boundary.
    """
    t = bf.n_beats
    if t < 4:
        return np.zeros(t)
    w = max(2, min(half_width, t // 4))
    homogeneity = foote_novelty(self_similarity(bf), half_width=w)
    rec = _repetition_graph(bf)
    repetition = foote_novelty(cosine_ssm(structure_features(rec)), half_width=w)
    return _normalise(0.5 * _normalise(homogeneity) + 0.5 * _normalise(repetition))


def _repetition_graph(bf: BeatFeatures) -> np.ndarray:
    x = stack_memory(bf.chroma.astype(np.float64), 4)
    x = x / np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-9)
    return path_enhance(recurrence_matrix(x), width=5)


def pick_boundaries(novelty: np.ndarray, *, min_gap: int, threshold: float = 0.25) -> np.ndarray:
    """Peaks of ``novelty`` that are the maximum within ``±min_gap`` beats and above
    ``mean + threshold * std`` of the curve, strongest first kept (non-maximum suppression)."""
    t = novelty.size
    if t < 3:
        return np.array([], dtype=int)
    floor = novelty.mean() + threshold * novelty.std()
    cand = [i for i in range(1, t - 1) if novelty[i] >= novelty[i - 1] and novelty[i] >= novelty[i + 1]
            and novelty[i] > floor]
    chosen: list[int] = []
    for i in sorted(cand, key=lambda i: (-novelty[i], i)):
        if i >= min_gap and t - i >= min_gap and all(abs(i - j) >= min_gap for j in chosen):
            chosen.append(i)
    return np.array(sorted(chosen), dtype=int)


def snap_to_onsets(peaks: np.ndarray, onsets: np.ndarray, novelty: np.ndarray, *, radius: int = 1,
                   ratio: float = 1.5) -> np.ndarray:
    """Move each boundary beat to a neighbour (within ``radius`` beats) whose onset is at least
    ``ratio`` times stronger (the one of higher ``novelty`` when there are two).

    Novelty computed over several beats is blurred by a beat or so where a chord is held across
    the boundary; sections almost always start with an attack (a downbeat), so a much stronger
    onset next door is the better estimate.
    """
    t = onsets.size
    out = []
    for p in peaks:
        cands = [c for c in range(max(1, p - radius), min(t - 1, p + radius) + 1)
                 if c == p or onsets[c] > ratio * onsets[p]]
        # Between several much stronger onsets, the novelty decides.
        out.append(p if len(cands) == 1 else max((c for c in cands if c != p), key=lambda c: (novelty[c], -c)))
    return np.array(sorted(set(out)), dtype=int)


def section_affinity(rec: np.ndarray, boundary_beats: np.ndarray) -> np.ndarray:
    """``(n, n)`` affinity of the sections between ``boundary_beats``, from the recurrence graph.

    A repeated section shows in the block of ``rec`` for two sections as one long diagonal
    stripe (McFee & Ellis 2014, sec. 3.1), a different one as scattered points. The alignment
    score of sections ``i`` and ``j`` is the best fraction of recurring beats along a diagonal
    covering at least ``MIN_COVER`` of the shorter section, taken in excess of the block's
    overall recurrence density (what chance alignment gives): ``(best - mean) / (1 - mean)``.
    """
    n = len(boundary_beats) - 1
    hit = rec > 0
    score = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            block = hit[boundary_beats[i] : boundary_beats[i + 1], boundary_beats[j] : boundary_beats[j + 1]]
            li, lj = block.shape
            need = MIN_COVER * min(li, lj)
            best = 0.0
            for d in range(-(li - 1), lj):
                diag = np.diagonal(block, offset=d)
                if diag.size >= need:
                    best = max(best, float(diag.mean()))
            chance = float(block.mean())
            score[i, j] = score[j, i] = max(0.0, best - chance) / max(1.0 - chance, 1e-9)
    # Gaussian kernel on the unaligned fraction: sections count as repeats from ~75 % aligned
    # recurring beats; chance-level alignments of unrelated sections vanish.
    return np.exp(-(((1.0 - score) / REPEAT_SCALE) ** 2))


def spectral_labels(aff: np.ndarray, *, max_labels: int = 6) -> np.ndarray:
    """Cluster the nodes of a small affinity graph: k from the largest eigen-gap of the normalised
    Laplacian, then k-means on the row-normalised eigenvectors (Ng, Jordan & Weiss 2002; the
    clustering McFee & Ellis 2014 apply to their structure graph).

    Returns
    -------
    np.ndarray
        ``(n,)`` integer cluster per node.
    """
    n = aff.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=int)
    a = np.array(aff, dtype=np.float64)
    np.fill_diagonal(a, 0.0)
    # Drop negligible edges: normalisation by the degree would otherwise make a node's only,
    # very weak links look strong and merge a one-off section into a repeated one.
    a[a < MIN_EDGE] = 0.0
    deg = a.sum(axis=1)
    isolated = deg < 1e-9
    dinv = np.where(isolated, 0.0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)))
    # Chung's normalised Laplacian: an isolated node has L_ii = 0, i.e. it is its own component.
    lap = np.diag((~isolated).astype(np.float64)) - dinv[:, None] * a * dinv[None, :]
    evals, evecs = np.linalg.eigh(lap)
    kmax = min(max_labels, n)
    # Eigenvalues lie in [0, 2]; padding with 2 lets "every section different" (k = n) win.
    ext = np.append(evals, 2.0) if kmax == n else evals
    gaps = np.diff(ext[: kmax + 1])
    k = int(np.argmax(gaps)) + 1
    if k <= 1:
        return np.zeros(n, dtype=int)
    if k >= n:
        return np.arange(n)
    x = evecs[:, :k]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    return _kmeans(x, k)


def _kmeans(x: np.ndarray, k: int, *, seed: int = 0, n_init: int = 8) -> np.ndarray:
    from scipy.cluster.vq import kmeans2

    best, best_cost = None, np.inf
    rng = np.random.default_rng(seed)
    for _ in range(n_init):
        centroids, labels = kmeans2(x, k, minit="++", seed=rng)
        cost = float(np.sum((x - centroids[labels]) ** 2))
        if cost < best_cost:
            best, best_cost = labels, cost
    return best


def label_segments(bf: BeatFeatures, boundary_beats: np.ndarray, *, max_labels: int = 6) -> list[str]:
    """Label the sections between ``boundary_beats`` (beat indices including 0 and T).

    Sections are spectrally clustered on their recurrence affinity (:func:`section_affinity`,
    :func:`spectral_labels`); clusters are named A, B, ... in order of first appearance.
    """
    n_sections = len(boundary_beats) - 1
    if n_sections <= 1 or bf.n_beats < 8:
        return ["A"] * max(n_sections, 0)
    clusters = spectral_labels(section_affinity(_repetition_graph(bf), boundary_beats), max_labels=max_labels)
    names: dict[int, str] = {}
    for c in clusters:
        names.setdefault(int(c), _label_name(len(names)))
    return [names[int(c)] for c in clusters]


def _label_name(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else f"{letters[i % 26]}{i // 26}"


def segment_features(bf: BeatFeatures, *, min_section_seconds: float = 4.0, half_width_seconds: float = 4.0,
                     threshold: float = 0.25, max_labels: int = 6) -> Segmentation:
    """Segment a track given its beat features (see :func:`segment`)."""
    beat_len = float(np.median(np.diff(bf.times))) if bf.n_beats else 1.0
    novelty = novelty_curve(bf, half_width=max(2, int(round(half_width_seconds / beat_len))))
    min_gap = max(1, int(round(min_section_seconds / beat_len)))
    peaks = snap_to_onsets(pick_boundaries(novelty, min_gap=min_gap, threshold=threshold), bf.onsets, novelty)
    boundary_beats = np.concatenate([[0], peaks, [bf.n_beats]]).astype(int)
    labels = label_segments(bf, boundary_beats, max_labels=max_labels)
    return Segmentation(boundaries=bf.times[boundary_beats], labels=labels, novelty=novelty,
                        beat_times=bf.times, boundary_beats=boundary_beats)


def segment(audio: np.ndarray, sr: int, *, min_section_seconds: float = 4.0, half_width_seconds: float = 4.0,
            threshold: float = 0.25, max_labels: int = 6) -> list[tuple[float, float, str]]:
    """Find the sections of a piece and label repeats alike.

    Boundaries are peaks of Foote checkerboard novelty over the beat-synchronous SSM (plus the
    same kernel over repetition structure features, so back-to-back repeats are split); labels
    come from spectral clustering of the McFee & Ellis (2014) recurrence graph.

    Parameters
    ----------
    audio : np.ndarray
        Mono samples.
    sr : int
        Sample rate.
    min_section_seconds : float
        No two boundaries closer than this.
    half_width_seconds : float
        Half the checkerboard kernel's width: the time scale of the sections looked for.
    threshold : float
        A novelty peak must exceed ``mean + threshold * std`` of the curve.
    max_labels : int
        Most distinct labels.

    Returns
    -------
    list of (float, float, str)
        ``(start_s, end_s, label)`` per section, covering the whole track, labels ``"A"``,
        ``"B"``, ... in order of first appearance.

    Examples
    --------
    >>> sections = segment(audio, 22050)  # doctest: +SKIP
    >>> [lab for _, _, lab in sections]  # doctest: +SKIP
    ['A', 'A', 'B', 'A']
    """
    bf = beat_features(audio, sr=sr)
    return segment_features(bf, min_section_seconds=min_section_seconds, half_width_seconds=half_width_seconds,
                            threshold=threshold, max_labels=max_labels).intervals()


def segment_summary(seg: Segmentation) -> np.ndarray:
    """The ``(len(SEGMENT_SUMMARY_NAMES),)`` summary of a segmentation (see the names' comments)."""
    durs = np.diff(seg.boundaries)
    total = float(durs.sum()) or 1.0
    labels = seg.labels
    share: dict[str, float] = {}
    count: dict[str, int] = {}
    for lab, d in zip(labels, durs):
        share[lab] = share.get(lab, 0.0) + float(d) / total
        count[lab] = count.get(lab, 0) + 1
    p = np.array([s for s in share.values() if s > 0])
    inner = seg.boundary_beats[1:-1]
    values = {
        "n_sections": float(len(labels)),
        "mean_section_s": float(durs.mean()) if durs.size else 0.0,
        "std_section_s": float(durs.std()) if durs.size else 0.0,
        "min_section_s": float(durs.min()) if durs.size else 0.0,
        "max_section_s": float(durs.max()) if durs.size else 0.0,
        "n_labels": float(len(share)),
        "repetition_ratio": float(sum(s for lab, s in share.items() if count[lab] > 1)),
        "label_entropy": float(-(p * np.log2(p)).sum()) if p.size else 0.0,
        "first_label_share": share.get(labels[0], 0.0) if labels else 0.0,
        "return_to_first": float(len(labels) > 1 and labels[-1] == labels[0]),
        "mean_novelty": float(seg.novelty.mean()) if seg.novelty.size else 0.0,
        "boundary_strength": float(seg.novelty[inner].mean()) if inner.size else 0.0,
    }
    return np.array([values[name] for name in SEGMENT_SUMMARY_NAMES], dtype=np.float32)


def boundary_profile(seg: Segmentation, n_bins: int) -> np.ndarray:
    """``(2, n_bins)`` picture of the form on a normalised time axis: row 0 the novelty curve
    (max-pooled into bins), row 1 the label-change indicator (1 in the bin holding a boundary
    between two *differently* labelled sections, 0.5 between two repeats of one label)."""
    from sapphire_structure.features import resize_vector

    out = np.zeros((2, n_bins), dtype=np.float32)
    if seg.novelty.size:
        out[0] = resize_vector(seg.novelty, n_bins, reduce="max")
    duration = float(seg.boundaries[-1]) or 1.0
    for i, b in enumerate(seg.boundaries[1:-1], start=1):
        idx = min(n_bins - 1, int(b / duration * n_bins))
        out[1, idx] = max(out[1, idx], 1.0 if seg.labels[i] != seg.labels[i - 1] else 0.5)
    return out
