"""A complete third-party plugin in one file: a loudness modality, its explanation and a ``level="-20"`` query mode."""

import json
from contextlib import suppress

import numpy as np
import torch
from pydantic import Field
from torch import nn

from sapphire_core import hookimpl
from sapphire_core.audio import load_audio
from sapphire_core.encoder import Encoder, EncoderConfig
from sapphire_core.errors import SapphireError
from sapphire_core.explanation import Explanation
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.index_extra import IndexExtra
from sapphire_core.io import atomic_write_text
from sapphire_core.query_mode import QueryMode


class RMSEnvelope(FeatureExtractor):
    """Frame RMS in dB: a histogram over ``bins`` levels from -80 to 0 dBFS, and its interpretable summary."""
    name, modality, version, sample_rate = "rms_envelope", "dynamics", "2", 16000
    interpretable = {"summary": ("loudness", "dynamic_range")}

    class Config(FeatureExtractor.Config):
        frame_seconds: float = Field(0.05, gt=0)
        bins: int = Field(16, ge=2)

    def output_shapes(self):
        return {"level_histogram": (self.config.bins,), "summary": (2,)}

    def extract(self, audio, track):
        n = max(1, int(self.config.frame_seconds * self.sample_rate))
        frames = audio[: len(audio) // n * n].reshape(-1, n) if len(audio) >= n else audio[None, :]
        db = np.clip(20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-10), -80, 0)
        hist, _ = np.histogram(db, bins=self.config.bins, range=(-80, 0))
        summary = np.float32([(db.mean() + 80) / 80, min(db.std() / 20, 1.0)])  # loudness, range in [0, 1]
        return {"level_histogram": (hist / hist.sum()).astype(np.float32), "summary": summary}


class DynamicsMLP(Encoder):
    """Two-layer MLP over the level histogram."""
    name, modality, requires = "dynamics_mlp", "dynamics", ("rms_envelope",)

    class Config(EncoderConfig):
        output_dim: int = 16
        bins: int = 16

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.net = nn.Sequential(nn.Linear(self.config.bins, 32), nn.ReLU(), nn.Linear(32, self.output_dim))

    def forward(self, features):
        return self.net(features["rms_envelope.level_histogram"])

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        return {"rms_envelope.level_histogram": torch.rand(batch_size, self.config.bins, generator=g)}


class Dynamics(Explanation):
    """Loudness and dynamic range of query and result, side by side."""
    name, extractor, output = "dynamics", "rms_envelope", "summary"
    adjectives = {"loudness": "loud", "dynamic_range": "dynamic"}


class Levels(IndexExtra):
    """Each track's mean level in dBFS (``INDEX/extras/levels/levels.json``)."""
    name = "levels"

    def build(self, tracks, folder, *, on_progress=None):
        ex, levels = RMSEnvelope(), {}
        for t in tracks:
            with suppress(SapphireError):  # unusable audio: the embedding pass reports it
                levels[t.id] = float(ex.extract(load_audio(t.audio, sr=ex.sample_rate), t)["summary"][0]) * 80 - 80
        atomic_write_text(folder / "levels.json", json.dumps(levels))
        return len(levels)

    def load(self, folder):
        return json.loads((folder / "levels.json").read_text())


class LevelMode(QueryMode):
    """``level="-20"``: the tracks whose mean level is closest to that many dBFS."""
    name, input, extra, title = "level", "text", "levels", "level (example plugin)"

    def rank(self, query, data, *, k):
        return sorted(((t, -abs(v - float(query))) for t, v in data.items()), key=lambda x: -x[1])[:k]


@hookimpl
def register_components(registrar):
    registrar.add(RMSEnvelope, DynamicsMLP, Dynamics, Levels, LevelMode)
