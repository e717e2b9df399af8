"""tonal: Krumhansl-Schmuckler key on analytic chords and scales, CENS, contract."""

import numpy as np

from sapphire_acoustic.tonal import KEY_NAMES, Tonal, estimate_key, key_correlations
from sapphire_acoustic.testing import MultiInputContract
from sapphire_core.testing.signals import chord, melody

SR = 22050


def test_c_major_triad_is_c_major():
    assert estimate_key(chord([60, 64, 67], sr=SR, seconds=2.0), SR) == "C major"


def test_a_minor_triad_is_a_minor():
    assert estimate_key(chord([57, 60, 64], sr=SR, seconds=2.0), SR) == "A minor"


def test_scale_melodies_and_resampling():
    # G major scale up and down, then the tonic triad; given at 16 kHz to exercise resampling.
    g = [67, 69, 71, 72, 74, 76, 78, 79, 78, 76, 74, 72, 71, 69, 67, 71, 74, 79, 67]
    assert estimate_key(melody(g, durations=0.25, sr=16000), 16000) == "G major"
    # D harmonic minor with the leading tone.
    d = [62, 64, 65, 67, 69, 70, 73, 74, 73, 70, 69, 67, 65, 64, 62, 65, 69, 62]
    assert estimate_key(melody(d, durations=0.25, sr=SR), SR, backend="librosa") == "D minor"


def test_key_correlations_rotate_with_transposition():
    profile = np.zeros(12)
    profile[[0, 4, 7]] = 1.0
    c = key_correlations(profile)
    assert KEY_NAMES[int(np.argmax(c))] == "C major"
    up = key_correlations(np.roll(profile, 2))
    np.testing.assert_allclose(up, np.concatenate([np.roll(c[:12], 2), np.roll(c[12:], 2)]), atol=1e-6)
    assert np.all(key_correlations(np.ones(12)) == 0)  # a flat profile prefers no key
    assert len(set(KEY_NAMES)) == 24 and KEY_NAMES[0] == "C major" and KEY_NAMES[21] == "A minor"


def test_cens_is_unit_norm_and_tonal_features_agree_across_backends():
    y = melody([60, 64, 67, 72, 67, 64] * 3, durations=0.3, sr=SR)
    for backend in ("librosa", "torch"):
        f = Tonal(backend=backend).extract(y, None)
        norms = np.linalg.norm(f["cens"], axis=0)
        assert np.allclose(norms[norms > 0], 1.0, atol=1e-4)
        assert KEY_NAMES[int(np.argmax(f["key_profile"]))] == "C major"


class TestTonalMultiInput(MultiInputContract):
    extractor_cls = Tonal


class TestTonalLibrosaMultiInput(MultiInputContract):
    extractor_cls = Tonal
    backend = "librosa"
