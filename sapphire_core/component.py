"""What every pluggable component shares: a registry name and a nested pydantic ``Config``."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sapphire_core.errors import ConfigError


class ComponentConfig(BaseModel):
    """Base of every component's nested ``Config``: unknown keys are rejected, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def digest(self) -> str:
        """A short stable hash of the settings (used in cache keys)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class Component:
    """Mixin for registrable components.

    Subclasses set ``name`` (the registry name used in YAML) and may override
    the nested ``Config``. They are constructed with a ``Config`` instance or
    with keyword settings that are validated into one.
    """

    name: ClassVar[str]

    class Config(ComponentConfig):
        pass

    @classmethod
    def make_config(cls, config: ComponentConfig | dict[str, Any] | None = None, **settings: Any) -> ComponentConfig:
        """Validate ``config`` / ``settings`` into this class's ``Config``.

        Raises
        ------
        ConfigError
            Naming the component and each bad key.
        """
        if type(config) is cls.Config and not settings:
            return config
        if isinstance(config, BaseModel):
            # A YAML block is a subclass of Config built at run time (it adds ``name``): store the
            # component's own Config, so components pickle (worker processes) and the cache key is
            # the same whether a component comes from YAML or from code.
            config = config.model_dump(exclude={"name"})
        data = dict(config or {})
        data.update(settings)
        data.pop("name", None)
        try:
            return cls.Config(**data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
            )
            fields = ", ".join(sorted(cls.Config.model_fields)) or "(none)"
            raise ConfigError(f"{cls.__name__} ({cls.name!r}) config: {problems}. Valid keys: {fields}") from None
