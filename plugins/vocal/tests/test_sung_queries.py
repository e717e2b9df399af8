"""The second QbH query generator: reproducible, within its stated ranges, and singing the tune."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_vocal import melody, sung_queries

SCALE = [[0.5 * i, 0.45, p] for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 6)]


def test_reproducible_and_within_ranges():
    a = sung_queries.sing(SCALE, seed=4, bpm=120)
    b = sung_queries.sing(SCALE, seed=4, bpm=120)
    c = sung_queries.sing(SCALE, seed=5, bpm=120)
    assert np.array_equal(a.audio, b.audio) and not np.array_equal(a.audio, c.audio)
    for q in (a, c):
        assert np.all(np.isfinite(q.audio)) and np.abs(q.audio).max() <= 0.81
        assert 0.75 <= q.tempo_scale <= 1.3
        assert q.offset == pytest.approx(2.0 * q.start_bar)  # 4/4 at 120 bpm: 2 s bars, a note on each
        assert 6.0 <= len(q.audio) / q.sr <= 14.0 + 1.5


def test_sung_intervals_are_the_tune_within_half_a_semitone_per_note():
    q = sung_queries.sing(SCALE, seed=1, bpm=120, min_s=6, max_s=7)
    m = melody.melody_from_audio(q.audio, q.sr)
    steps = np.diff([p for _, _, p in SCALE])
    # Note pitches at each sung note's middle; every interval is the tune's within +-1 semitone
    # (two 25-50 cent errors of opposite sign, plus vibrato), most within 0.9.
    hop = 0.5 / q.tempo_scale
    # The melody starts at the first sung note (the breath before it is unvoiced).
    middles = [int((hop * k + 0.2 / q.tempo_scale) / melody.FRAME_SECONDS) for k in range(10)]
    start = int(round(q.offset / 0.5))
    sung = np.array([m[i] for i in middles if i < len(m)])
    err = np.diff(sung) - steps[start : start + len(sung) - 1]
    err = np.mod(err + 6.0, 12.0) - 6.0  # matching folds octaves; CREPE tiny slips an octave at times
    assert np.all(np.abs(err) < 1.3) and np.mean(np.abs(err) < 0.9) >= 0.7


def test_empty_melody_is_an_error():
    with pytest.raises(ValueError, match="no notes"):
        sung_queries.sing([], seed=0)
