"""Query by humming: matching on synthetic melodies with known answers, persistence, errors, and the
MRR on the demo corpus' hum queries (index built from the tracks' audio)."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.audio import load_audio
from sapphire_core.errors import ConfigError
from sapphire_core.testing import signals

from sapphire_vocal import qbh

TUNES = {
    "ode": [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62],
    "twinkle": [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60],
    "scale": [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62],
    "arpeggio": [60, 64, 67, 72, 67, 64, 60, 64, 67, 72, 76, 72, 67, 64],
}


def _frames(pitches, seconds_per_note=0.3):
    return np.repeat(np.asarray(pitches, float), int(round(seconds_per_note / qbh.FRAME_SECONDS)))


def test_melody_from_audio_tracks_a_sung_line():
    y = signals.melody([60, 64, 67, 72], durations=0.4, sr=16000)
    m = qbh.melody_from_audio(y, 16000)
    assert m.size == pytest.approx(1.6 / qbh.FRAME_SECONDS, abs=3)
    assert sorted({int(round(p)) for p in m}) == [60, 64, 67, 72]


def test_polyphonic_melody_follows_the_top_voice():
    # A lead melody above a quieter sustained low F. (Known limits: a melody note below half the
    # strongest salience, or exactly 1, 1.5 or 2 octaves above a louder lower note, is skipped.)
    top = signals.melody([72, 74, 76, 77], durations=0.5, sr=22050, amplitude=0.3)
    bass = signals.chord([41], sr=22050, seconds=top.size / 22050)
    m = qbh.polyphonic_melody(top + 0.25 * bass[: top.size], 22050)
    assert m.size == pytest.approx(2.0 / qbh.FRAME_SECONDS, abs=3)
    assert np.mean(np.isin(np.round(m), [72, 74, 76, 77])) >= 0.8


def test_rank_finds_a_transposed_faster_excerpt():
    index = qbh.QbhIndex()
    for name, tune in TUNES.items():
        index.add_melody(name, _frames(tune), work_id=name)
    # Notes 3-11 of "twinkle", 5 semitones up, 20% faster, a little flat.
    hum = _frames(np.asarray(TUNES["twinkle"][3:12]) + 5 - 0.3, 0.24)
    ranked = index.rank_melody(hum, k=4)
    assert ranked[0][0] == "twinkle" and ranked[0][1] > 0.95
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_rank_from_audio_end_to_end():
    index = qbh.QbhIndex(method="crepe")
    for name, tune in TUNES.items():
        index.add_audio(name, signals.melody(tune, durations=0.3, sr=16000), 16000, work_id=name)
    hum = signals.melody(TUNES["ode"][2:12], durations=0.35, sr=16000, transpose=-7)
    assert index.rank(hum, 16000, k=1)[0][0] == "ode"


def test_dtw_cost_is_zero_for_an_exact_subsequence_and_key_invariant():
    ref = _frames(TUNES["arpeggio"])
    assert qbh.dtw_cost(ref[20:60], ref) == pytest.approx(0.0, abs=1e-6)
    assert qbh.dtw_cost(ref[20:60] + 3, ref) == pytest.approx(0.0, abs=1e-6)
    assert qbh.dtw_cost(ref[20:60] + 12, ref) == pytest.approx(0.0, abs=1e-6)  # octave-folded
    assert qbh.dtw_cost(_frames(TUNES["scale"])[:40], ref) > 0.1


def test_dtw_matches_librosa_subsequence_dtw():
    import librosa

    rng = np.random.default_rng(1)
    q = np.repeat(rng.integers(55, 70, 12), 4).astype(float)
    r = np.repeat(rng.integers(55, 70, 40), 4).astype(float)
    qq, rr = q[:: qbh.DTW_DECIMATE], r[:: qbh.DTW_DECIMATE]
    best = np.inf
    for shift in range(12):
        C = np.minimum(qbh.folded_distance(qq[:, None] + shift, rr[None, :]), qbh.MAX_SEMITONES) / qbh.MAX_SEMITONES
        D = librosa.sequence.dtw(C=C, subseq=True, step_sizes_sigma=np.array([[1, 1], [1, 2], [2, 1]]),
                                 weights_add=np.zeros(3), weights_mul=np.array([1.0, 1.0, 2.0]), backtrack=False)
        best = min(best, D[-1].min() / qq.size)
    assert qbh.dtw_cost(q, r) == pytest.approx(best, abs=1e-4)


def test_melody_from_notes_keeps_the_highest_note_and_holds_rests():
    m = qbh.melody_from_notes([[0.0, 0.2, 60], [0.0, 0.2, 64], [0.4, 0.1, 67]])
    assert m.tolist() == [64.0] * 4 + [64.0] * 4 + [67.0] * 2


def test_save_and_load_round_trip(tmp_path):
    index = qbh.QbhIndex()
    for name, tune in TUNES.items():
        index.add_melody(name, _frames(tune), work_id=f"w-{name}")
    index.save(tmp_path / "qbh.npz")
    back = qbh.QbhIndex.load(tmp_path / "qbh.npz")
    hum = _frames(TUNES["scale"][2:10])
    assert back.rank_melody(hum, k=4) == index.rank_melody(hum, k=4)
    assert back.work_of("scale") == "w-scale"


def test_errors():
    with pytest.raises(ConfigError, match="'pyin'.*crepe, salience"):
        qbh.QbhIndex(method="pyin")
    with pytest.raises(ConfigError, match="shortlist"):
        qbh.QbhIndex(shortlist=-1)
    with pytest.raises(ConfigError, match="'midi'.*'audio' or 'score'"):
        qbh.QbhIndex.from_corpus(".", source="midi")
    with pytest.raises(ConfigError, match="not a QbH index"):
        qbh.QbhIndex.load("/nonexistent/qbh.npz")
    with pytest.raises(ConfigError, match="unknown melody method"):
        qbh.melody_from_audio(np.zeros(100, np.float32), 16000, method="yin")
    assert qbh.QbhIndex().rank_melody(np.zeros(10), k=3) == []


@pytest.mark.slow
def test_demo_corpus_hums_mrr_from_audio(demo_corpus):
    """Every other hum of the demo corpus against ALL its tracks, indexed from audio (no score).

    Measured on the small demo corpus (168 tracks, 84 works, seed 0): MRR 0.75 on these 42 hums
    and 0.76 on all 83; indexing the score melody metadata instead reaches 1.00 on these 42.
    """
    index = qbh.QbhIndex.from_corpus(demo_corpus, source="audio")
    score_index = qbh.QbhIndex.from_corpus(demo_corpus, source="score")
    work_of = {e.track_id: e.work_id for e in index.entries}
    hums = qbh.hum_queries(demo_corpus)[::2]
    assert len(hums) >= 20
    rr, rr_score = [], []
    for q in hums:
        melody = qbh.melody_from_audio(load_audio(demo_corpus / q["audio"], sr=16000), 16000)
        for idx, out in ((index, rr), (score_index, rr_score)):
            works = [work_of[t] for t, _ in idx.rank_melody(melody, k=len(idx))]
            out.append(1.0 / (works.index(q["work_id"]) + 1))
    mrr, mrr_score = float(np.mean(rr)), float(np.mean(rr_score))
    print(f"QbH MRR over {len(hums)} hums: audio index {mrr:.3f}, score-metadata index {mrr_score:.3f}")
    assert mrr >= 0.7
    assert mrr_score >= 0.9
