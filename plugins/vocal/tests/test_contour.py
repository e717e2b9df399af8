"""Contour utilities: voicing runs, note segmentation, invariant resampling."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_vocal.contour import (fill_unvoiced, fold_octave_errors, relative_pitch, resample_voiced, runs,
                                    segment_notes, voiced_mask)


def test_runs_and_voiced_mask_drop_short_islands():
    conf = np.array([0, 0.9, 0, 0.9, 0.9, 0.9, 0.9, 0, 0.2])
    assert runs(conf > 0.5) == [(1, 2), (3, 7)]
    assert voiced_mask(conf, min_frames=3).tolist() == [False, False, False, True, True, True, True, False, False]


def test_segment_notes_splits_steps_not_vibrato():
    hop = 0.01
    t = np.arange(100) * hop
    vib = 0.5 * np.sin(2 * np.pi * 6 * t)  # ±50 cents
    midi = np.concatenate([60 + vib, 62 + vib, 62 + vib[:50]])  # a step, then a repeat of the same pitch
    notes = segment_notes(midi, np.ones(midi.size, bool), hop_seconds=hop)
    assert [round(n.pitch) for n in notes] == [60, 62]
    assert notes[0].end == pytest.approx(100, abs=10)


def test_fill_unvoiced_holds_previous_and_trims():
    v = np.array([0, 1, 2, 3, 4, 5], float)
    m = np.array([0, 1, 0, 0, 1, 0], bool)
    assert fill_unvoiced(v, m).tolist() == [1, 1, 1, 4]


def test_relative_pitch_and_resampling_are_transposition_and_tempo_invariant():
    melody = np.repeat([60.0, 64, 62, 67, 65], 20)
    voiced = np.ones(melody.size, bool)
    a = resample_voiced(relative_pitch(melody, voiced), voiced, 32)
    b = resample_voiced(relative_pitch(melody + 5, voiced), voiced, 32)
    slow = np.repeat([60.0, 64, 62, 67, 65], 30)
    c = resample_voiced(relative_pitch(slow, np.ones(slow.size, bool)), np.ones(slow.size, bool), 32)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, c, atol=0.3)
    assert np.median(a) == pytest.approx(0.0, abs=0.5)


def test_fold_octave_errors_moves_isolated_octave_jumps():
    midi = np.full(30, 60.0)
    midi[10:13] = 72.0
    fixed = fold_octave_errors(midi, np.ones(30, bool))
    assert np.allclose(fixed, 60.0)
