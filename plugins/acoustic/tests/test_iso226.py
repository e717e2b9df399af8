"""ISO 226:2003 equal-loudness contours against the standard's Table 1 and equations (1)-(2)."""

import numpy as np
import pytest

from sapphire_acoustic import iso226


@pytest.mark.parametrize("freq, alpha_f, l_u, t_f", [
    # ISO 226:2003, Table 1 ("Parameters for the calculation of normal equal-loudness-level contours").
    (1000.0, 0.250, 0.0, 2.4),
    (100.0, 0.367, -8.1, 26.5),
    (10000.0, 0.271, -10.7, 13.9),
])
def test_table_parameters_match_the_standard(freq, alpha_f, l_u, t_f):
    af, lu, tf = iso226.table_parameters(freq)
    assert af == pytest.approx(alpha_f) and lu == pytest.approx(l_u) and tf == pytest.approx(t_f)


def _hand_lp(ln, af, lu, tf):
    # ISO 226:2003 eq. (2) and (1), written out independently of the module.
    a = 4.47e-3 * (10 ** (0.025 * ln) - 1.15) + (0.4 * 10 ** ((tf + lu) / 10 - 9)) ** af
    return 10 / af * np.log10(a) - lu + 94


@pytest.mark.parametrize("freq, params, expected_40phon", [
    # 40-phon contour values as tabulated from ISO 226:2003 (rounded to 0.1 dB).
    (1000.0, (0.250, 0.0, 2.4), 40.0),
    (100.0, (0.367, -8.1, 26.5), 64.4),
    (10000.0, (0.271, -10.7, 13.9), 54.3),
])
def test_contour_values_at_40_phon(freq, params, expected_40phon):
    got = float(iso226.equal_loudness_spl(freq, phon=40.0))
    assert got == pytest.approx(_hand_lp(40.0, *params), abs=1e-9)
    assert got == pytest.approx(expected_40phon, abs=0.05)


@pytest.mark.parametrize("phon", [20, 40, 60, 80, 90])
def test_1khz_tone_has_its_own_loudness_level(phon):
    # The phon is defined as the SPL of an equally loud 1 kHz tone; the standard's formula holds it to rounding.
    assert float(iso226.equal_loudness_spl(1000.0, phon=phon)) == pytest.approx(phon, abs=0.05)


def test_weights_are_zero_at_1khz_and_negative_where_the_ear_is_less_sensitive():
    w = iso226.loudness_weights_db([1000.0, 100.0, 10000.0, 3150.0], phon=60.0)
    assert w[0] == pytest.approx(0.0, abs=0.05)
    assert w[1] == pytest.approx(60.0 - 78.65, abs=0.05)  # 100 Hz at 60 phon needs 78.65 dB SPL
    assert w[2] < -10.0
    assert w[3] > 0.0  # ear-canal resonance: 3.15 kHz is heard louder than 1 kHz


def test_weights_interpolate_between_and_hold_beyond_the_table():
    w = iso226.loudness_weights_db([20.0, 10.0, 12500.0, 16000.0, 110.0], phon=60.0)
    assert w[1] == pytest.approx(w[0])
    assert w[3] == pytest.approx(w[2])
    lo, hi = iso226.loudness_weights_db([100.0, 125.0], phon=60.0)
    assert min(lo, hi) < w[4] < max(lo, hi)


def test_phon_to_sone():
    np.testing.assert_allclose(iso226.phon_to_sone([40.0, 50.0, 60.0, 80.0]), [1.0, 2.0, 4.0, 16.0])
    assert float(iso226.phon_to_sone(30.0)) == pytest.approx(0.75**2.642)
    assert float(iso226.phon_to_sone(-5.0)) == 0.0
