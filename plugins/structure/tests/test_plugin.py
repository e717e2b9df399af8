"""Registration and error paths of the structure plugin."""

import numpy as np
import pytest
import torch

import sapphire_structure.plugin as plugin
from sapphire_core.errors import ConfigError
from sapphire_structure.encoder import StructureCNN
from sapphire_structure.extractors import EXTRACTORS, SIPLCAPatterns


def test_registers_structure_components(registry_with):
    reg = registry_with(plugin)
    assert reg.names("extractor", modality="structure") == ["harmony", "segments", "self_similarity", "siplca"]
    assert reg.names("encoder", modality="structure") == ["structure_cnn"]
    assert set(StructureCNN.requires) <= set(reg.names("extractor", modality="structure"))


def test_siplca_encoder_names_missing_extractor():
    enc = StructureCNN(use_siplca=True)
    feats = StructureCNN().example_features(2)
    with pytest.raises(ConfigError, match="siplca.patterns.*siplca extractor"):
        enc(feats)


def test_bad_device_is_a_config_error():
    with pytest.raises(ConfigError, match="device.*'cpu', 'cuda' or 'auto'"):
        SIPLCAPatterns(device="tpu")


def test_cuda_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present, so device='cuda' is valid here")
    with pytest.raises(ConfigError, match="siplca.device: 'cuda' but no CUDA device.*valid here: auto, cpu, cuda"):
        SIPLCAPatterns(device="cuda")


@pytest.mark.parametrize("seconds", [0.2, 1.0])
@pytest.mark.parametrize("kind", ["tone", "silence"])
def test_short_and_silent_clips(seconds, kind):
    """Too short for beats, or silent: still finite features of the declared shapes, one section
    and chord segments spanning exactly the clip."""
    from sapphire_core.testing.signals import sine
    from sapphire_structure import recognise_chords, segment

    n = int(22050 * seconds)
    y = sine(440.0, sr=22050, seconds=seconds) if kind == "tone" else np.zeros(n, dtype=np.float32)
    for cls in EXTRACTORS:
        ex = cls()
        feats = ex.extract(y, None)
        for key, shape in ex.output_shapes().items():
            assert feats[key].shape == shape and np.isfinite(feats[key]).all(), (cls.name, key)
    sections = segment(y, 22050)
    assert [lab for *_, lab in sections] == ["A"] and sections[-1][1] == pytest.approx(seconds)
    chords = recognise_chords(y, 22050)
    assert chords[0][0] == 0.0 and chords[-1][1] == pytest.approx(seconds)
    if kind == "silence":
        assert {lab for *_, lab in chords} == {"N"}


def test_long_tracks_get_a_capped_grid():
    from sapphire_structure.features import cap_grid

    frames = np.arange(0, 10001, 2)  # 5000 intervals
    capped = cap_grid(frames, 2048)
    assert capped.size - 1 <= 2048 and capped[0] == 0 and capped[-1] == 10000
    assert np.all(np.diff(capped) > 0)
    assert cap_grid(frames[:10], 2048) is not None and cap_grid(frames[:10], 2048).size == 10


def test_blockwise_frame_features_match_whole_signal(monkeypatch):
    """Long tracks are analysed in blocks (bounded memory); the frames must not change."""
    import sapphire_structure.features as features
    from sapphire_core.testing.signals import melody

    y = np.tile(melody([60, 64, 67, 72, 71, 67, 65, 62], durations=0.25, sr=22050), 10)  # 20 s
    whole = features._frame_features_block(y, 22050, 512, 13, None)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 256)  # 6 s blocks
    blocks = features._frame_features(y, 22050, 512, 13)
    for a, b in zip(whole, blocks):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=2e-3 * max(1.0, float(np.abs(a).max())))
