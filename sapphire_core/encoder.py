"""The Encoder interface: batched features of one modality -> an embedding ``(B, output_dim)``."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from sapphire_core.component import MAX_DIM, Component, ComponentConfig
from sapphire_core.errors import ConfigError

#: A feature shape; ``None`` marks a variable-length (time) axis (as :data:`sapphire_core.extractor.Shape`).
Shape = tuple[int | None, ...]


class EncoderConfig(ComponentConfig):
    """Settings every encoder has."""

    output_dim: int = Field(128, ge=1, le=MAX_DIM)


class Encoder(Component, nn.Module):
    """A torch module over the features of one modality.

    Class attributes
    ----------------
    name : str
        Registry name.
    modality : str
        The modality it encodes. The text tower uses ``modality = "text"``.
    requires : tuple of str
        Names of the extractors whose features it reads. Its input dict is keyed
        ``"<extractor>.<feature>"`` (see :func:`sapphire_core.collate.feature_key`).

    Encoders must run on any device: create tensors with ``device=x.device`` and
    register constants as buffers.

    When a model is assembled, the encoder receives the shapes its configured extractors produce
    (``input_shapes``, keyed like its input dict); :meth:`expected_inputs` says what it accepts,
    and a mismatch is a :class:`~sapphire_core.errors.ConfigError` at ``config validate`` time
    rather than a shape error at the first forward pass.
    """

    modality: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()

    class Config(EncoderConfig):
        pass

    def __init__(self, config: ComponentConfig | dict[str, Any] | None = None, *,
                 input_shapes: dict[str, Shape] | None = None, **settings: Any) -> None:
        nn.Module.__init__(self)
        self.config = self.make_config(config, **settings)
        #: The shapes of the configured extractors' outputs, when built from a modality set.
        self.input_shapes: dict[str, Shape] = dict(input_shapes or {})
        if input_shapes is not None:
            problems = self.input_problems(self.config, self.input_shapes)
            if problems:
                raise ConfigError(f"encoder {self.name!r}: " + "; ".join(problems))

    @classmethod
    def expected_inputs(cls, config: ComponentConfig) -> dict[str, Shape]:
        """The input shapes this encoder accepts with ``config`` (``None`` = any length); default: no check."""
        return {}

    @classmethod
    def input_problems(cls, config: ComponentConfig, shapes: dict[str, Shape]) -> list[str]:
        """What is wrong with feeding features of ``shapes`` to this encoder (empty when nothing)."""
        problems = []
        for key, want in cls.expected_inputs(config).items():
            have = shapes.get(key)
            if have is None:
                problems.append(f"needs input {key}, which its extractors do not produce")
            elif len(have) != len(want) or any(w is not None and h != w for h, w in zip(have, want)):
                problems.append(f"expects {key} of shape {_shown(want)}, but its extractor gives {_shown(have)}")
        return problems

    @property
    def output_dim(self) -> int:
        """Width of the embedding this encoder returns."""
        return int(self.config.output_dim)

    @abstractmethod
    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encode a batch: ``features`` as made by ``collate_features`` -> ``(B, output_dim)``."""

    @abstractmethod
    def example_features(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        """A small valid input batch (random but deterministic for ``seed``), for contract tests."""


class TextEncoder(Encoder):
    """An encoder of free text (``modality = "text"``): descriptions and text queries.

    :meth:`tokenize` turns strings into the tensor dict that :meth:`forward` takes.
    """

    modality: ClassVar[str] = "text"

    @abstractmethod
    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise a batch of strings into the input of :meth:`forward`."""

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Tokenise and encode, on this module's device."""
        device = next(self.parameters()).device
        batch = {k: v.to(device) for k, v in self.tokenize(texts).items()}
        return self(batch)

    def example_features(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        words = ["calm", "bright", "piano", "choir", "fast", "minor", "dance", "slow"]
        return self.tokenize([" ".join(words[(seed + i) % 8 : (seed + i) % 8 + 3]) for i in range(batch_size)])


def _shown(shape: Shape) -> str:
    return "(" + ", ".join("T" if d is None else str(d) for d in shape) + ")"
