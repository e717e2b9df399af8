"""Chord recognition and harmony summaries on rendered cadences and analytic chords."""

import numpy as np
import pytest

from sapphire_core.testing.signals import chord
from sapphire_structure.chords import chord_vocabulary, parse_chord, recognise_chords, viterbi
from sapphire_structure.features import beat_features
from sapphire_structure.harmony import (HARMONY_SUMMARY_NAMES, estimate_key, harmony_summary,
                                        progression_histogram)

SR = 22050


def _voiced(chords):
    labels = [lab for _, _, lab in chords if lab != "N"]
    return [lab for i, lab in enumerate(labels) if i == 0 or lab != labels[i - 1]]


def test_one_four_five_one_in_c(cadence_in):
    chords = recognise_chords(cadence_in(48), SR)
    assert _voiced(chords) == ["C:maj", "F:maj", "G:maj", "C:maj"]
    changes = [a for a, _, lab in chords if lab != "N"][1:]
    np.testing.assert_allclose(changes, [2.0, 4.0, 6.0], atol=0.3)


@pytest.mark.parametrize(("pitches", "label"), [([57, 60, 64], "A:min"), ([55, 59, 62, 65], "G:7"),
                                                ([62, 66, 69], "D:maj")])
def test_analytic_chords(pitches, label):
    assert _voiced(recognise_chords(chord(pitches, sr=SR, seconds=2.0), SR)) == [label]


def test_viterbi_self_transition_smooths_a_blip():
    # State 1 is slightly better on one frame only; a sticky HMM keeps state 0 throughout.
    obs = np.log(np.array([[0.9] * 5 + [0.4] + [0.9] * 5, [0.1] * 5 + [0.6] + [0.1] * 5]))
    sticky = np.log(np.array([[0.95, 0.05], [0.05, 0.95]]))
    assert viterbi(obs, sticky).tolist() == [0] * 11
    loose = np.log(np.full((2, 2), 0.5))
    assert viterbi(obs, loose).tolist() == [0] * 5 + [1] + [0] * 5


def test_vocabulary_round_trip():
    vocab = chord_vocabulary()
    assert len(vocab) == 37 and vocab[-1] == "N"
    assert parse_chord("F#:min") == (6, "min") and parse_chord("N") is None


def test_progression_histogram_is_transposition_invariant(cadence_in):
    in_c = progression_histogram(recognise_chords(cadence_in(48), SR))
    in_d = progression_histogram(recognise_chords(cadence_in(50), SR))
    np.testing.assert_allclose(in_c, in_d)
    # I->IV and V->I are up a fourth (5 semitones, maj->maj), IV->V up a tone.
    assert np.isclose(in_c[5 * 9], 2 / 3) and np.isclose(in_c[2 * 9], 1 / 3)


def test_key_of_cadences(cadence_in):
    assert estimate_key(beat_features(cadence_in(48), sr=SR).chroma)[:2] == (0, True)  # C major
    assert estimate_key(beat_features(cadence_in(50), sr=SR).chroma)[:2] == (2, True)  # D major


def test_harmony_summary_of_cadence(cadence_in):
    audio = cadence_in(48)
    bf = beat_features(audio, sr=SR)
    chords = recognise_chords(audio, SR)
    s = dict(zip(HARMONY_SUMMARY_NAMES, harmony_summary(bf, chords)))
    assert estimate_key(bf.chroma)[:2] == (0, True)  # C major
    assert s["major_key"] == 1.0
    assert np.isclose(s["chord_change_rate"], 3 / 8.0, atol=0.01)
    # Four equally long chords: a perfectly regular harmonic rhythm. (Its length in beats depends
    # on the beat tracker, which four block chords barely inform.)
    assert s["harmonic_rhythm_beats"] > 2.0
    assert s["harmonic_rhythm_regularity"] > 0.85
    assert s["major_fraction"] > 0.9 and s["seventh_fraction"] == 0.0
    assert s["tonic_fraction"] > s["dominant_fraction"] > 0.15
    assert s["n_distinct_chords"] == 3


def test_frame_energy_matches_librosa_rms():
    import librosa

    from sapphire_structure.chords import frame_energy

    y = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * np.linspace(0, 1, SR * 2)
    ref = librosa.feature.rms(y=y.astype(np.float32), frame_length=2048, hop_length=512, pad_mode="constant")[0] ** 2
    np.testing.assert_allclose(frame_energy(y, hop_length=512), ref, rtol=1e-4, atol=1e-7)
