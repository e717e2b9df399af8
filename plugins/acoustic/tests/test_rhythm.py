"""rhythm: tempo of click tracks, swing ratio of swung clicks, density, micro-timing, cyclic tempogram."""

import numpy as np
import pytest

from sapphire_acoustic.rhythm import (RHYTHM_SUMMARY_NAMES, Rhythm, analyze_rhythm, cyclic_matrix, estimate_tempo,
                                      swing_and_timing)
from sapphire_acoustic.testing import MultiInputContract
from sapphire_core.testing.signals import click_track

SR = 22050
S = {name: i for i, name in enumerate(RHYTHM_SUMMARY_NAMES)}


@pytest.mark.parametrize("backend", ["torch", "librosa"])
def test_click_track_120_bpm(click_track_120, backend):
    assert estimate_tempo(click_track_120, SR, backend=backend) == pytest.approx(120.0, abs=2.0)


@pytest.mark.parametrize("bpm", [77.0, 100.0, 160.0])
def test_other_tempi(bpm):
    assert estimate_tempo(click_track(bpm, sr=SR, seconds=15.0), SR) == pytest.approx(bpm, abs=2.0)


@pytest.mark.parametrize("swing", [2.0, 1.5, 1.0])
def test_swung_click_track_gives_its_swing_ratio(swing):
    y = click_track(120.0, sr=SR, seconds=20.0, swing=swing, subdivide=True)
    r = analyze_rhythm(y)
    assert r.tempo == pytest.approx(120.0, abs=2.0)
    assert r.swing == pytest.approx(swing, rel=0.05)
    assert r.microtiming_ms < 5.0  # machine-exact clicks sit on the swing-adjusted grid


def test_unsubdivided_clicks_are_straight_and_two_per_second(click_track_120):
    r = analyze_rhythm(click_track_120)
    summary = r.summary()
    assert summary[S["swing_ratio"]] == 1.0
    assert summary[S["onset_density"]] == pytest.approx(2.0, abs=0.15)
    assert summary[S["pulse_clarity"]] > 0.8
    assert summary[S["beat_regularity"]] == 1.0


def test_jittered_clicks_have_more_microtiming_and_noise_has_no_pulse():
    rng = np.random.RandomState(0)
    y = np.zeros(SR * 20, dtype=np.float32)
    click = click_track(120.0, sr=SR, seconds=0.05)[: int(0.01 * SR)]
    for k in range(39):
        i = int((k * 0.5 + rng.uniform(-0.03, 0.03) + 0.05) * SR)
        y[i : i + click.size] += click
    assert analyze_rhythm(y).microtiming_ms > 8.0
    noise = (rng.randn(SR * 10) * 0.1).astype(np.float32)
    assert analyze_rhythm(noise).pulse_clarity < 0.3


def test_swing_from_hand_made_times():
    beats = np.arange(0, 10, 0.5)
    onsets = np.sort(np.concatenate([beats, beats[:-1] + 0.5 * 0.6]))
    swing, phase, micro = swing_and_timing(onsets, np.ones_like(onsets), beats)
    assert phase == pytest.approx(0.6) and swing == pytest.approx(1.5) and micro == pytest.approx(0.0, abs=1e-6)


def test_cyclic_tempogram_folds_octaves():
    m = cyclic_matrix(30)
    assert m.shape == (30, 384) and np.allclose(m.sum(axis=1), 1.0)
    # 120 BPM and 60 BPM fall in the same class (class 0 = 60 * 2^k BPM).
    r = analyze_rhythm(click_track(120.0, sr=SR, seconds=12.0))
    profile = r.cyclic.mean(axis=1)
    assert int(np.argmax(profile)) in (0, 1, 29)


def test_chunked_rhythm_matches_whole():
    y = click_track(100.0, sr=SR, seconds=40.0, swing=1.5, subdivide=True)
    a, b = analyze_rhythm(y), analyze_rhythm(y, chunk_seconds=12.0)
    assert a.tempo == pytest.approx(b.tempo, rel=1e-4)
    np.testing.assert_allclose(a.cyclic, b.cyclic, atol=1e-3)
    np.testing.assert_allclose(a.summary(), b.summary(), rtol=1e-3, atol=1e-3)


class TestRhythmMultiInput(MultiInputContract):
    extractor_cls = Rhythm


class TestRhythmLibrosaMultiInput(MultiInputContract):
    extractor_cls = Rhythm
    backend = "librosa"
