"""Registration and error paths of the structure plugin."""

import pytest
import torch

import sapphire_structure.plugin as plugin
from sapphire_core.errors import ConfigError
from sapphire_structure.encoder import StructureCNN
from sapphire_structure.extractors import SIPLCAPatterns


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
    with pytest.raises(ConfigError, match="no CUDA device.*valid: cpu, cuda, auto"):
        SIPLCAPatterns(device="cuda")
