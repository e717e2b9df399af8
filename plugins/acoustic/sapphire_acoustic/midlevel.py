"""``midlevel``: eight interpretable mid-level perceptual features in [0, 1], and :func:`describe_midlevel`.

The features follow Chowdhury, Vall, Haunschmid & Widmer, "Towards explainable music emotion
recognition: the route via mid-level features" (ISMIR 2019), after the mid-level perceptual
dataset of Aljanaki & Soleymani (2018). Those are *learned* from listener ratings; here each one
is computed from a documented signal proxy, so it is available for any track without a model and
search results can be explained in these words ("more dissonant", "more staccato"). A learned
predictor (:class:`sapphire_acoustic.midlevel_head.MidLevelHead`) can be trained on them.

=====================  ===============================================================  ==========================
feature                proxy                                                            mapping to [0, 1]
=====================  ===============================================================  ==========================
melodiousness          chroma peakiness: ``(max - 1/12) / (1 - 1/12)`` of the           as is (a single clear pitch
                       L1-normalised chroma, mean over sounding frames                  class = 1, noise = 0)
articulation           ``1 - median(min RMS / max RMS)`` over inter-onset intervals     as is (legato 0, staccato 1)
                       (staccato notes leave gaps between onsets)
rhythmic_complexity    entropy of onset phases within the beat (12 bins, onset-strength  ``H / log 12``
                       weighted)
rhythmic_stability     ``sqrt(pulse_clarity * beat_regularity)`` (see :mod:`.rhythm`)    as is
dissonance             per frame, the chroma-weighted mean dissonance of the pairs of   as is (one note 0, major
                       sounding pitch classes (>= half the frame's peak), weights from  triad 0.19, chromatic
                       Huron's (1994, Music Perception 11(3)) interval-class            cluster 0.77)
                       consonance values rescaled to [0, 1]; mean over frames
tonal_stability        ``(fraction of 10 s windows in the global key + clip(global key    as is
                       correlation, 0, 1)) / 2`` (Krumhansl-Schmuckler, see :mod:`.tonal`)
minorness              best minor minus best major key correlation                      ``sigmoid(diff / 0.1)``
onset_density          onsets per second ``d``                                          ``d / (d + 4)`` (4/s -> 0.5)
=====================  ===============================================================  ==========================
"""

from __future__ import annotations

import numpy as np

from sapphire_acoustic.common import CHUNK_SECONDS, HOP_LENGTH, SAMPLE_RATE, AcousticExtractor
from sapphire_core.explanation import Explanation

MIDLEVEL_NAMES = ("melodiousness", "articulation", "rhythmic_complexity", "rhythmic_stability", "dissonance",
                  "tonal_stability", "minorness", "onset_density")
#: Words :func:`describe_midlevel` uses below 1/3, up to 2/3 and above.
LEVELS = ("low", "medium", "high")
#: Huron (1994) interval-class consonance for ic1..ic6: m2/M7, M2/m7, m3/M6, M3/m6, P4/P5, tritone.
HURON_CONSONANCE = np.array([-1.428, -0.582, 0.594, 0.386, 1.240, -0.453])
#: Frames quieter than this (dB below the track's loudest frame) count as silent.
SILENCE_DB = 50.0


def interval_dissonance() -> np.ndarray:
    """``(12, 12)`` dissonance of each pitch-class pair: Huron's consonance mapped to [0, 1] (ic1 = 1, ic5 = 0)."""
    d_ic = (HURON_CONSONANCE.max() - HURON_CONSONANCE) / (HURON_CONSONANCE.max() - HURON_CONSONANCE.min())
    i = np.arange(12)
    ic = np.abs(i[:, None] - i[None, :]) % 12
    ic = np.minimum(ic, 12 - ic)
    out = np.zeros((12, 12))
    out[ic > 0] = d_ic[ic[ic > 0] - 1]
    return out


def frame_rms(audio: np.ndarray, *, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """RMS of consecutive non-overlapping ``hop_length`` blocks, computed in bounded memory."""
    n = audio.size // hop_length
    out = np.empty(max(n, 1), dtype=np.float32)
    if n == 0:
        out[0] = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
        return out
    step = 4096  # blocks per slice: squares of 2M samples at a time, not of the whole file
    for i in range(0, n, step):
        blk = audio[i * hop_length : min(n, i + step) * hop_length].astype(np.float64).reshape(-1, hop_length)
        out[i : i + blk.shape[0]] = np.sqrt(np.mean(blk * blk, axis=1))
    return out


def sounding(chroma: np.ndarray, rms: np.ndarray) -> np.ndarray:
    """Boolean mask of chroma frames that are not silent (within :data:`SILENCE_DB` of the loudest)."""
    t = min(chroma.shape[-1], rms.size)
    level = 20 * np.log10(np.maximum(rms[:t], 1e-10))
    mask = np.zeros(chroma.shape[-1], dtype=bool)
    mask[:t] = level > level.max() - SILENCE_DB
    return mask & (chroma.sum(axis=0) > 0)


def midlevel_values(chroma: np.ndarray, rhythm, rms: np.ndarray, *, sr: int = SAMPLE_RATE,
                    hop_length: int = HOP_LENGTH) -> np.ndarray:
    """The 8 values (in :data:`MIDLEVEL_NAMES` order) from chroma ``(12, T)``, a
    :class:`~sapphire_acoustic.rhythm.RhythmAnalysis` and frame RMS (see the module table)."""
    from sapphire_acoustic.tonal import key_correlations

    mask = sounding(chroma, rms)
    c = chroma[:, mask].astype(np.float64)
    c = c / np.maximum(c.sum(axis=0, keepdims=True), 1e-12)
    if c.shape[1]:
        melodious = float(np.mean((c.max(axis=0) - 1 / 12) / (1 - 1 / 12)))
        # Sounding pitch classes: within 6 dB of the frame's strongest, so leakage of one note into
        # neighbouring bins does not count as a semitone clash.
        active = np.where(chroma[:, mask] >= 0.5 * chroma[:, mask].max(axis=0, keepdims=True), c, 0.0)
        dmat = interval_dissonance()
        num = ((dmat @ active) * active).sum(axis=0)  # sum_ij a_i a_j d_ij (d_ii = 0)
        weight = active.sum(axis=0) ** 2 - (active**2).sum(axis=0)  # sum over i != j of a_i a_j
        per_frame = np.where(weight > 1e-12, num / np.maximum(weight, 1e-12), 0.0)
        dissonance = float(np.mean(per_frame))
    else:
        melodious, dissonance = 0.0, 0.0

    # Articulation: how far the level falls between consecutive onsets.
    frames = np.clip(np.round(rhythm.onsets * sr / hop_length).astype(int), 0, max(rms.size - 1, 0))
    frames = np.unique(frames)
    if frames.size >= 3:
        seg_max = np.maximum.reduceat(rms, frames)[:-1]
        seg_min = np.minimum.reduceat(rms, frames)[:-1]
        ok = seg_max > 1e-8
        articulation = float(1.0 - np.median(seg_min[ok] / seg_max[ok])) if ok.any() else 0.0
    else:
        articulation = 0.0

    # Rhythmic complexity: spread of onset positions within the beat.
    beats, onsets = rhythm.beats, rhythm.onsets
    if beats.size >= 2 and onsets.size >= 2:
        k = np.searchsorted(beats, onsets, side="right") - 1
        inside = (k >= 0) & (k < beats.size - 1)
        phase = (onsets[inside] - beats[k[inside]]) / np.maximum(np.diff(beats)[k[inside]], 1e-6)
        hist, _ = np.histogram((phase + 1 / 24) % 1.0, bins=12, range=(0, 1), weights=rhythm.onset_strength[inside])
        p = hist / max(hist.sum(), 1e-12)
        complexity = float(-(p[p > 0] * np.log(p[p > 0])).sum() / np.log(12)) if hist.sum() > 0 else 0.0
    else:
        complexity = 0.0
    stability = float(np.sqrt(max(rhythm.pulse_clarity, 0.0) * max(rhythm.beat_regularity, 0.0)))

    corr = key_correlations(chroma[:, mask].mean(axis=1)) if mask.any() else np.zeros(24)
    best = int(np.argmax(corr))
    win = max(1, int(10.0 * sr / hop_length))
    agree = []
    for w0 in range(0, chroma.shape[1], win):
        m = mask[w0 : w0 + win]
        if m.sum() >= win // 4 or (w0 == 0 and m.any()):
            agree.append(int(np.argmax(key_correlations(chroma[:, w0 : w0 + win][:, m].mean(axis=1)))) == best)
    tonal_stability = 0.5 * (float(np.mean(agree)) if agree else 0.0) + 0.5 * float(np.clip(corr[best], 0.0, 1.0))
    minorness = float(1.0 / (1.0 + np.exp(-(corr[12:].max() - corr[:12].max()) / 0.1))) if mask.any() else 0.5
    density = rhythm.onset_density
    values = [melodious, articulation, complexity, stability, dissonance, tonal_stability, minorness,
              density / (density + 4.0)]
    return np.clip(np.array(values, dtype=np.float32), 0.0, 1.0)


def describe_midlevel(values) -> dict[str, str]:
    """Words for the 8 mid-level values: ``"low"`` below 1/3, ``"medium"`` up to 2/3, ``"high"`` above.

    Examples
    --------
    >>> describe_midlevel([0.9, 0.1, 0.5, 0.5, 0.8, 0.5, 0.2, 0.4])["dissonance"]
    'high'
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size != len(MIDLEVEL_NAMES):
        from sapphire_core.errors import ConfigError

        raise ConfigError(f"describe_midlevel needs {len(MIDLEVEL_NAMES)} values ({', '.join(MIDLEVEL_NAMES)}), "
                          f"got {v.size}; pass the 'midlevel.values' feature of one track")
    return {name: LEVELS[0] if x < 1 / 3 else LEVELS[1] if x <= 2 / 3 else LEVELS[2]
            for name, x in zip(MIDLEVEL_NAMES, v)}


def analyze_midlevel(audio: np.ndarray, *, sr: int = SAMPLE_RATE, backend: str = "torch", device: str = "cpu",
                     chunk_seconds: float = CHUNK_SECONDS) -> np.ndarray:
    """The 8 mid-level values of ``audio`` (see the module table)."""
    from sapphire_acoustic.rhythm import analyze_rhythm
    from sapphire_acoustic.tonal import chroma_and_cens

    audio = np.asarray(audio, dtype=np.float32)
    chroma, _ = chroma_and_cens(audio, sr=sr, backend=backend, device=device, chunk_seconds=chunk_seconds)
    rhythm = analyze_rhythm(audio, sr=sr, backend=backend, device=device, chunk_seconds=chunk_seconds)
    return midlevel_values(chroma, rhythm, frame_rms(audio), sr=sr)


class MidLevel(AcousticExtractor):
    """Eight interpretable mid-level perceptual features in [0, 1] (Chowdhury & Widmer), from signal proxies."""

    name = "midlevel"
    version = "1"
    interpretable = {"values": MIDLEVEL_NAMES}

    def output_shapes(self):
        return {"values": (len(MIDLEVEL_NAMES),)}

    def extract(self, audio, track):
        c = self.config
        return {"values": analyze_midlevel(audio, sr=self.sample_rate, backend=c.backend, device=c.device,
                                           chunk_seconds=c.chunk_seconds)}


class MidLevelExplanation(Explanation):
    """Mid-level features of query and result side by side, beside every search result."""

    name = "midlevel"
    extractor = "midlevel"
    output = "values"
    #: "result more <adjective>" (the feature names of Aljanaki & Soleymani 2018).
    adjectives = {"melodiousness": "melodious", "articulation": "articulated",
                  "rhythmic_complexity": "rhythmically complex", "rhythmic_stability": "rhythmically stable",
                  "dissonance": "dissonant", "tonal_stability": "tonally stable", "minorness": "minor-sounding"}
    #: The key's mode from the metadata says minorness more plainly.
    said_by_metadata = {"minorness": "mode"}
