"""``midlevel_mlp``: a tiny encoder over the 8 mid-level values (:mod:`sapphire_acoustic.midlevel`).

The values are already an interpretable 8-d embedding; this MLP lets them enter a fused model with a
learned scale. Inputs are in [0, 1] and are centred at 0.5 first.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sapphire_acoustic.midlevel import MIDLEVEL_NAMES
from sapphire_core.encoder import Encoder, EncoderConfig

VALUES_KEY = "midlevel.values"


class MidLevelMLP(Encoder):
    """Two-layer MLP over ``midlevel.values``."""

    name = "midlevel_mlp"
    modality = "acoustic"
    requires = ("midlevel",)

    class Config(EncoderConfig):
        output_dim: int = 16
        hidden: int = Field(32, ge=1)

    @classmethod
    def expected_inputs(cls, config):
        return {VALUES_KEY: (len(MIDLEVEL_NAMES),)}

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        n = len(MIDLEVEL_NAMES)
        self.net = nn.Sequential(nn.Linear(n, self.config.hidden), nn.ReLU(), nn.Linear(self.config.hidden,
                                                                                       self.output_dim))

    def forward(self, features):
        return self.net(features[VALUES_KEY] - 0.5)

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        return {VALUES_KEY: torch.rand(batch_size, len(MIDLEVEL_NAMES), generator=g)}
