"""A complete third-party modality in one file: loudness dynamics (how loud, how much it varies).

Install it with ``pip install -e examples/sapphire-example-modality``; it then shows up in
``sapphire plugins`` and a modality set can name ``dynamics`` with ``rms_envelope`` / ``dynamics_mlp``.
"""

import numpy as np
import torch
from pydantic import Field
from torch import nn

from sapphire_core import hookimpl
from sapphire_core.encoder import Encoder, EncoderConfig
from sapphire_core.extractor import FeatureExtractor


class RMSEnvelope(FeatureExtractor):
    """Frame RMS in dB, summarised as a histogram over ``bins`` levels from -80 to 0 dBFS."""

    name, modality, version, sample_rate = "rms_envelope", "dynamics", "1", 16000

    class Config(FeatureExtractor.Config):
        frame_seconds: float = Field(0.05, gt=0)
        bins: int = Field(16, ge=2)

    def output_shapes(self):
        return {"level_histogram": (self.config.bins,)}

    def extract(self, audio, track):
        n = max(1, int(self.config.frame_seconds * self.sample_rate))
        frames = audio[: len(audio) // n * n].reshape(-1, n) if len(audio) >= n else audio[None, :]
        db = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-10)
        hist, _ = np.histogram(np.clip(db, -80, 0), bins=self.config.bins, range=(-80, 0))
        return {"level_histogram": (hist / hist.sum()).astype(np.float32)}


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


@hookimpl
def register_extractors(register):
    register(RMSEnvelope)


@hookimpl
def register_encoders(register):
    register(DynamicsMLP)
