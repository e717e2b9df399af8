"""Equal-loudness contours of ISO 226:2003 and the perceptual weighting derived from them.

ISO 226:2003 "Acoustics - Normal equal-loudness-level contours", Table 1 gives, for the 29
preferred frequencies 20 Hz ... 12.5 kHz, the exponent of loudness perception ``alpha_f``, the
magnitude of the linear transfer function normalised at 1 kHz ``L_U`` (dB) and the threshold of
hearing ``T_f`` (dB SPL). Clause 4.1, equations (1) and (2), give the sound pressure level ``L_p``
of a pure tone of frequency ``f`` that has loudness level ``L_N`` (phon)::

    A_f = 4.47e-3 (10^(0.025 L_N) - 1.15) + (0.4 * 10^((T_f + L_U)/10 - 9))^alpha_f      (2)
    L_p = (10 / alpha_f) lg A_f - L_U + 94  dB                                            (1)

valid for 20 phon <= L_N <= 90 phon (to 80 phon above 4 kHz, per the standard). Between the
tabulated frequencies the three parameters are interpolated linearly over log-frequency; outside
20 Hz - 12.5 kHz they are held at the end values (a documented extrapolation, the standard
stops there).

The *weighting* used for perceptual spectra is the contour turned upside down and referenced to
1 kHz: ``w(f) = L_N - L_p(f, L_N)`` dB, i.e. 0 dB at 1 kHz (by construction of the standard)
and negative where the ear is less sensitive (about -24 dB at 100 Hz at 60 phon).
"""

from __future__ import annotations

import numpy as np

#: ISO 226:2003 Table 1, column 1: preferred frequencies (Hz).
FREQUENCIES = np.array([20, 25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800,
                        1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500], dtype=np.float64)
#: ISO 226:2003 Table 1, column 2: exponent for loudness perception ``alpha_f``.
ALPHA_F = np.array([0.532, 0.506, 0.480, 0.455, 0.432, 0.409, 0.387, 0.367, 0.349, 0.330, 0.315, 0.301, 0.288,
                    0.276, 0.267, 0.259, 0.253, 0.250, 0.246, 0.244, 0.243, 0.243, 0.243, 0.242, 0.242, 0.245,
                    0.254, 0.271, 0.301])
#: ISO 226:2003 Table 1, column 3: magnitude of the linear transfer function normalised at 1 kHz ``L_U`` (dB).
L_U = np.array([-31.6, -27.2, -23.0, -19.1, -15.9, -13.0, -10.3, -8.1, -6.2, -4.5, -3.1, -2.0, -1.1, -0.4, 0.0,
                0.3, 0.5, 0.0, -2.7, -4.1, -1.0, 1.7, 2.5, 1.2, -2.1, -7.1, -11.2, -10.7, -3.1])
#: ISO 226:2003 Table 1, column 4: threshold of hearing ``T_f`` (dB SPL).
T_F = np.array([78.5, 68.7, 59.5, 51.1, 44.0, 37.5, 31.5, 26.5, 22.1, 17.9, 14.4, 11.4, 8.6, 6.2, 4.4, 3.0, 2.2,
                2.4, 3.5, 1.7, -1.3, -4.2, -6.0, -5.4, -1.5, 6.0, 12.6, 13.9, 12.3])


def table_parameters(freqs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alpha_f, L_U, T_f)`` at ``freqs`` (Hz): Table 1 values, log-frequency interpolated between rows,
    held constant beyond 20 Hz / 12.5 kHz."""
    f = np.clip(np.asarray(freqs, dtype=np.float64), FREQUENCIES[0], FREQUENCIES[-1])
    x, xp = np.log(f), np.log(FREQUENCIES)
    return np.interp(x, xp, ALPHA_F), np.interp(x, xp, L_U), np.interp(x, xp, T_F)


def equal_loudness_spl(freqs, *, phon: float = 60.0) -> np.ndarray:
    """Sound pressure level (dB SPL) of a pure tone at ``freqs`` with loudness level ``phon``.

    Parameters
    ----------
    freqs : array_like
        Frequencies in Hz.
    phon : float
        Loudness level ``L_N`` (phon); the standard is valid from 20 to 90 phon.

    Returns
    -------
    np.ndarray
        ``L_p`` per ISO 226:2003 equations (1) and (2).

    Examples
    --------
    >>> round(float(equal_loudness_spl(1000.0, phon=60.0)), 2)
    60.0
    """
    af, lu, tf = table_parameters(freqs)
    a_f = 4.47e-3 * (10 ** (0.025 * phon) - 1.15) + (0.4 * 10 ** ((tf + lu) / 10 - 9)) ** af
    return 10.0 / af * np.log10(a_f) - lu + 94.0


def loudness_weights_db(freqs, *, phon: float = 60.0) -> np.ndarray:
    """Perceptual weighting (dB) relative to 1 kHz: ``phon - L_p(f, phon)``.

    Adding it to a power spectrum in dB turns physical level into an estimate of loudness
    level (phon) per band, for sounds near the reference level ``phon``.
    """
    return phon - equal_loudness_spl(freqs, phon=phon)


def phon_to_sone(phon) -> np.ndarray:
    """Loudness (sone) from loudness level (phon).

    Above 40 phon, Stevens' power law as standardised in ISO 532 / ANSI S3.4: loudness doubles per
    10 phon, ``N = 2^((L_N - 40)/10)``; below 40 phon the low-level approximation
    ``N = (L_N / 40)^2.642`` (Zwicker & Fastl, Psychoacoustics, 3rd ed., sec. 8.7), which joins it
    continuously at 1 sone.
    """
    p = np.maximum(np.asarray(phon, dtype=np.float64), 0.0)
    return np.where(p >= 40.0, 2.0 ** ((p - 40.0) / 10.0), (p / 40.0) ** 2.642)
