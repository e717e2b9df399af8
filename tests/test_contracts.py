"""Contracts checked when a modality set is validated or a component registered, not at the first forward pass."""

from __future__ import annotations

import types

import pytest

from sapphire_core import hookimpl
from sapphire_core.component import ComponentConfig
from sapphire_core.config import validate_config
from sapphire_core.errors import ConfigError, PluginError
from sapphire_core.loss import Loss
from sapphire_core.plugins import build_registry, default_registry, get_plugin_manager


def _acoustic(**extractor):
    return {"modalities": {"acoustic": {"extractors": [{"name": "perceptual_spectrum", **extractor}],
                                        "encoder": {"name": "cnn14", "output_dim": 32}}},
            "fusion": {"name": "concat_mlp", "output_dim": 32}, "losses": [{"name": "ntxent"}]}


def test_encoder_input_shape_mismatch_fails_validation_with_the_key_path():
    registry = default_registry()
    with pytest.raises(ConfigError, match=r"modalities\.acoustic\.encoder \(cnn14\): expects "
                                          r"perceptual_spectrum\.logmel of shape \(64, T\), but its extractor gives "
                                          r"\(128, T\)"):
        validate_config(_acoustic(n_mels=128), registry, source="mismatch.yaml")
    fixed = _acoustic(n_mels=128)
    fixed["modalities"]["acoustic"]["encoder"]["n_mels"] = 128
    cfg = validate_config(fixed, registry)
    from sapphire_core.model import SapphireModel

    model = SapphireModel(cfg, registry)  # the encoder receives its inputs' shapes when built
    assert model.encoders["acoustic"].input_shapes["perceptual_spectrum.logmel"] == (128, None)


def test_config_validate_command_rejects_the_mismatch(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_acoustic(n_mels=128)))
    sapphire = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
    out = subprocess.run([sapphire, "config", "validate", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "modalities.acoustic.encoder (cnn14)" in out.stderr.replace("\n", " ")


def test_a_loss_without_weight_is_rejected_at_registration():
    class NoWeight(Loss):
        name = "no_weight"

        class Config(ComponentConfig):
            margin: float = 0.1

        def compute_loss(self, inputs):
            return inputs.audio.sum()

    plugin = types.SimpleNamespace(register_losses=hookimpl(lambda register: register(NoWeight)))
    with pytest.raises(PluginError, match=r"loss 'no_weight' has a Config that does not derive from Loss.Config"):
        build_registry(get_plugin_manager(load_entrypoints=False, plugins=[plugin]))


def test_capabilities_are_declared_on_the_base_classes():
    from sapphire_core.extractor import FeatureExtractor

    assert (Loss.needs_text, Loss.needs_view2, Loss.feature_targets) == (False, False, {})
    assert FeatureExtractor.metadata_keys == () and FeatureExtractor.interpretable == {}
