"""What every pluggable component shares: a registry name and a nested pydantic ``Config``."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from sapphire_core.errors import ConfigError

#: The widest any dimension of a component may be (2**16). Wider layers are never a sensible choice for
#: music embeddings, and a typo such as ``output_dim: 1000000000`` must fail at ``config validate``, not
#: when ``train`` tries to allocate terabytes.
MAX_DIM = 65_536

#: Field names that hold a width: ``output_dim``, ``input_dim``, ``embed_dim``, ``timbre_dim``, ``d_model``,
#: ``hidden``, ``hidden_size``, ``width``. Plugins get the bound without declaring it.
DIMENSION_FIELD = re.compile(r"(?:^|_)(?:dim|d_model|hidden|hidden_size|width)$")


def is_dimension_field(name: str) -> bool:
    """Whether a config field named ``name`` is a width, bounded to ``1..MAX_DIM``."""
    return bool(DIMENSION_FIELD.search(name))


class ComponentConfig(BaseModel):
    """Base of every component's nested ``Config``: unknown keys are rejected, values are frozen.

    Every integer field whose name marks a width (:data:`DIMENSION_FIELD`) must lie in ``1..MAX_DIM``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded_dimensions(cls, value: Any, info: ValidationInfo) -> Any:
        if (info.field_name and is_dimension_field(info.field_name) and isinstance(value, int)
                and not isinstance(value, bool) and not 1 <= value <= MAX_DIM):
            raise PydanticCustomError(
                "dimension_bounds", "{field} is {value}; a dimension must be between 1 and {limit}",
                {"field": info.field_name, "value": value, "limit": f"{MAX_DIM:,}"})
        return value

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
                ".".join(str(p) for p in err["loc"]) + ": " * bool(err["loc"]) + err["msg"] for err in exc.errors()
            )
            fields = ", ".join(sorted(cls.Config.model_fields)) or "(none)"
            raise ConfigError(f"{cls.__name__} ({cls.name!r}) config: {problems}. Valid keys: {fields}") from None
