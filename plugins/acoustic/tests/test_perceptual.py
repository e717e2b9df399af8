"""perceptual_spectrum: calibrated loudness, ISO 226 weighting, backends, chunking, contract with cnn14."""

import numpy as np
import pytest

from sapphire_acoustic.cnn14 import Cnn14
from sapphire_acoustic.perceptual import PerceptualSpectrum, perceptual_spectrum
from sapphire_core.testing import contract_case
from sapphire_core.testing.signals import sine

SR = 22050


@pytest.mark.parametrize("backend", ["librosa", "torch"])
def test_1khz_tone_at_minus_20_dbfs_is_16_sone(backend):
    # Full scale = 100 dB SPL, so -20 dBFS = 80 dB SPL = 80 phon at 1 kHz = 2^((80-40)/10) = 16 sone.
    out = perceptual_spectrum(sine(1000.0, sr=SR, seconds=2.0, amplitude=0.1), backend=backend)
    assert np.median(out["loudness"][0, 5:-5]) == pytest.approx(16.0, rel=0.03)


def test_low_tone_is_quieter_than_1khz_by_the_iso_weight():
    from sapphire_acoustic import iso226

    lo = perceptual_spectrum(sine(100.0, sr=SR, seconds=2.0, amplitude=0.1))["loudness"][0, 5:-5]
    hi = perceptual_spectrum(sine(1000.0, sr=SR, seconds=2.0, amplitude=0.1))["loudness"][0, 5:-5]
    expected_phon = 80.0 + float(iso226.loudness_weights_db(100.0, phon=60.0))
    assert np.median(lo) == pytest.approx(float(iso226.phon_to_sone(expected_phon)), rel=0.05)
    assert np.median(lo) < np.median(hi) / 2


def test_logmel_is_weighted():
    # Same physical level at 100 Hz and 1 kHz: the 100 Hz band reads lower by about the ISO weight.
    a = perceptual_spectrum(sine(100.0, sr=SR, seconds=1.0, amplitude=0.1))["logmel"]
    b = perceptual_spectrum(sine(1000.0, sr=SR, seconds=1.0, amplitude=0.1))["logmel"]
    assert a.max() < b.max() - 10.0


def test_backends_agree_and_chunking_is_exact():
    y = np.random.RandomState(0).randn(SR * 14).astype(np.float32) * 0.1
    t = perceptual_spectrum(y, backend="torch")
    lib = perceptual_spectrum(y, backend="librosa")
    ch = perceptual_spectrum(y, backend="torch", chunk_seconds=5.5)
    for key in ("logmel", "mfcc", "loudness"):
        assert t[key].shape == lib[key].shape == ch[key].shape
    assert np.abs(t["logmel"] - lib["logmel"]).max() < 0.05
    assert np.abs(t["logmel"] - ch["logmel"]).max() < 0.05
    np.testing.assert_allclose(t["loudness"], ch["loudness"], rtol=1e-3)


TestPerceptualCnn14 = contract_case(PerceptualSpectrum, Cnn14)
TestPerceptualLibrosaBackend = contract_case(PerceptualSpectrum, Cnn14, extractor={"backend": "librosa"})
