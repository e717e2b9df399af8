"""Chord recognition from chroma: template matching smoothed by an HMM (Viterbi decoding).

References
----------
Fujishima, T. (1999). Realtime chord recognition of musical sound: a system using Common Lisp
Music. ICMC. (binary chord templates over pitch-class profiles)
Bello, J. P. & Pickens, J. (2005). A robust mid-level representation for harmonic content in
music signals. ISMIR. (HMM smoothing of chord sequences)
Cho, T. & Bello, J. P. (2014). On the relative importance of individual components of chord
recognition systems. IEEE/ACM TASLP. (a self-transition prior matters more than the rest)
"""

from __future__ import annotations

import numpy as np

from sapphire_structure.features import BeatFeatures, beat_features

#: Pitch-class names used in chord labels (mir_eval syntax accepts both spellings).
PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: Chord qualities and their intervals above the root (semitones), in mir_eval shorthand.
QUALITIES: dict[str, tuple[int, ...]] = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10)}
NO_CHORD = "N"


def chord_vocabulary() -> list[str]:
    """All chord labels, ``"C:maj", ..., "B:7"``, then ``"N"`` (the state order of the HMM)."""
    return [f"{root}:{q}" for q in QUALITIES for root in PITCH_CLASSES] + [NO_CHORD]


def chord_templates() -> np.ndarray:
    """``(36, 12)`` unit-norm binary templates, rows in :func:`chord_vocabulary` order (no ``N``)."""
    rows = []
    for intervals in QUALITIES.values():
        for root in range(12):
            t = np.zeros(12)
            t[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(t / np.linalg.norm(t))
    return np.array(rows)


def parse_chord(label: str) -> tuple[int, str] | None:
    """``"F#:min"`` -> ``(6, "min")``; ``None`` for ``"N"``."""
    if label == NO_CHORD:
        return None
    root, quality = label.split(":")
    return PITCH_CLASSES.index(root), quality


def viterbi(log_obs: np.ndarray, log_trans: np.ndarray, log_init: np.ndarray | None = None) -> np.ndarray:
    """Most likely state path of an HMM, in the log domain.

    Parameters
    ----------
    log_obs : np.ndarray
        ``(S, T)`` log observation likelihoods.
    log_trans : np.ndarray
        ``(S, S)`` log transition probabilities, ``[from, to]``.
    log_init : np.ndarray, optional
        ``(S,)`` log initial probabilities (uniform by default).

    Returns
    -------
    np.ndarray
        ``(T,)`` state indices.
    """
    n_states, t = log_obs.shape
    if t == 0:
        return np.zeros(0, dtype=int)
    if log_init is None:
        log_init = np.full(n_states, -np.log(n_states))
    back = np.zeros((t, n_states), dtype=np.int32)
    score = log_init + log_obs[:, 0]
    for i in range(1, t):
        cand = score[:, None] + log_trans
        back[i] = np.argmax(cand, axis=0)
        score = cand[back[i], np.arange(n_states)] + log_obs[:, i]
    path = np.zeros(t, dtype=int)
    path[-1] = int(np.argmax(score))
    for i in range(t - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def decode_chords(chroma: np.ndarray, energy: np.ndarray, *, frame_seconds: float, sharpness: float = 20.0,
                  expected_chord_seconds: float = 1.5, no_chord_level: float = 0.5,
                  silence_db: float = -40.0) -> np.ndarray:
    """State index (into :func:`chord_vocabulary`) per chroma frame.

    Observation log-likelihood is ``sharpness * cosine(chroma, template)`` (a soft-max over
    templates, Fujishima 1999); ``N`` scores ``sharpness * no_chord_level``, and wins outright
    on frames ``silence_db`` below the loudest. The transition matrix keeps the chord with
    probability ``1 - frame_seconds / expected_chord_seconds`` (the self-transition prior of
    Cho & Bello 2014), other chords equally likely.
    """
    templates = chord_templates()
    norm = np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    cos = templates @ (chroma / norm)
    n_states = templates.shape[0] + 1
    db = 10 * np.log10(np.maximum(energy, 1e-12) / max(float(np.max(energy)), 1e-12))
    no_chord = np.where(db < silence_db, 2.0, no_chord_level)
    log_obs = sharpness * np.vstack([cos, no_chord[None, :]])
    p_change = min(0.5, frame_seconds / max(expected_chord_seconds, frame_seconds))
    trans = np.full((n_states, n_states), p_change / (n_states - 1))
    np.fill_diagonal(trans, 1.0 - p_change)
    return viterbi(log_obs, np.log(trans))


def chord_segments_from_features(bf: BeatFeatures, energy: np.ndarray, **kwargs) -> list[tuple[float, float, str]]:
    """Chord segments of a track given its :class:`BeatFeatures` and per-frame energy."""
    vocab = chord_vocabulary()
    frame_seconds = bf.hop_length / bf.sr
    chroma = bf.frame_chroma
    energy = energy[: chroma.shape[1]]
    if energy.size < chroma.shape[1]:
        energy = np.pad(energy, (0, chroma.shape[1] - energy.size))
    path = decode_chords(chroma, energy, frame_seconds=frame_seconds, **kwargs)
    out: list[tuple[float, float, str]] = []
    start = 0
    duration = bf.duration
    for i in range(1, path.size + 1):
        if i == path.size or path[i] != path[start]:
            a, b = start * frame_seconds, min(i * frame_seconds, duration)
            if b > a:
                out.append((a, b, vocab[path[start]]))
            start = i
    return out


def frame_energy(audio: np.ndarray, *, hop_length: int, frame_length: int = 2048) -> np.ndarray:
    """Mean-square energy of centred ``frame_length`` windows every ``hop_length`` samples (the
    frames of librosa's centred analyses: ``1 + len // hop_length`` of them).

    Computed from per-hop sums, so memory stays at one copy of the signal (framing it with
    ``librosa.feature.rms`` materialises ``frame_length / hop_length`` copies).
    """
    y = np.asarray(audio, dtype=np.float32)
    n_frames = 1 + y.size // hop_length
    k = max(1, int(round(frame_length / hop_length)))
    n_hops = n_frames + k
    sq = np.zeros(n_hops * hop_length, dtype=np.float32)
    sq[: y.size] = y * y
    hop_sums = sq.reshape(n_hops, hop_length).sum(axis=1, dtype=np.float64)
    # Frame i spans hops i - k/2 .. i + k/2 - 1.
    padded = np.concatenate([np.zeros(k // 2), hop_sums])
    csum = np.concatenate([[0.0], np.cumsum(padded)])
    idx = np.arange(n_frames)
    return (csum[idx + k] - csum[idx]) / (k * hop_length)


def recognise_chords(audio: np.ndarray, sr: int, *, expected_chord_seconds: float = 1.5,
                     sharpness: float = 20.0) -> list[tuple[float, float, str]]:
    """Recognise the chord sequence of a piece.

    Major, minor and dominant-seventh templates are matched against CQT chroma
    (Fujishima 1999) and the sequence is smoothed by Viterbi decoding of an HMM with a strong
    self-transition (Bello & Pickens 2005; Cho & Bello 2014).

    Parameters
    ----------
    audio, sr : np.ndarray, int
        Mono samples and their sample rate.
    expected_chord_seconds : float
        Typical chord duration; sets the HMM's self-transition probability.
    sharpness : float
        Inverse temperature of the template-matching likelihood.

    Returns
    -------
    list of (float, float, str)
        ``(start_s, end_s, label)`` with labels in mir_eval syntax (``"C:maj"``, ``"A:min"``,
        ``"G:7"``, ``"N"`` for no chord), consecutive labels distinct.

    Examples
    --------
    >>> from sapphire_core.testing.signals import chord
    >>> recognise_chords(chord([60, 64, 67], sr=22050), 22050)[0][2]
    'C:maj'
    """
    bf = beat_features(audio, sr=sr)
    energy = frame_energy(audio, hop_length=bf.hop_length)
    return chord_segments_from_features(bf, energy, expected_chord_seconds=expected_chord_seconds,
                                        sharpness=sharpness)
