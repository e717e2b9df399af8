"""Lead-stem separation: the interface, the registry of separators, and REPET-SIM on a known mix."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from sapphire_core.errors import ConfigError
from sapphire_core.testing import signals

from sapphire_vocal.separation import (IdentitySeparator, RepetSimSeparator, Separator, get_separator,
                                       register_separator, separator_names)

SR = 22050


def _mix():
    """A 1 s two-chord accompaniment repeated 8 times plus a lead melody that never repeats."""
    rng = np.random.default_rng(0)
    bar = np.concatenate([signals.chord([48, 55, 64], sr=SR, seconds=0.5), signals.chord([53, 57, 65], sr=SR, seconds=0.5)])
    accomp = np.tile(bar, 8)
    pitches = rng.choice([67, 69, 71, 72, 74, 76, 77, 79], size=32)
    lead = signals.melody(pitches.tolist(), durations=0.25, sr=SR, harmonics=4)
    n = min(accomp.size, lead.size)
    return accomp[:n], lead[:n]


def _energy_ratio(est, ref, other):
    """How much more the estimate correlates with ``ref`` than with ``other`` (projection energies)."""
    def proj(x, y):
        return float(np.dot(x, y) ** 2 / (np.dot(y, y) + 1e-12))
    return proj(est, ref) / (proj(est, other) + 1e-12)


def test_repet_sim_keeps_the_lead_and_drops_the_repeating_accompaniment():
    accomp, lead = _mix()
    mix = 0.5 * accomp + 0.5 * lead
    est = RepetSimSeparator().separate(mix, SR)
    assert est.shape == mix.shape and est.dtype == np.float32 and np.all(np.isfinite(est))
    before = _energy_ratio(mix, lead, accomp)
    after = _energy_ratio(est, lead, accomp)
    assert after > 3.0 * before, f"lead/accompaniment ratio only went from {before:.2f} to {after:.2f}"


def test_short_and_long_inputs_keep_their_length():
    sep = RepetSimSeparator(block_seconds=6.0)
    for seconds in (0.3, 13.0):
        y = signals.sine(440.0, sr=SR, seconds=seconds)
        assert sep.separate(y, SR).shape == y.shape


def test_identity_separator_returns_the_mix():
    y = signals.sine(220.0, sr=SR, seconds=0.2)
    np.testing.assert_array_equal(get_separator("none").separate(y, SR), y)


def test_unknown_separator_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown separator 'demucs'.*none, repet_sim"):
        get_separator("demucs")


def test_bad_separator_setting_names_the_valid_keys():
    with pytest.raises(ConfigError, match="hop_length"):
        get_separator("repet_sim", hop=3)


def test_a_stronger_separator_plugs_in_by_name():
    class Halver(Separator):
        name: ClassVar[str] = "test_halver"

        def separate(self, audio, sr):
            return (np.asarray(audio) * 0.5).astype(np.float32)

    register_separator(Halver)
    assert "test_halver" in separator_names()
    assert get_separator("test_halver").separate(np.ones(4, np.float32), SR).tolist() == [0.5] * 4
    register_separator(Halver)  # registering the same class again is fine

    class Other(Separator):
        name: ClassVar[str] = "test_halver"

        def separate(self, audio, sr):
            return audio

    with pytest.raises(ConfigError, match="already registered"):
        register_separator(Other)
    with pytest.raises(ConfigError, match="not a named"):
        register_separator(int)
    assert isinstance(get_separator("none"), IdentitySeparator)
