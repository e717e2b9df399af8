"""The plugin manager factory. Entry points in the group ``sapphire.plugins`` are the only discovery path.

``SAPPHIRE_PLUGINS`` selects plugins by entry-point name, so one broken plugin cannot lock
users out:

- unset or ``all``: load every installed plugin;
- ``acoustic,vocal``: load only these;
- ``-lyrics``: load all but these (``-`` prefix on every item);
- ``none`` or empty string: load no third-party plugins (the core's own components stay).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

import pluggy

from sapphire_core import hookspecs
from sapphire_core.errors import PluginError
from sapphire_core.registry import KINDS, ComponentRegistrar, Registrar, Registry

ENTRY_POINT_GROUP = "sapphire.plugins"
ENV_VAR = "SAPPHIRE_PLUGINS"
CORE_DISTRIBUTION = "sapphire-core"
#: Modules of the core that register built-in components (losses, fusion heads, describers).
CORE_PLUGIN_MODULES = ("sapphire_core.builtin",)


def _selected(names: Iterable[str], spec: str | None) -> set[str]:
    names = set(names)
    if spec is None or spec.strip().lower() == "all":
        return names
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items or items == ["none"]:
        return set()
    negative = [i[1:] for i in items if i.startswith("-")]
    positive = [i for i in items if not i.startswith("-")]
    if negative and positive:
        raise PluginError(f"{ENV_VAR}={spec!r} mixes selected and disabled plugins; use one form, e.g. 'a,b' or '-c'")
    unknown = sorted(set(negative or positive) - names)
    if unknown:
        raise PluginError(
            f"{ENV_VAR}={spec!r} names {', '.join(unknown)}, which is not installed; installed plugins: "
            f"{', '.join(sorted(names)) or 'none'}"
        )
    return names - set(negative) if negative else set(positive)


def installed_entry_points() -> list[EntryPoint]:
    """Every entry point in the ``sapphire.plugins`` group, whether enabled or not."""
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def get_plugin_manager(
    *, load_entrypoints: bool = True, plugins: Iterable[ModuleType | object] = (), selection: str | None = None
) -> pluggy.PluginManager:
    """Build a fresh plugin manager.

    Parameters
    ----------
    load_entrypoints : bool
        Load the installed plugins (filtered by ``SAPPHIRE_PLUGINS``). Tests pass False.
    plugins : iterable
        Extra plugin objects (modules or instances with ``@hookimpl`` methods) to register.
    selection : str, optional
        Overrides the ``SAPPHIRE_PLUGINS`` value.

    Raises
    ------
    PluginError
        When a plugin fails to import, or implements a hook that does not exist.
    """
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in CORE_PLUGIN_MODULES:
        pm.register(importlib.import_module(module_name), name=f"{CORE_DISTRIBUTION}:{module_name}")
    if load_entrypoints:
        eps = installed_entry_points()
        spec = os.environ.get(ENV_VAR) if selection is None else selection
        chosen = _selected([ep.name for ep in eps], spec)
        for ep in eps:
            if ep.name not in chosen:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must say which one it is
                dist = ep.dist.name if ep.dist else "?"
                raise PluginError(
                    f"plugin {ep.name!r} ({dist}) failed to import: {exc!r}. Fix or reinstall it, or disable it "
                    f"with {ENV_VAR}=-{ep.name}"
                ) from exc
            dist_name = ep.dist.name if ep.dist else ep.name
            pm.register(module, name=f"{dist_name}:{ep.name}")
    for plugin in plugins:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc}. Check the hook name against sapphire_core.hookspecs") from exc
    return pm


def _provider(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))
    return name.split(":", 1)[0]


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every registration hook and collect the components.

    Raises
    ------
    DuplicateComponentError
        When two distributions register the same name.
    """
    pm = pm or get_plugin_manager()
    registry = Registry()
    for kind, (hook_name, _base) in KINDS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            provider = _provider(pm, impl.plugin)
            impl.function(register=Registrar(registry, kind, provider))
    for impl in pm.hook.register_components.get_hookimpls():
        impl.function(registrar=ComponentRegistrar(registry, _provider(pm, impl.plugin)))
    return registry


_DEFAULT: Registry | None = None


def default_registry(*, refresh: bool = False) -> Registry:
    """The registry of the installed, enabled plugins, built once per process."""
    global _DEFAULT
    if _DEFAULT is None or refresh:
        _DEFAULT = build_registry(get_plugin_manager())
    return _DEFAULT
