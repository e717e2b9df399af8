"""Vocal descriptors on analytic signals and hand-made pitch tracks with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.testing import signals

from sapphire_vocal import crepe
from sapphire_vocal.descriptors import DESCRIPTOR_NAMES, compute_descriptors, estimate_key
from sapphire_vocal.phonemes import count_phonemes, orthographic_phonemes

HOP = 0.01


def _named(values):
    assert values.shape == (len(DESCRIPTOR_NAMES),) and np.all(np.isfinite(values))
    return dict(zip(DESCRIPTOR_NAMES, values.tolist()))


def _track(midi_per_frame):
    """A perfect pitch track (cents re 10 Hz) with full confidence."""
    midi = np.asarray(midi_per_frame, dtype=np.float64)
    cents = crepe.hz_to_cents(440.0) + 100.0 * (midi - 69.0)
    return cents, np.ones_like(cents)


def test_vibrato_sine_6hz_50_cents_through_crepe():
    y = signals.vibrato_sine(440.0, rate_hz=6.0, extent_cents=50.0, sr=16000, seconds=3.0)
    cents, conf = crepe.track_pitch(y, 16000, model="tiny", hop_seconds=HOP)
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP))
    assert d["vibrato_rate_hz"] == pytest.approx(6.0, abs=0.3)
    assert d["vibrato_extent_cents"] == pytest.approx(50.0, abs=8.0)
    assert d["vibrato_ratio"] == pytest.approx(1.0)
    assert d["tessitura_median_midi"] == pytest.approx(69.0, abs=0.1)
    assert d["note_onset_rate_hz"] == pytest.approx(1 / 3.0, rel=0.05)  # one note in 3 s


@pytest.mark.parametrize("rate, extent", [(5.0, 30.0), (7.0, 80.0)])
def test_vibrato_on_an_ideal_track(rate, extent):
    t = np.arange(int(2.0 / HOP)) * HOP
    cents, conf = _track(60.0 + extent / 100.0 * np.sin(2 * np.pi * rate * t))
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP))
    assert d["vibrato_rate_hz"] == pytest.approx(rate, abs=0.15)
    # An ideal track has no CREPE frame averaging, so the correction overshoots by 1/sinc(f*50 ms).
    assert d["vibrato_extent_cents"] * np.sinc(rate * 0.05) == pytest.approx(extent, rel=0.1)


def test_straight_tone_has_no_vibrato_and_no_glide():
    cents, conf = _track(np.full(200, 64.0))
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP))
    assert d["vibrato_extent_cents"] == 0.0 and d["vibrato_rate_hz"] == 0.0
    assert d["glide_ratio"] == 0.0 and d["pitch_range_semitones"] == pytest.approx(0.0, abs=1e-6)


def test_scale_melody_hand_computed_values():
    # C D E F G F E D C, 0.3 s each, perfectly in tune.
    notes = [60, 62, 64, 65, 67, 65, 64, 62, 60]
    cents, conf = _track(np.repeat(notes, 30))
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP))
    assert d["note_onset_rate_hz"] == pytest.approx(9 / 2.7, rel=0.01)
    assert d["intonation_dev_semitone_cents"] == pytest.approx(0.0, abs=0.5)
    assert d["intonation_dev_scale_cents"] == pytest.approx(0.0, abs=0.5)
    assert d["voiced_ratio"] == 1.0
    # Intervals: +2 +2 +1 +2 -2 -1 -2 -2 -> 3/8 at +2, 1/8 at +1, 1/8 at -1, 3/8 at -2.
    assert d["interval_+2"] == pytest.approx(3 / 8) and d["interval_-2"] == pytest.approx(3 / 8)
    assert d["interval_+1"] == pytest.approx(1 / 8) and d["interval_-1"] == pytest.approx(1 / 8)
    assert d["mean_abs_interval"] == pytest.approx(14 / 8)
    # Contour U U U U D D D D -> trigrams UUU x2, UUD, UDD, DDD x2 (6 in all).
    assert d["contour_UUU"] == pytest.approx(2 / 6) and d["contour_DDD"] == pytest.approx(2 / 6)
    assert d["contour_UUD"] == pytest.approx(1 / 6) and d["contour_UDD"] == pytest.approx(1 / 6)
    assert d["mode_major_corr"] > d["mode_minor_corr"]
    # Tonic C: durations C 2/9, D 2/9, E 2/9, F 2/9, G 1/9.
    assert d["pc_rel_tonic_0"] == pytest.approx(2 / 9, abs=0.01) and d["pc_rel_tonic_7"] == pytest.approx(1 / 9, abs=0.01)
    assert d["pitch_range_semitones"] == pytest.approx(7.0, abs=0.01)
    assert d["has_lyrics"] == 0.0 and d["phoneme_rate_hz"] == 0.0


def test_out_of_tune_notes_show_intonation_deviation():
    # Every other note 30 cents sharp: mean |deviation| from the tuned grid is ~15 cents.
    notes = [60, 62.3, 64, 65.3, 67, 65.3, 64, 62.3]
    cents, conf = _track(np.repeat(notes, 30))
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP))
    assert 10.0 < d["intonation_dev_semitone_cents"] < 20.0


def test_glide_between_notes_is_measured():
    # 0.5 s at 60, a 0.3 s linear glide up 5 semitones (16.7 st/s), 0.5 s at 65.
    track = np.concatenate([np.full(50, 60.0), np.linspace(60, 65, 30), np.full(50, 65.0)])
    cents, conf = _track(track)
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP))
    assert d["glide_ratio"] > 0.15
    assert 8.0 < d["glide_rate_semitones_per_s"] < 20.0


def test_unvoiced_input_gives_zeros_not_nans():
    d = _named(compute_descriptors(np.full(100, 5000.0), np.zeros(100), hop_seconds=HOP))
    assert d["voiced_ratio"] == 0.0 and d["vibrato_rate_hz"] == 0.0


def test_phoneme_rate_uses_lyrics_over_voiced_time():
    cents, conf = _track(np.full(200, 62.0))  # 2 s voiced
    d = _named(compute_descriptors(cents, conf, hop_seconds=HOP, lyrics="the river", language="en"))
    assert d["has_lyrics"] == 1.0
    assert d["phoneme_rate_hz"] == pytest.approx(6 / 2.0)  # DH AH0 R IH1 V ER0 in 2 s


def test_phoneme_counts():
    assert count_phonemes("the river", language="en") == 6
    assert count_phonemes("River!", language="en") == 4  # punctuation and case ignored
    assert orthographic_phonemes("schola") == 4  # sch-o-l-a
    assert count_phonemes("Ich grolle nicht", language="de") == 11  # ɪç ɡʁɔlə nɪçt
    assert count_phonemes("", language="it") == 0


def test_key_estimate_of_a_minor_triad_profile():
    hist = np.zeros(12)
    hist[[9, 0, 4]] = [3.0, 2.0, 2.0]  # A C E, A weighted
    tonic, mode, _, _ = estimate_key(hist)
    assert (tonic, mode) == (9, "minor")
