"""The DescriptionBackend interface: write natural-language descriptions of a track."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from sapphire_core.component import Component, ComponentConfig

if TYPE_CHECKING:  # interfaces sit below the corpus format in the layers
    from sapphire_core.data import Track


class DescriptionBackend(Component):
    """Turns a track's metadata and extracted features into descriptions (an LLM or a grammar)."""

    def __init__(self, config: ComponentConfig | dict[str, Any] | None = None, **settings: Any) -> None:
        self.config = self.make_config(config, **settings)

    @abstractmethod
    def describe(self, track: Track, features: dict[str, np.ndarray], *, n: int = 1, seed: int = 0) -> list[str]:
        """Return ``n`` descriptions of ``track``."""
