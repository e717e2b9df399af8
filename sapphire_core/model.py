"""Assemble a validated modality set into one torch model: encoders -> fusion head, plus the text tower."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn

from sapphire_core.config import active_modalities, config_to_dict, feature_shapes, modality_extractors, validate_config
from sapphire_core.encoder import Encoder, TextEncoder
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.fusion import FusionHead, FusionOutput
from sapphire_core.registry import Registry


def build_extractors(cfg: BaseModel, registry: Registry) -> dict[str, list[FeatureExtractor]]:
    """Instantiate each active modality's extractors, keyed by modality."""
    return {modality: modality_extractors(block, modality, registry) for modality, block in active_modalities(cfg).items()}


class SapphireModel(nn.Module):
    """The unified model of one modality set.

    Parameters
    ----------
    cfg : BaseModel
        A validated modality set (:func:`sapphire_core.config.load_config`).
    registry : Registry
        Where the component classes come from.

    Attributes
    ----------
    encoders : nn.ModuleDict
        One encoder per active modality.
    fusion : FusionHead
        Fuses the modality embeddings; its ``output_dim`` is the shared space.
    text_tower : TextEncoder or None
        Encodes descriptions and text queries; ``text_projection`` maps it to the shared space.
    modality_weights : dict of str to float
        The YAML ``weight`` of each modality (scales its embedding before fusion).
    """

    def __init__(self, cfg: BaseModel, registry: Registry) -> None:
        super().__init__()
        self.cfg = cfg
        # Kept so embedding/indexing rebuild the same extractors from the same plugins.
        self.registry = registry
        modalities = active_modalities(cfg)
        self.modality_weights = {m: float(b.weight) for m, b in modalities.items()}
        self.encoders = nn.ModuleDict({
            m: registry.get("encoder", b.encoder.name, modality=m)(
                b.encoder, input_shapes=feature_shapes(modality_extractors(b, m, registry)))
            for m, b in modalities.items()})
        dims = {m: enc.output_dim for m, enc in self.encoders.items()}
        self.fusion: FusionHead = registry.get("fusion", cfg.fusion.name)(dims, cfg.fusion)
        text_cfg = getattr(cfg, "text", None)
        self.text_tower: TextEncoder | None = None
        self.text_projection: nn.Module | None = None
        if text_cfg is not None:
            self.text_tower = registry.get("encoder", text_cfg.name, modality="text")(text_cfg)
            self.text_projection = nn.Linear(self.text_tower.output_dim, self.fusion.output_dim)

    @property
    def embedding_dim(self) -> int:
        return self.fusion.output_dim

    @property
    def subspaces(self) -> dict[str, slice]:
        return self.fusion.subspaces

    def encode_modality(self, modality: str, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """One modality's raw encoder embedding of its collated ``features``, scaled by its YAML weight."""
        return self.encoders[modality](features) * self.modality_weights[modality]

    def encode_modalities(self, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Each modality's raw encoder embedding, scaled by its YAML weight."""
        return {modality: self.encode_modality(modality, batch[modality]) for modality in self.encoders}

    def fuse(self, raw: dict[str, torch.Tensor], present: dict[str, torch.Tensor] | None = None) -> FusionOutput:
        """Fuse raw modality embeddings (:meth:`encode_modalities`) and L2-normalise."""
        fused = self.fusion(raw, present)
        return FusionOutput(F.normalize(fused.embedding, dim=-1), fused.subspaces)

    def embed_audio(self, batch: dict[str, dict[str, torch.Tensor]],
                    present: dict[str, torch.Tensor] | None = None) -> FusionOutput:
        """Fuse and L2-normalise: ``batch[modality]`` is that modality's collated features."""
        return self.fuse(self.encode_modalities(batch), present)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Project texts into the shared space, L2-normalised.

        Raises
        ------
        ValueError
            When the modality set has no text tower.
        """
        if self.text_tower is None or self.text_projection is None:
            raise ValueError("this model has no text tower; add a 'text:' block to the modality set")
        return F.normalize(self.text_projection(self.text_tower.encode_text(texts)), dim=-1)

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.cfg)


def model_from_config(cfg: BaseModel, registry: Registry | None = None) -> SapphireModel:
    """Build an untrained model from a validated modality set."""
    from sapphire_core.plugins import default_registry

    return SapphireModel(cfg, registry or default_registry())


def load_model(path: str | Path, registry: Registry | None = None) -> tuple[SapphireModel, dict[str, Any]]:
    """Rebuild a model from a checkpoint; returns ``(model, meta)``.

    Raises
    ------
    CheckpointError
        When the checkpoint is unreadable or its weights do not fit its config.
    """
    from sapphire_core.checkpoint import load_checkpoint
    from sapphire_core.errors import CheckpointError
    from sapphire_core.plugins import default_registry

    registry = registry or default_registry()
    payload = load_checkpoint(path)
    cfg = validate_config(payload["config"], registry, source=f"{path} (stored config)")
    model = SapphireModel(cfg, registry)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the stored config ({exc})") from None
    model.eval()
    return model, payload.get("meta", {})


__all__ = ["SapphireModel", "build_extractors", "model_from_config", "load_model", "Encoder"]
