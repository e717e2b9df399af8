"""midlevel: each proxy moves the way its name says, mapping to [0, 1], words, contract with midlevel_mlp."""

import numpy as np
import pytest

from sapphire_acoustic.midlevel import (MIDLEVEL_NAMES, MidLevel, analyze_midlevel, describe_midlevel,
                                        interval_dissonance)
from sapphire_acoustic.midlevel_mlp import MidLevelMLP
from sapphire_core.errors import ConfigError
from sapphire_core.testing import contract_case
from sapphire_core.testing.signals import chord, click_track, melody

SR = 22050
I = {name: i for i, name in enumerate(MIDLEVEL_NAMES)}
MAJOR = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72, 67] * 2
MINOR = [57, 59, 60, 62, 64, 62, 60, 59, 57, 64, 69, 64] * 2


@pytest.fixture(scope="module")
def values():
    def legato(pitches):
        return melody(pitches, durations=0.3, sr=SR)

    def staccato(pitches):
        # Each note sounds for a third of its slot, then silence.
        notes = [np.concatenate([melody([p], durations=0.1, sr=SR), np.zeros(int(0.2 * SR), np.float32)])
                 for p in pitches]
        return np.concatenate(notes)

    sigs = {"major": legato(MAJOR), "minor": legato(MINOR), "staccato": staccato(MAJOR),
            "triad": chord([60, 64, 67], sr=SR, seconds=4.0), "cluster": chord([60, 61, 62, 63], sr=SR, seconds=4.0),
            "click": click_track(120.0, sr=SR, seconds=8.0),
            "busy": click_track(120.0, sr=SR, seconds=8.0, swing=1.0, subdivide=True)}
    return {k: analyze_midlevel(v) for k, v in sigs.items()}


def test_all_in_unit_interval_and_named(values):
    assert len(MIDLEVEL_NAMES) == 8
    for v in values.values():
        assert v.shape == (8,) and np.all((v >= 0) & (v <= 1)) and np.all(np.isfinite(v))


def test_minorness(values):
    assert values["minor"][I["minorness"]] > 0.6 > 0.4 > values["major"][I["minorness"]]


def test_dissonance(values):
    assert values["cluster"][I["dissonance"]] > 0.6
    assert values["triad"][I["dissonance"]] == pytest.approx(0.19, abs=0.08)  # (d_M3 + d_m3 + d_P5) / 3
    assert values["major"][I["dissonance"]] < 0.15  # one note at a time


def test_articulation(values):
    assert values["staccato"][I["articulation"]] > values["major"][I["articulation"]] + 0.2


def test_onset_density_and_complexity(values):
    # 2 clicks/s -> 2 / (2 + 4); subdividing doubles the events and adds a second beat position.
    assert values["click"][I["onset_density"]] == pytest.approx(2 / 6, abs=0.03)
    assert values["busy"][I["onset_density"]] == pytest.approx(4 / 8, abs=0.03)
    assert values["busy"][I["rhythmic_complexity"]] > values["click"][I["rhythmic_complexity"]]
    assert values["click"][I["rhythmic_stability"]] > 0.8


def test_melodiousness_and_tonal_stability(values):
    assert values["major"][I["melodiousness"]] > values["cluster"][I["melodiousness"]]
    assert values["major"][I["tonal_stability"]] > 0.7


def test_interval_dissonance_table():
    d = interval_dissonance()
    assert d[0, 1] == 1.0 and d[0, 7] == 0.0 and d[0, 0] == 0.0 and np.allclose(d, d.T)
    assert d[0, 6] > d[0, 3] > 0  # tritone rougher than a minor third


def test_describe_midlevel():
    words = describe_midlevel([0.9, 0.1, 0.5, 0.5, 0.8, 0.5, 0.2, 0.4])
    assert list(words) == list(MIDLEVEL_NAMES)
    assert words["dissonance"] == "high" and words["articulation"] == "low" and words["onset_density"] == "medium"
    with pytest.raises(ConfigError, match="needs 8 values"):
        describe_midlevel([0.1, 0.2])


TestMidLevelMLP = contract_case(MidLevel, MidLevelMLP)
TestMidLevelLibrosa = contract_case(MidLevel, MidLevelMLP, extractor={"backend": "librosa"})
