"""YAML modality sets: shipped configs validate; bad ones fail with key paths and valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sapphire_core.config import apply_overrides, load_config, validate_config
from sapphire_core.errors import ConfigError
from sapphire_core.model import model_from_config
from sapphire_core.plugins import default_registry

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))

BASE = {
    "name": "t",
    "modalities": {"dynamics": {"encoder": {"name": "dynamics_mlp"}}},
    "fusion": {"name": "concat_mlp", "output_dim": 32, "hidden": 32},
    "losses": [{"name": "infonce"}],
}


def write(tmp_path, data) -> Path:
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate_and_build(path):
    cfg = load_config(path)
    model = model_from_config(cfg)
    assert model.embedding_dim == cfg.fusion.output_dim


def test_shipped_configs_exist():
    assert any(p.name == "default.yaml" for p in CONFIGS), "configs/default.yaml is the demo's modality set"


def test_defaults_fill_in_required_extractors(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert [e.name for e in cfg.modalities.dynamics.extractors] == ["rms_envelope"]


def test_misspelt_key_names_path_and_valid_keys(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["modalities"]["dynamics"]["encoder"]["outptu_dim"] = 3
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data))
    msg = str(err.value)
    assert "set.yaml" in msg
    assert "modalities.dynamics.encoder.outptu_dim: unknown key 'outptu_dim'" in msg
    assert "output_dim" in msg and "bins" in msg


def test_unknown_modality_lists_installed_with_providers(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["modalities"]["dynamcs"] = data["modalities"].pop("dynamics")
    with pytest.raises(ConfigError, match=r"unknown modality 'dynamcs'; installed: .*dynamics \(sapphire-example-dynamics\)"):
        load_config(write(tmp_path, data))


def test_unknown_loss_lists_valid_choices(tmp_path):
    data = dict(BASE, losses=[{"name": "infonse"}])
    with pytest.raises(ConfigError, match=r"losses\.0\.name: unknown loss 'infonse'; installed: .*infonce \(sapphire-core\)"):
        load_config(write(tmp_path, data))


def test_unknown_fusion_and_bad_value(tmp_path):
    data = dict(BASE, fusion={"name": "concat_mlp", "dropout": 2.0})
    with pytest.raises(ConfigError, match=r"fusion\.dropout"):
        load_config(write(tmp_path, data))
    data = dict(BASE, fusion={"name": "nope"})
    with pytest.raises(ConfigError, match=r"unknown fusion 'nope'; installed: .*concat_mlp"):
        load_config(write(tmp_path, data))


def test_encoder_requirements_checked(tmp_path, registry_with):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import _toy_plugin

    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["modalities"]["dynamics"]["extractors"] = [{"name": "rms_envelope", "bins": 4}]
    cfg = validate_config(data, default_registry())
    assert cfg.modalities.dynamics.extractors[0].bins == 4
    registry = registry_with(_toy_plugin, entrypoints=True)
    bad = yaml.safe_load(yaml.safe_dump(BASE))
    bad["modalities"]["dynamics"]["extractors"] = []
    with pytest.raises(ConfigError, match=r"unknown extractor 'spectrum_stats'|needs features from rms_envelope"):
        bad["modalities"]["dynamics"]["extractors"] = [{"name": "spectrum_stats"}]
        validate_config(bad, registry)


def test_not_yaml_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("modalities: [unclosed")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_override_name_replaces_the_whole_block():
    data = {"fusion": {"name": "concat_mlp", "hidden": 7}, "losses": [{"name": "infonce", "temperature": 0.5}]}
    out = apply_overrides(data, ["fusion.name=gated_sum", "losses.name=ntxent"])
    assert out["fusion"] == {"name": "gated_sum"}
    assert out["losses"] == [{"name": "ntxent"}]
    assert data["fusion"]["hidden"] == 7  # the input is not mutated


def test_override_leaf_and_index_and_mapping():
    data = {"losses": [{"name": "a"}, {"name": "b"}], "training": {"epochs": 3}}
    out = apply_overrides(data, ["losses.1.weight=0.5", "training.epochs=9", "fusion={name: concat_mlp, hidden: 8}"])
    assert out["losses"][1] == {"name": "b", "weight": 0.5}
    assert out["training"]["epochs"] == 9
    assert out["fusion"] == {"name": "concat_mlp", "hidden": 8}
    with pytest.raises(ConfigError, match="use losses.<index>.name"):
        apply_overrides(data, ["losses.name=x"])
    with pytest.raises(ConfigError, match="not of the form"):
        apply_overrides(data, ["epochs"])


def test_override_through_load_config(tmp_path):
    cfg = load_config(write(tmp_path, BASE), overrides=["fusion.output_dim=48", "training.epochs=2"])
    assert cfg.fusion.output_dim == 48 and cfg.training.epochs == 2
    assert cfg.fusion.hidden == 32
