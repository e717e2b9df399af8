"""The plugin manager, the registry, and plugin selection."""

from __future__ import annotations

import inspect
import types

import pytest

from sapphire_core import hookimpl, hookspecs
from sapphire_core.encoder import Encoder
from sapphire_core.errors import DuplicateComponentError, PluginError, UnknownComponentError
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.plugins import _selected, build_registry, get_plugin_manager, installed_entry_points


class ToyExtractor(FeatureExtractor):
    name, modality = "toy_ex", "toy"

    def output_shapes(self):
        return {"x": (2,)}

    def extract(self, audio, track):
        import numpy as np

        return {"x": np.zeros(2, np.float32)}


class ToyEncoder(Encoder):
    name, modality, requires = "toy_enc", "toy", ("toy_ex",)

    def forward(self, features):
        return features["toy_ex.x"]

    def example_features(self, batch_size=2, *, seed=0):
        import torch

        return {"toy_ex.x": torch.zeros(batch_size, 2)}


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def test_registers_in_test_plugin(registry_with):
    plugin = plugin_module("toyplug", register_extractors=lambda register: register(ToyExtractor),
                           register_encoders=lambda register: register(ToyEncoder))
    registry = registry_with(plugin)
    assert registry.get("extractor", "toy_ex") is ToyExtractor
    assert registry.get("encoder", "toy_enc", modality="toy") is ToyEncoder
    assert "toy" in registry.modalities()
    # the core's own components are always there
    assert "infonce" in registry.names("loss")
    assert "concat_mlp" in registry.names("fusion")


def test_duplicate_name_names_both_providers():
    class Other(ToyExtractor):
        pass

    a = plugin_module("plug_a", register_extractors=lambda register: register(ToyExtractor))
    b = plugin_module("plug_b", register_extractors=lambda register: register(Other))
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(a, name="dist-a:a")
    pm.register(b, name="dist-b:b")
    with pytest.raises(DuplicateComponentError, match=r"dist-a.*dist-b|dist-b.*dist-a"):
        build_registry(pm)


def test_unknown_name_lists_installed_and_providers(registry_with):
    plugin = plugin_module("toyplug", register_extractors=lambda register: register(ToyExtractor))
    registry = registry_with(plugin)
    with pytest.raises(UnknownComponentError, match=r"unknown extractor 'nope'.*toy_ex \(toyplug"):
        registry.get("extractor", "nope")


def test_wrong_base_class_is_rejected(registry_with):
    plugin = plugin_module("badplug", register_encoders=lambda register: register(ToyExtractor))
    with pytest.raises(PluginError, match="not a Encoder subclass"):
        registry_with(plugin)


def test_misspelt_hook_fails_loudly():
    bad = plugin_module("typo", register_extractorz=lambda register: None)
    with pytest.raises(PluginError, match="register_extractorz"):
        get_plugin_manager(load_entrypoints=False, plugins=[bad])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(None, {"a", "b", "c"}), ("all", {"a", "b", "c"}), ("a,c", {"a", "c"}), ("-b", {"a", "c"}),
     ("none", set()), ("", set())],
)
def test_selection(spec, expected):
    assert _selected(["a", "b", "c"], spec) == expected


@pytest.mark.parametrize("spec", ["zzz", "a,-b"])
def test_bad_selection(spec):
    with pytest.raises(PluginError):
        _selected(["a", "b", "c"], spec)


def test_env_var_disables_plugin(monkeypatch):
    names = [ep.name for ep in installed_entry_points()]
    assert "acoustic" in names
    monkeypatch.setenv("SAPPHIRE_PLUGINS", "-acoustic")
    pm = get_plugin_manager()
    loaded = {n.split(":", 1)[-1] for n, _ in pm.list_name_plugin()}
    assert "acoustic" not in loaded and "vocal" in loaded


def test_broken_plugin_says_which_and_how_to_disable(monkeypatch):
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="broken", value="sapphire_no_such_module_xyz", group="sapphire.plugins")
    monkeypatch.setattr("sapphire_core.plugins.installed_entry_points", lambda: [broken])
    with pytest.raises(PluginError, match=r"'broken'.*SAPPHIRE_PLUGINS=-broken"):
        get_plugin_manager()


def test_every_hook_is_documented_and_registered_by_a_kind():
    from sapphire_core.registry import KINDS, ComponentRegistrar, Registry

    hooks = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")}
    assert hooks == {hook for hook, _ in KINDS.values()} | {"register_components"}, "each hook maps to one kind"
    for name in hooks:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
    for _, base in KINDS.values():  # register_components files a class of every interface under its kind
        cls = type("Probe", (base,), {"name": "probe", "modality": "toy", "extra": "x", "extractor": "x"})
        registry = Registry()
        ComponentRegistrar(registry, "probe-dist").add(cls)
        assert [e.cls for kind in registry.entries.values() for e in kind.values()] == [cls]


def test_register_components_adds_several_kinds_in_one_hook(registry_with):
    registry = registry_with(plugin_module("typed", register_components=lambda registrar: registrar.add(
        ToyExtractor, ToyEncoder)))
    assert registry.get("extractor", "toy_ex") is ToyExtractor and registry.get("encoder", "toy_enc") is ToyEncoder
    with pytest.raises(PluginError, match=r"<class 'object'> is not a subclass of exactly one component interface"):
        registry_with(plugin_module("bad", register_components=lambda registrar: registrar.add(object)))


def test_installed_modality_plugins_are_discovered():
    names = {ep.name for ep in installed_entry_points()}
    assert {"acoustic", "lyrics", "structure", "vocal"} <= names
