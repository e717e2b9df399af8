"""Shared machinery: intermediates shared per track, device selection, error paths, edge-case audio."""

import numpy as np
import pytest
import torch

from sapphire_acoustic.common import resolve_device
from sapphire_acoustic.midlevel import MidLevel
from sapphire_acoustic.perceptual import PerceptualSpectrum
from sapphire_acoustic.rhythm import Rhythm
from sapphire_acoustic.tonal import Tonal, key_templates
from sapphire_core.context import TrackContext, shared, track_context
from sapphire_core.errors import ConfigError


def test_track_context_serves_same_content_and_never_stale_content():
    calls = []
    a = np.arange(1000, dtype=np.float32)
    with track_context(TrackContext()):
        assert shared(a, "k", lambda: calls.append(1) or "first") == "first"
        assert shared(a.copy(), "k", lambda: calls.append(1) or "second") == "first"  # equal content
        b = a.copy()
        b[500] += 1.0
        assert shared(b, "k", lambda: calls.append(1) or "third") == "third"  # one sample differs
    assert len(calls) == 2
    assert shared(b, "k", lambda: "fourth") == "fourth"  # outside a track's extraction nothing is kept


def test_features_identical_with_and_without_a_shared_context(make_melody):
    y = make_melody([60, 64, 67, 72, 67, 64], durations=0.3, sr=22050)
    with track_context(TrackContext()):  # tonal's chroma and rhythm's analysis reused by midlevel
        together = {cls.name: cls().extract(y, None) for cls in (Tonal, Rhythm, MidLevel)}
    for cls in (Tonal, Rhythm, MidLevel):
        alone = cls().extract(y.copy(), None)
        for key in alone:
            np.testing.assert_array_equal(together[cls.name][key], alone[key], err_msg=f"{cls.name}.{key}")


def test_device_selection():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ConfigError, match="no CUDA device.*device: auto"):
            resolve_device("cuda")


def test_config_errors_name_the_choices():
    with pytest.raises(ConfigError, match="backend"):
        PerceptualSpectrum(backend="essentia")
    with pytest.raises(ConfigError, match="profile"):
        Tonal(profile="bogus")
    with pytest.raises(ConfigError, match="valid choices: albrecht_shanahan, krumhansl_kessler, temperley"):
        key_templates("bogus")


@pytest.mark.parametrize("backend", ["torch", "librosa"])
def test_edge_case_audio_gives_finite_features(backend):
    rng = np.random.RandomState(0)
    clips = [np.zeros(22050, np.float32), np.full(600, 0.1, np.float32), (rng.randn(4000) * 0.1).astype(np.float32)]
    for y in clips:
        for cls in (PerceptualSpectrum, Tonal, Rhythm, MidLevel):
            feats = cls(backend=backend).extract(y, None)
            for key, value in feats.items():
                assert np.all(np.isfinite(value)), f"{cls.name}.{key} on {y.size} samples"
