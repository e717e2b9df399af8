"""Melodies for query by humming: what a hum and a catalogue track are reduced to before matching.

A melody is fractional MIDI pitch every :data:`FRAME_SECONDS` over the sounding span (rests hold the
previous pitch). A catalogue track additionally gets pitch-class *affinities*: how well each pitch
class fits each frame, so that matching can follow the tune when it is not the top voice; from a mix,
one ``(T, 12)`` affinity per candidate line (:data:`LINES`), and a hum is matched against the line
it fits best.

* A hum (monophonic): CREPE (:func:`melody_from_audio` with ``method="crepe"``).
* A mix: basic-pitch's note posteriorgram (:func:`track_melody`, the default ``method="basic_pitch"``),
  its top voice as the melody and every active note in the affinities, one with the top voice
  weighted highest and one with the second voice (:func:`posteriorgram_affinity`). The older harmonic-summation salience (``method="salience"``) is
  kept for comparison: on the 84 demo hums against all 168 demo tracks (DTW over every track) the
  basic-pitch affinity reaches MRR 0.90, the salience affinity 0.74.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sapphire_core.errors import ConfigError

from sapphire_vocal.contour import fill_unvoiced, fold_octave_errors, voiced_mask
from sapphire_vocal.matching import folded_distance, tuning_offset

#: Frame hop of the melodies that are matched (s). 50 ms resolves notes down to ~1/16 at 150 bpm.
FRAME_SECONDS = 0.05
#: Octave-folded pitch distances are clipped here (semitones): a wrong note costs the same
#: whether it is 3 or 6 semitones off, so one bad region cannot swamp a good match.
MAX_SEMITONES = 3.0
#: How a hum or track melody is extracted: ``crepe`` (monophonic), ``basic_pitch`` and
#: ``salience`` (polyphonic mixes).
METHODS = ("crepe", "basic_pitch", "salience")
#: basic-pitch note activation above which a note counts as sounding (the reference decoder's
#: frame threshold), and the weight of the notes below the top voice in the affinity.
NOTE_THRESHOLD = 0.3
OTHER_VOICES = 0.6
#: Candidate lines a mix is indexed by: affinities privileging the highest and the second-highest
#: sounding note. On the demo corpus the tune sounds in 91% of its frames but is the top voice in
#: only 72% (a descant above a chorale tune, a crossing inner voice). Matching a hum against the
#: better of the two lines (DTW over all 168 tracks) lifted the project hums' MRR from 0.894 / 0.898
#: to 0.919 / 0.930 (both halves); sung queries moved 0.818 -> 0.794 (seed 0) and 0.836 -> 0.840
#: (seed 1000); on the held-out eval_unseen corpus (225 tracks, 100-track shortlist) hums 0.928 ->
#: 0.949, sung 0.856 -> 0.857. The second line alone reached MRR 0.5-0.65; a third added nothing.
LINES = 2


@dataclass
class TrackMelody:
    """What a catalogue track is indexed by: its melody (top voice) and pitch-class affinity,
    both over the same frames (:data:`FRAME_SECONDS`), spanning the first to the last sounding frame.
    The affinity is ``(T, 12)`` for one line or ``(L, T, 12)`` for ``L`` candidate lines (a mix by
    basic-pitch: :data:`LINES`); matching takes the line a query fits best."""

    melody: np.ndarray  # (T,) float MIDI
    affinity: np.ndarray  # (T, 12) or (L, T, 12) float32 in [0, 1]


# --------------------------------------------------------------------------- monophonic (hums)
def melody_from_audio(
    audio: np.ndarray,
    sr: int,
    *,
    method: str = "crepe",
    model: str | None = None,
    hop_seconds: float = 0.025,
    voicing_threshold: float = 0.5,
    separate: bool = False,
    device: str | None = None,
) -> np.ndarray:
    """The melody used for matching: fractional MIDI pitch every :data:`FRAME_SECONDS`.

    The array spans the first to the last voiced frame; rests and breaths hold the previous
    pitch (what matters for matching is the note sequence and its timing, not the silences).

    Parameters
    ----------
    audio : np.ndarray
        Mono samples.
    sr : int
        Their sample rate.
    method : {"crepe", "basic_pitch", "salience"}
        ``crepe`` for a monophonic input (a hum, a sung line, a separated stem); ``basic_pitch`` or
        ``salience`` for a polyphonic mix (its top voice; see :func:`track_melody`).
    model, device : str, optional
        CREPE model (``tiny``/``full``) and torch device; defaults as in
        :func:`sapphire_vocal.crepe.track_pitch`.
    hop_seconds : float
        CREPE hop (frames are then pooled to :data:`FRAME_SECONDS`).
    voicing_threshold : float
        CREPE confidence above which a frame is voiced.
    separate : bool
        Run the default lead-stem separator first (for ``crepe`` on a mix).

    Returns
    -------
    np.ndarray
        ``(T,)`` float64 MIDI pitches; empty when nothing is voiced.

    Raises
    ------
    ConfigError
        For an unknown ``method``.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown melody method {method!r}; choose one of {', '.join(METHODS)}")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if separate:
        from sapphire_vocal.separation import separate_lead

        audio = separate_lead(audio, sr)
    if method != "crepe":
        return track_melody(audio, sr, method=method).melody
    from sapphire_vocal import crepe

    cents, conf = crepe.track_pitch(audio, sr, model=model, hop_seconds=hop_seconds, device=device)
    voiced = voiced_mask(conf, threshold=voicing_threshold)
    midi = fold_octave_errors(crepe.cents_to_midi(cents), voiced)
    return _pool_frames(midi, voiced, hop_seconds)


def _pool_frames(midi: np.ndarray, voiced: np.ndarray, hop_seconds: float) -> np.ndarray:
    """Median of the voiced frames within each FRAME_SECONDS block (blocks by time, so any hop
    works); gaps and ends as in :func:`fill_unvoiced`."""
    n = int(np.ceil(len(midi) * hop_seconds / FRAME_SECONDS))
    edges = np.round(np.arange(n + 1) * FRAME_SECONDS / hop_seconds).astype(int)
    pooled = np.zeros(n)
    pv = np.zeros(n, dtype=bool)
    for j in range(n):
        a, b = edges[j], max(edges[j + 1], edges[j] + 1)
        v = voiced[a:b]
        if v.size and v.mean() >= 0.5:
            pooled[j] = np.median(midi[a:b][v])
            pv[j] = True
    return fill_unvoiced(pooled, pv)


# --------------------------------------------------------------------------- polyphonic (tracks)
def track_melody(audio: np.ndarray, sr: int, *, method: str = "basic_pitch", threads: int = 0,
                 backend: str | None = None) -> TrackMelody:
    """Melody and pitch-class affinity of a catalogue track (a full mix).

    Parameters
    ----------
    audio : np.ndarray
        Mono samples.
    sr : int
        Their sample rate.
    method : {"basic_pitch", "salience", "crepe"}
        ``basic_pitch`` (default): :func:`posteriorgram_affinity` of basic-pitch's note posteriorgram;
        ``salience``: harmonic summation (:func:`pitch_class_affinity`); ``crepe``: a monophonic
        track (the affinity of its single line).
    threads : int
        Threads of basic-pitch's network (0: the default).
    backend : str, optional
        What runs basic-pitch (:data:`sapphire_vocal.basic_pitch.BACKENDS`; default torch).

    Returns
    -------
    TrackMelody

    Raises
    ------
    ConfigError
        For an unknown ``method``.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown melody method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "basic_pitch":
        return melody_from_posteriorgram(note_posteriorgram(audio, sr, threads=threads, backend=backend))
    if method == "salience":
        melody = polyphonic_melody(audio, sr)
        affinity = pitch_class_affinity(audio, sr)
        n = min(len(melody), len(affinity))
        return TrackMelody(melody[:n], affinity[:n])
    melody = melody_from_audio(audio, sr, method="crepe")
    return TrackMelody(melody, melody_affinity(melody))


def note_posteriorgram(audio: np.ndarray, sr: int, *, threads: int = 0, backend: str | None = None) -> np.ndarray:
    """basic-pitch's ``(T, 88)`` note posteriorgram of a mix pooled onto :data:`FRAME_SECONDS` frames:
    what :func:`melody_from_posteriorgram` derives a track's melody from (arguments as :func:`track_melody`)."""
    from sapphire_vocal import basic_pitch

    note = basic_pitch.posteriorgrams(audio, sr, threads=threads, outputs=("note",),
                                      backend=backend or basic_pitch.DEFAULT_BACKEND)["note"]
    return pool_posteriorgram(note, basic_pitch.FRAME_SECONDS)


def pool_posteriorgram(post: np.ndarray, frame_seconds: float) -> np.ndarray:
    """Max-pool a ``(T, bins)`` posteriorgram with frames centred at ``k * frame_seconds`` onto
    :data:`FRAME_SECONDS` frames (a note shorter than a frame still shows)."""
    post = np.asarray(post, dtype=np.float32)
    if post.shape[0] == 0:
        return post
    idx = _pooled_rows(0, post.shape[0], frame_seconds)
    out = np.zeros((int(idx[-1]) + 1, post.shape[1]), dtype=np.float32)
    np.maximum.at(out, idx, post)
    return out


def _pooled_rows(first: int, n: int, frame_seconds: float) -> np.ndarray:
    """The :data:`FRAME_SECONDS` frame of each of frames ``first .. first + n - 1`` at ``frame_seconds``."""
    return np.floor(np.arange(first, first + n) * frame_seconds / FRAME_SECONDS + 1e-9).astype(int)


def track_melody_blocks(blocks: Iterable[np.ndarray], *, threads: int = 0, backend: str | None = None) -> TrackMelody:
    """:func:`track_melody` (``basic_pitch``) of 22.05 kHz samples that arrive in blocks
    (:func:`sapphire_core.audio.audio_blocks`): the same melody, holding the pooled posteriorgram
    (about 50 MB for 2 hours) instead of the track's samples and its full-rate posteriorgram (~850 MB)."""
    from sapphire_vocal import basic_pitch

    pooled, rows = np.zeros((0, basic_pitch.N_NOTES), np.float32), 0
    for first, part in basic_pitch.stream_posteriorgrams(blocks, threads=threads, outputs=("note",),
                                                         backend=backend or basic_pitch.DEFAULT_BACKEND):
        note = part["note"]
        if not len(note):
            continue
        idx = _pooled_rows(first, len(note), basic_pitch.FRAME_SECONDS)
        rows = int(idx[-1]) + 1
        if rows > len(pooled):  # grow geometrically: the length is known only at the end
            grown = np.zeros((max(rows, 2 * len(pooled)), pooled.shape[1]), np.float32)
            grown[: len(pooled)] = pooled
            pooled = grown
        np.maximum.at(pooled, idx, note)
    return melody_from_posteriorgram(pooled[:rows])


def melody_from_posteriorgram(note: np.ndarray, *, threshold: float = NOTE_THRESHOLD, others: float = OTHER_VOICES,
                              width: float = 2.0, midi_offset: int = 21) -> TrackMelody:
    """The top voice and the :data:`LINES` affinities (:func:`posteriorgram_affinity` with ``voice``
    0, 1, ...: ``(L, T, 12)``, without lines equal to the first, so ``L = 1`` for a monophonic track)
    of a pooled ``(T, 88)`` note posteriorgram (bin 0 = MIDI ``midi_offset``), trimmed to the frames
    where any note sounds."""
    note = np.asarray(note, dtype=np.float32)
    active = note >= threshold
    voiced = active.any(axis=1)
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        return TrackMelody(np.zeros(0), np.zeros((0, 12), dtype=np.float32))
    line = melody_line(note, threshold=threshold)
    sounding = line >= 0
    melody = fill_unvoiced((line + midi_offset).astype(np.float64), sounding)
    if melody.size:  # the line may start later than the first sounding frame: hold its first note
        lead = int(np.flatnonzero(sounding)[0]) - int(idx[0])
        melody = np.concatenate([np.full(lead, melody[0]), melody])
        melody = np.concatenate([melody, np.full(idx[-1] + 1 - idx[0] - melody.size, melody[-1])])
    else:
        melody = np.zeros(idx[-1] + 1 - idx[0])
    lines = [posteriorgram_affinity(note, threshold=threshold, others=others, width=width, midi_offset=midi_offset,
                                    voice=v)[idx[0] : idx[-1] + 1] for v in range(LINES)]
    # A line equal to the top voice's (a monophonic track) would only cost DTW time.
    lines = [a for v, a in enumerate(lines) if v == 0 or not np.array_equal(a, lines[0])]
    return TrackMelody(melody, np.stack(lines))


def melody_line(note: np.ndarray, *, threshold: float = NOTE_THRESHOLD, height: float = 2.0,
                jump: float = 0.1, rest: float = 0.5) -> np.ndarray:
    """The most likely melody through a ``(T, bins)`` note posteriorgram: one bin per frame (-1 for
    no melody), by Viterbi decoding over the sounding notes.

    A frame's score for a note is ``log(activation) + height x (pitch - top sounding pitch) / 12``
    (the tune is usually the top voice, Salamon & Gomez's "highest salient line" heuristic, IEEE TASLP
    2012), and moving between notes costs ``jump`` per semitone (up to an octave), so a short
    inner-voice note poking above the tune does not cut it into pieces. Used for the stage-1
    note n-grams; on the demo corpus it lifts their MRR from 0.43 (plain top voice) to 0.51.
    """
    note = np.asarray(note, dtype=np.float64)
    n, bins = note.shape
    if n == 0:
        return np.zeros(0, dtype=int)
    active = note >= threshold
    top = bins - 1 - np.argmax(active[:, ::-1], axis=1)
    below = (np.arange(bins)[None, :] - top[:, None]) / 12.0
    emit = np.where(active, np.log(np.maximum(note, 1e-3)) + height * below, -np.inf)
    emit = np.concatenate([emit, np.full((n, 1), np.log(rest) + np.log(threshold))], axis=1)
    d = np.abs(np.arange(bins)[:, None] - np.arange(bins)[None, :])
    trans = np.full((bins + 1, bins + 1), -3.0 * jump)
    trans[:bins, :bins] = -jump * np.minimum(d, 12)
    trans[bins, bins] = 0.0
    score = emit[0].copy()
    back = np.zeros((n, bins + 1), dtype=np.int32)
    for t in range(1, n):
        cand = score[:, None] + trans
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], np.arange(bins + 1)] + emit[t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return np.where(path == bins, -1, path)


def posteriorgram_affinity(note: np.ndarray, *, threshold: float = NOTE_THRESHOLD, others: float = OTHER_VOICES,
                           width: float = 2.0, midi_offset: int = 21, voice: int = 0) -> np.ndarray:
    """``(T, 12)`` pitch-class affinity of a ``(T, bins)`` semitone note posteriorgram.

    Each sounding note (activation >= ``threshold``) contributes ``w * max(0, 1 - d / width)`` at
    folded distance ``d`` semitones from its pitch class, with ``w = 1`` for the privileged voice
    (the ``voice``-th highest sounding note, 0 = the top voice; the lowest where fewer sound) and
    ``others x activation / frame peak`` for the rest. On the demo corpus
    the tune is the top voice in ~70% of its frames (chorale inner voices cross it, organ stops
    sound an octave up) but nearly always sounds, so the other voices stay in with a lower weight:
    ``others=0.6`` reached MRR 0.90 on the 84 demo hums, 0.88 with the top voice alone (0),
    0.86 with every voice equal (1); ``threshold`` 0.2 and 0.5 gave 0.84 and 0.85.
    """
    note = np.asarray(note, dtype=np.float32)
    n, bins = note.shape
    active = note >= threshold
    peak = np.where(active, note, 0.0).max(axis=1, keepdims=True)
    w = np.where(active, others * note / np.maximum(peak, 1e-12), 0.0)
    # Sounding notes counted from the top: the privileged one is the (voice + 1)-th, or the last.
    from_top = np.cumsum(active[:, ::-1], axis=1)[:, ::-1]
    rank = np.minimum(voice + 1, from_top[:, :1])
    rows = np.flatnonzero(rank[:, 0] > 0)
    privileged = np.argmax(active & (from_top == rank), axis=1)
    w[rows, privileged[rows]] = 1.0
    # Strongest weight per pitch class, then spread to neighbouring classes by the triangle kernel.
    pcs = (np.arange(bins) + midi_offset) % 12
    per_pc = np.zeros((n, 12), dtype=np.float32)
    for pc in range(12):
        cols = pcs == pc
        if cols.any():
            per_pc[:, pc] = w[:, cols].max(axis=1)
    aff = np.zeros_like(per_pc)
    for k in range(-6, 7):
        g = max(0.0, 1.0 - abs(k) / width)
        if g > 0:
            aff = np.maximum(aff, g * np.roll(per_pc, k, axis=1))
    return aff


def _salience_candidates(audio: np.ndarray, sr: int, *, fmin_midi: int = 36, n_octaves: int = 6,
                         harmonics: int = 6, relative_threshold: float = 0.5, silence_db: float = -45.0):
    """Harmonic-summation salience over a 1/3-semitone CQT and its strong, non-overtone peaks.

    Returns ``(sal, keep, voiced, midi_of_bin, hop_seconds)``: salience ``(bins, frames)``, the
    candidate mask, frames with any candidate above the silence floor, bin pitches, frame hop.
    """
    import librosa

    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    # 20.48 kHz makes a 512-sample hop exactly 25 ms, so two CQT frames pool to one 50 ms frame
    # (at 22.05 kHz they would be 46.4 ms and every indexed track would run 7% fast).
    target_sr = 20480
    if sr != target_sr:
        import soxr

        y = soxr.resample(y, sr, target_sr).astype(np.float32)
    bpo, hop = 36, 512
    n_bins = bpo * n_octaves
    C = np.abs(librosa.cqt(y, sr=target_sr, hop_length=hop, fmin=librosa.midi_to_hz(fmin_midi), n_bins=n_bins,
                           bins_per_octave=bpo))
    sal = np.zeros_like(C)
    for h in range(1, harmonics + 1):
        shift = int(round(bpo * np.log2(h)))
        if shift >= n_bins:
            break
        sal[: n_bins - shift] += 0.8 ** (h - 1) * C[shift:]
    energy_db = librosa.amplitude_to_db(C.max(axis=0), ref=float(C.max()) + 1e-12)
    # Local maxima along pitch, then those within relative_threshold of the frame's strongest.
    peak = np.zeros_like(sal, dtype=bool)
    peak[1:-1] = (sal[1:-1] > sal[:-2]) & (sal[1:-1] >= sal[2:])
    peak_max = np.where(peak, sal, 0.0).max(axis=0)
    strong = peak & (sal >= relative_threshold * peak_max[None, :]) & (peak_max[None, :] > 0)
    strong_sal = np.where(strong, sal, 0.0)
    # A candidate within 1 bin of the 2nd-4th harmonic of a stronger candidate below it is an overtone.
    overtone = np.zeros_like(strong)
    for k in (2, 3, 4):
        base = int(round(bpo * np.log2(k)))
        for delta in (-1, 0, 1):
            off = base + delta
            below = np.zeros_like(strong_sal)
            below[off:] = strong_sal[:-off]
            overtone |= strong & (below >= sal)
    keep = strong & ~overtone
    keep = np.where(keep.any(axis=0)[None, :], keep, strong)
    voiced = keep.any(axis=0) & (energy_db >= silence_db)
    keep &= voiced[None, :]
    return sal, keep, voiced, fmin_midi + np.arange(n_bins) / 3.0, hop / target_sr


def polyphonic_melody(audio: np.ndarray, sr: int, **settings) -> np.ndarray:
    """Top-voice melody of a mix by harmonic salience: per frame, the highest pitch whose salience
    is within ``relative_threshold`` of the frame's strongest.

    Salience is harmonic summation over a 1/3-semitone CQT (Klapuri, "Multiple fundamental frequency
    estimation by summing harmonic amplitudes", ISMIR 2006; weights 0.8^(h-1) as in Salamon & Gomez,
    IEEE TASLP 2012). A candidate on the 2nd-4th harmonic of a stronger lower candidate is skipped,
    so the top voice is not mistaken for an overtone of the bass.

    Returns
    -------
    np.ndarray
        ``(T,)`` MIDI per :data:`FRAME_SECONDS` frame over the sounding span (as
        :func:`melody_from_audio`).
    """
    sal, keep, voiced, midi_of_bin, hop_s = _salience_candidates(audio, sr, **settings)
    top = len(midi_of_bin) - 1 - np.argmax(keep[::-1], axis=0)
    return _pool_frames(midi_of_bin[top], voiced, hop_s)


def pitch_class_affinity(audio: np.ndarray, sr: int, *, others: float = 0.6, width: float = 2.0,
                         **settings) -> np.ndarray:
    """How well each pitch class fits each frame of a mix by harmonic salience: ``(T, 12)`` in [0, 1]
    per :data:`FRAME_SECONDS` frame over the sounding span.

    The top voice contributes ``max(0, 1 - d / width)`` at folded distance ``d`` semitones; every
    other salience candidate the same times ``others`` x its salience relative to the frame's
    strongest (as :func:`posteriorgram_affinity` does with basic-pitch's notes; MRR 0.74 on the
    demo hums against 0.90 there).
    """
    sal, keep, voiced, midi_of_bin, hop_s = _salience_candidates(audio, sr, **settings)
    n = sal.shape[1]
    aff = np.zeros((n, 12), dtype=np.float32)
    pcs = np.arange(12, dtype=np.float64)
    top = len(midi_of_bin) - 1 - np.argmax(keep[::-1], axis=0)
    peak_max = np.where(keep, sal, 0.0).max(axis=0) + 1e-12
    for t in np.flatnonzero(voiced):
        bins = np.flatnonzero(keep[:, t])
        w = others * sal[bins, t] / peak_max[t]
        w[bins == top[t]] = 1.0
        d = folded_distance(pcs[None, :], midi_of_bin[bins][:, None])
        aff[t] = np.max(w[:, None] * np.maximum(0.0, 1.0 - np.minimum(d, width) / width), axis=0)
    step = max(1, int(round(FRAME_SECONDS / hop_s)))
    m = int(np.ceil(n / step))
    pad = np.zeros((m * step - n, 12), dtype=np.float32)
    pooled = np.concatenate([aff, pad]).reshape(m, step, 12).max(axis=1)
    pv = np.concatenate([voiced, np.zeros(m * step - n, bool)]).reshape(m, step).any(axis=1)
    idx = np.flatnonzero(pv)
    if idx.size == 0:
        return np.zeros((0, 12), dtype=np.float32)
    return pooled[idx[0] : idx[-1] + 1]


# --------------------------------------------------------------------------- from a single line
def melody_affinity(melody: np.ndarray) -> np.ndarray:
    """``(T, 12)`` affinity of a single-pitch melody: ``1 - min(d, MAX_SEMITONES) / MAX_SEMITONES``,
    so the DTW cost on it equals the clipped folded pitch distance."""
    m = np.asarray(melody, dtype=np.float64)
    if m.size == 0:
        return np.zeros((0, 12), dtype=np.float32)
    m = m - tuning_offset(m)
    d = folded_distance(np.arange(12, dtype=np.float64)[None, :], m[:, None])
    return (1.0 - np.minimum(d, MAX_SEMITONES) / MAX_SEMITONES).astype(np.float32)


def melody_from_notes(notes: Iterable[Iterable[float]], *, offset: float = 0.0) -> np.ndarray:
    """A frame melody from score notes ``[[onset_s, duration_s, midi], ...]`` (e.g. the demo
    corpus' ``melody`` metadata): the highest sounding note per frame, rests holding the last."""
    notes = sorted((float(o) - offset, float(d), float(p)) for o, d, p in notes)
    if not notes:
        return np.zeros(0)
    end = max(o + d for o, d, _ in notes)
    n = int(np.ceil(end / FRAME_SECONDS))
    pitch = np.full(n, -np.inf)
    for o, d, p in notes:
        a = int(round(o / FRAME_SECONDS))
        b = max(int(round((o + d) / FRAME_SECONDS)), a + 1)
        pitch[a:b] = np.maximum(pitch[a:b], p)
    voiced = np.isfinite(pitch)
    return fill_unvoiced(np.where(voiced, pitch, 0.0), voiced)
