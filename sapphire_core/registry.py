"""The component registry: what the installed plugins provide, and which distribution provides it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sapphire_core.describer import DescriptionBackend
from sapphire_core.encoder import Encoder
from sapphire_core.errors import DuplicateComponentError, PluginError, UnknownComponentError
from sapphire_core.explanation import Explanation
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.fusion import FusionHead
from sapphire_core.index_extra import IndexExtra
from sapphire_core.loss import Loss
from sapphire_core.query_mode import CORE_MODES, QueryMode
from sapphire_core.vector_store import VectorStore

#: kind -> (hook name, required base class)
KINDS: dict[str, tuple[str, type]] = {
    "extractor": ("register_extractors", FeatureExtractor),
    "encoder": ("register_encoders", Encoder),
    "loss": ("register_losses", Loss),
    "fusion": ("register_fusion_heads", FusionHead),
    "describer": ("register_description_backends", DescriptionBackend),
    "vector_store": ("register_vector_stores", VectorStore),
    "query_mode": ("register_query_modes", QueryMode),
    "explanation": ("register_explanations", Explanation),
    "index_extra": ("register_index_extras", IndexExtra),
}
#: Class attributes each kind must set (besides ``name``), checked at registration.
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "extractor": ("modality",), "encoder": ("modality",), "query_mode": ("extra",), "explanation": ("extractor",),
}

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One registered component class and the distribution that provides it."""

    kind: str
    name: str
    cls: type
    provider: str

    @property
    def modality(self) -> str | None:
        return getattr(self.cls, "modality", None)


class Registrar(Generic[T]):
    """What a registration hook receives (tox 4's typed ``ToxEnvRegister``): call it with each class.

    It returns the class, so it also works as a decorator. The core keeps control of names,
    duplicates and base classes (:meth:`Registry.add`).
    """

    def __init__(self, registry: Registry, kind: str, provider: str) -> None:
        self.registry, self.kind, self.provider = registry, kind, provider

    def __call__(self, cls: type[T]) -> type[T]:
        self.registry.add(self.kind, cls, self.provider)
        return cls

    def __repr__(self) -> str:
        return f"<Registrar {self.kind} for {self.provider}>"


class ComponentRegistrar:
    """What ``register_components`` receives: one call registers classes of any kind, each under the kind
    its interface says (a FeatureExtractor as an extractor, a QueryMode as a query mode, ...)::

        @hookimpl
        def register_components(registrar):
            registrar.add(MyExtractor, MyEncoder, MyQueryMode)
    """

    def __init__(self, registry: Registry, provider: str) -> None:
        self.registry, self.provider = registry, provider

    def add(self, *classes: type) -> None:
        """Register each class under its kind.

        Raises
        ------
        PluginError
            For a class that implements none of the component interfaces, listing them.
        """
        for cls in classes:
            kinds = [k for k, (_, base) in KINDS.items() if isinstance(cls, type) and issubclass(cls, base)]
            if len(kinds) != 1:
                bases = ", ".join(base.__name__ for _, base in KINDS.values())
                raise PluginError(f"{self.provider}: {cls!r} is not a subclass of exactly one component interface "
                                  f"({bases})")
            self.registry.add(kinds[0], cls, self.provider)

    def __repr__(self) -> str:
        return f"<ComponentRegistrar for {self.provider}>"


@dataclass
class Registry:
    """Registered components by kind and name."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def add(self, kind: str, cls: type, provider: str) -> None:
        """Register ``cls`` as a ``kind`` component provided by ``provider``.

        Raises
        ------
        PluginError
            When ``cls`` is not a subclass of the kind's interface or has no name.
        DuplicateComponentError
            When another distribution already registered that name, naming both.
        """
        base = KINDS[kind][1]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"{provider}: {cls!r} registered as a {kind} but is not a {base.__name__} subclass")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{provider}: {cls.__name__} has no 'name' class attribute")
        if kind == "loss" and not issubclass(cls.Config, Loss.Config):
            raise PluginError(f"{provider}: loss {name!r} has a Config that does not derive from Loss.Config, so it "
                              "has no 'weight'; declare it as 'class Config(Loss.Config): ...'")
        for attr in REQUIRED_ATTRIBUTES.get(kind, ()):
            if not getattr(cls, attr, None):
                raise PluginError(f"{provider}: {kind} {name!r} has no {attr!r} class attribute")
        if kind == "query_mode" and name in CORE_MODES:
            raise PluginError(f"{provider}: query mode {name!r} is built into the core ({', '.join(CORE_MODES)}); "
                              "choose another name")
        existing = self.entries[kind].get(name)
        if existing is not None and existing.cls is not cls:
            raise DuplicateComponentError(
                f"{kind} name {name!r} is registered twice: by {existing.provider} ({existing.cls.__module__}) "
                f"and by {provider} ({cls.__module__}). Uninstall one, or disable one with "
                "SAPPHIRE_PLUGINS=-<plugin>."
            )
        self.entries[kind][name] = Entry(kind, name, cls, provider)

    def names(self, kind: str, *, modality: str | None = None) -> list[str]:
        """Registered names of ``kind`` (optionally of one modality), sorted."""
        return sorted(n for n, e in self.entries[kind].items() if modality is None or e.modality == modality)

    def modalities(self) -> dict[str, set[str]]:
        """Each modality that has an extractor or encoder, with the distributions providing it."""
        out: dict[str, set[str]] = {}
        for kind in ("extractor", "encoder"):
            for e in self.entries[kind].values():
                out.setdefault(e.modality, set()).add(e.provider)
        return out

    def describe_choices(self, kind: str, *, modality: str | None = None) -> str:
        """``"a (dist-a), b (dist-b)"`` for error messages."""
        entries = [self.entries[kind][n] for n in self.names(kind, modality=modality)]
        return ", ".join(f"{e.name} ({e.provider})" for e in entries) or "none installed"

    def entry(self, kind: str, name: str, *, modality: str | None = None) -> Entry:
        """Look up one component.

        Raises
        ------
        UnknownComponentError
            Listing what is installed and which package provides each.
        """
        e = self.entries[kind].get(name)
        if e is None or (modality is not None and e.modality != modality):
            scope = f" for modality {modality!r}" if modality else ""
            raise UnknownComponentError(
                f"unknown {kind} {name!r}{scope}; installed: {self.describe_choices(kind, modality=modality)}. "
                "Is its plugin installed (pip install -e plugins/<name>) and enabled (SAPPHIRE_PLUGINS)?"
            )
        return e

    def get(self, kind: str, name: str, *, modality: str | None = None) -> type:
        """The class registered as ``name`` (see :meth:`entry`)."""
        return self.entry(kind, name, modality=modality).cls

    def create(self, kind: str, name: str, *args: Any, **settings: Any) -> Any:
        """Instantiate a registered component with validated settings."""
        return self.get(kind, name)(*args, **settings)
