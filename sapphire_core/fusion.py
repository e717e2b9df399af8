"""The FusionHead interface: per-modality embeddings -> one unified embedding with named sub-spaces."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError
from torch import nn

from sapphire_core.component import MAX_DIM, Component, ComponentConfig


class FusionConfig(ComponentConfig):
    """Settings every fusion head has.

    ``subspaces`` carves named, consecutive slices out of the first dimensions of the
    unified embedding (conditional similarity networks, Veit et al. 2017; Lee et al. 2020):
    ``{"genre": 64, "mood": 64}`` puts genre in dims 0-63 and mood in 64-127; the rest is
    general-purpose. Each size is ``1..MAX_DIM`` and together they must fit in ``output_dim``.
    """

    output_dim: int = Field(512, ge=1, le=MAX_DIM)
    subspaces: dict[str, Annotated[int, Field(ge=1, le=MAX_DIM)]] = {}

    @model_validator(mode="after")
    def _subspaces_fit(self) -> FusionConfig:
        need = sum(self.subspaces.values())
        if need > self.output_dim:
            sizes = " + ".join(f"{k} {v}" for k, v in self.subspaces.items())
            raise PydanticCustomError(
                "subspaces_too_wide",
                "subspaces need {need} dims ({sizes}) but output_dim is {dim}; raise output_dim or shrink the "
                "sub-spaces", {"need": need, "sizes": sizes, "dim": self.output_dim})
        return self


@dataclass
class FusionOutput:
    """A fused batch: ``embedding`` ``(B, output_dim)`` and where each sub-space lives in it."""

    embedding: torch.Tensor
    subspaces: dict[str, slice]


def subspace_slices(sizes: dict[str, int], total: int) -> dict[str, slice]:
    """Lay named sub-spaces out as consecutive slices of a ``total``-wide embedding.

    Raises
    ------
    ValueError
        When the sub-spaces do not fit.
    """
    out: dict[str, slice] = {}
    start = 0
    for name, size in sizes.items():
        if size <= 0:
            raise ValueError(f"sub-space {name!r} has size {size}; sizes must be positive")
        out[name] = slice(start, start + size)
        start += size
    if start > total:
        raise ValueError(f"sub-spaces need {start} dims but the embedding has {total}; raise output_dim")
    return out


class FusionHead(Component, nn.Module):
    """Fuse the modality embeddings.

    Parameters
    ----------
    input_dims : dict of str to int
        Each modality's encoder ``output_dim``, in config order.
    """

    class Config(FusionConfig):
        pass

    def __init__(
        self, input_dims: dict[str, int], config: ComponentConfig | dict[str, Any] | None = None, **settings: Any
    ) -> None:
        nn.Module.__init__(self)
        self.config = self.make_config(config, **settings)
        self.input_dims = dict(input_dims)
        self.subspaces = subspace_slices(dict(self.config.subspaces), self.config.output_dim)

    @property
    def output_dim(self) -> int:
        return int(self.config.output_dim)

    def forward(
        self, embeddings: dict[str, torch.Tensor], present: dict[str, torch.Tensor] | None = None
    ) -> FusionOutput:
        """Fuse. ``present[m]`` is a ``(B,)`` bool mask, False where modality ``m`` is absent
        for a track (e.g. no lyrics); heads must then ignore that embedding."""
        return FusionOutput(self.fuse(embeddings, present), self.subspaces)

    @abstractmethod
    def fuse(self, embeddings: dict[str, torch.Tensor], present: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """Return the unified embedding ``(B, output_dim)``."""
