"""Config bounds and hostile config files: every bad value fails at ``config validate`` with its key path,
a model over the parameter budget is refused before anything is allocated, and unreadable YAML or a
broken ``--set`` gives one line naming the file or the override."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sapphire_core.component import MAX_DIM, is_dimension_field
from sapphire_core.config import (
    DEFAULT_PARAMETER_BUDGET, apply_overrides, check_parameter_budget, count_parameters, load_config, read_yaml,
    validate_config,
)
from sapphire_core.errors import ConfigError
from sapphire_core.model import model_from_config
from sapphire_core.plugins import default_registry

SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))

BASE = {
    "name": "t",
    "modalities": {"dynamics": {"encoder": {"name": "dynamics_mlp", "output_dim": 16}}},
    "fusion": {"name": "concat_mlp", "output_dim": 32, "hidden": 32},
    "losses": [{"name": "infonce"}],
}


def with_(**blocks) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(blocks)
    return data


def sapphire(*args, cwd=None):
    return subprocess.run([SAPPHIRE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return out.stderr


@pytest.mark.parametrize("name", ["output_dim", "input_dim", "embed_dim", "timbre_dim", "d_model", "hidden",
                                  "hidden_size", "width"])
def test_width_field_names_are_recognised(name):
    assert is_dimension_field(name)


@pytest.mark.parametrize("name", ["n_mels", "depth", "heads", "max_lines", "dimension_weight", "windowed"])
def test_other_field_names_are_not_widths(name):
    assert not is_dimension_field(name)


@pytest.mark.parametrize("value, path", [
    (1_000_000_000, "fusion.output_dim"),
    (MAX_DIM + 1, "fusion.output_dim"),
    (0, "fusion.output_dim"),
    (-5, "fusion.output_dim"),
])
def test_fusion_width_out_of_bounds_names_the_key(value, path):
    data = with_(fusion={"name": "concat_mlp", "output_dim": value, "hidden": 32})
    with pytest.raises(ConfigError, match=rf"{path}: .*65,?536"):
        validate_config(data, default_registry())


def test_negative_encoder_dim_names_the_key():
    data = with_(modalities={"dynamics": {"encoder": {"name": "dynamics_mlp", "output_dim": -3}}})
    with pytest.raises(ConfigError, match=r"modalities\.dynamics\.encoder\.output_dim: output_dim is -3; a dimension "
                                          r"must be between 1 and 65,536"):
        validate_config(data, default_registry())


def test_plugin_width_fields_get_the_bound_without_declaring_it():
    """concat_mlp's ``hidden`` is declared ``ge=1`` only; the core's bound adds the ceiling."""
    data = with_(fusion={"name": "concat_mlp", "output_dim": 32, "hidden": MAX_DIM + 1})
    with pytest.raises(ConfigError, match=r"fusion\.hidden: hidden is 65537; a dimension must be between 1 and 65,536"):
        validate_config(data, default_registry())


def test_the_limit_itself_is_allowed():
    data = with_(fusion={"name": "concat_mlp", "output_dim": 32, "hidden": MAX_DIM})
    cfg = validate_config(data, default_registry())
    assert cfg.fusion.hidden == MAX_DIM


def test_subspaces_must_fit_the_output_dim():
    data = with_(fusion={"name": "concat_mlp", "output_dim": 64, "hidden": 32, "subspaces": {"mood": 48, "genre": 32}})
    with pytest.raises(ConfigError, match=r"fusion: subspaces need 80 dims \(mood 48 \+ genre 32\) but output_dim is 64"):
        validate_config(data, default_registry())


def test_subspaces_that_fill_the_output_dim_exactly_are_fine():
    data = with_(fusion={"name": "concat_mlp", "output_dim": 64, "hidden": 32, "subspaces": {"mood": 32, "genre": 32}})
    cfg = validate_config(data, default_registry())
    assert model_from_config(cfg).subspaces == {"mood": slice(0, 32), "genre": slice(32, 64)}


@pytest.mark.parametrize("size", [0, -1, MAX_DIM + 1])
def test_subspace_sizes_are_bounded(size):
    data = with_(fusion={"name": "concat_mlp", "output_dim": 64, "hidden": 32, "subspaces": {"mood": size}})
    with pytest.raises(ConfigError, match=r"fusion\.subspaces\.mood: "):
        validate_config(data, default_registry())


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_count_matches_the_built_model(path):
    """The meta-device count equals the real model's parameters (text tower weights aside)."""
    registry = default_registry()
    cfg = load_config(path, registry)
    counts = count_parameters(cfg, registry)
    model = model_from_config(cfg, registry)
    real = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("text_tower."))
    assert sum(counts.values()) == real
    assert check_parameter_budget(cfg, registry) == real < DEFAULT_PARAMETER_BUDGET


def test_budget_names_the_total_and_the_largest_component():
    registry = default_registry()
    # d_model 4096 with 4 heads: ~4 * 4096^2 attention weights + feed-forward ~ 200 M+: no allocation happens.
    data = with_(fusion={"name": "cross_attention", "output_dim": 64, "d_model": 8192})
    cfg = validate_config(data, registry)
    counts = count_parameters(cfg, registry)
    assert counts["fusion (cross_attention)"] > DEFAULT_PARAMETER_BUDGET
    with pytest.raises(ConfigError, match=r"set\.yaml: the model would have [\d,]+ parameters, over the budget of "
                                          r"200,000,000; the largest part is fusion \(cross_attention\)"):
        check_parameter_budget(cfg, registry, source="set.yaml")
    small = validate_config(BASE, registry)
    with pytest.raises(ConfigError, match=r"over the budget of 100; the largest part is fusion \(concat_mlp\)"):
        check_parameter_budget(small, registry, budget=100)


def test_cli_validate_rejects_a_billion_wide_output(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(with_(fusion={"name": "concat_mlp", "output_dim": 1_000_000_000})))
    err = one_error_line(sapphire("config", "validate", str(path)))
    assert f"{path}: invalid modality set" in err and "fusion.output_dim" in err


def test_cli_validate_checks_the_budget(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(with_(fusion={"name": "cross_attention", "output_dim": 64, "d_model": 8192})))
    err = one_error_line(sapphire("config", "validate", str(path)))
    assert "over the budget of 200,000,000" in err and "fusion (cross_attention)" in err
    assert "--max-parameters" in err
    ok = sapphire("config", "validate", str(path), "--max-parameters", "100000000000")
    assert ok.returncode == 0, ok.stderr
    assert "parameters" in ok.stdout


def test_cli_train_checks_the_budget_before_touching_the_corpus(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(with_(fusion={"name": "cross_attention", "output_dim": 64, "d_model": 8192})))
    err = one_error_line(sapphire("train", str(path), "--corpus", str(tmp_path / "nowhere"), "--out",
                                  str(tmp_path / "run")))
    assert "over the budget" in err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- unreadable YAML and overrides


def test_non_utf8_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: t\ndescription: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"{path}:2: not UTF-8 text \(byte 0xe9 at offset 24\); save the file as UTF-8"):
        read_yaml(path)


def test_utf16_yaml_is_not_a_traceback(tmp_path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes("name: t\n".encode("utf-16"))
    err = one_error_line(sapphire("config", "validate", str(path)))
    assert f"{path}:1: not UTF-8 text" in err and len(err.strip().splitlines()) == 1


def test_a_folder_given_as_config_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path)


@pytest.mark.parametrize("value", ["[", "{a: 1", "'unclosed", "a: b: c"])
def test_broken_override_value_names_the_override(value):
    item = f"training.epochs={value}"
    with pytest.raises(ConfigError, match=r"override .training\.epochs=.*.: the value .* is not valid YAML"):
        apply_overrides(BASE, [item])


def test_cli_broken_override_is_one_line(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(BASE))
    err = one_error_line(sapphire("config", "validate", str(path), "--set", "training.epochs=["))
    assert "override 'training.epochs=['" in err and "quote it" in err
    assert len(err.strip().splitlines()) == 1


def test_describe_set_with_broken_yaml_is_one_line(tmp_path):
    (tmp_path / "tracks.jsonl").write_text("")
    err = one_error_line(sapphire("describe", "--corpus", str(tmp_path), "--set", "temperature=["))
    assert "override 'temperature=['" in err and "not valid YAML" in err
