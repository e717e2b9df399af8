"""``multi_input_cnn``: the multi-input CNN of Ribecky et al. with MusCALL attention pooling.

Ribecky, Jacobs, Kuhn & Krause (2021), "Multi-input deep learning for music similarity", builds
parallel CNN branches over a mel-spectrogram, CENS chroma and a tempogram, merges them and
continues with shared layers. Here each branch is two temporal conv blocks (1-D convolutions
over frames, the bands as channels: cheap on a CPU); the branches are concatenated per frame,
then ``depth`` shared blocks halve the frame rate each, and the sequence is pooled by
:class:`~sapphire_acoustic.pooling.AttentionPool` (MusCALL, Manco et al. 2022) or, for ablations,
a masked average (``pooling: average``). With ``use_globals`` the track-level ``key_profile``,
``tempo`` and rhythm ``summary`` join before the output layer.

Inputs: ``perceptual_spectrum.logmel (n_mels, T)``, ``tonal.cens (12, T)``,
``rhythm.tempogram (tempogram_bins, T)``; all three come at hop 512 from the same audio and are
cropped to the shortest, the valid-frame mask comes from the log-mel.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from sapphire_acoustic.cnn14 import DB_CENTRE, DB_SCALE, LOGMEL_KEY
from sapphire_acoustic.pooling import AttentionPool, masked_mean, strided_mask
from sapphire_acoustic.rhythm import RHYTHM_SUMMARY_NAMES
from sapphire_core.collate import length_key, time_mask
from sapphire_core.encoder import Encoder, EncoderConfig

CENS_KEY = "tonal.cens"
TEMPOGRAM_KEY = "rhythm.tempogram"
KEY_PROFILE_KEY = "tonal.key_profile"
TEMPO_KEY = "rhythm.tempo"
SUMMARY_KEY = "rhythm.summary"


def _temporal_block(c_in: int, c_out: int, *, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 3, padding=1, stride=stride, bias=False), nn.BatchNorm1d(c_out),
                         nn.ReLU(inplace=True))


class Branch(nn.Module):
    """One input branch: two temporal conv blocks at full frame rate."""

    def __init__(self, c_in: int, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(c_in)
        self.blocks = nn.ModuleList([_temporal_block(c_in, width), _temporal_block(width, width)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, None].to(x.dtype)
        x = self.norm(x * m) * m
        for block in self.blocks:
            # Re-zero padded frames after each block: BN biases would leak padding into valid frames.
            x = block(x) * m
        return x


class MultiInputCNN(Encoder):
    """Parallel mel / CENS / tempogram branches, shared blocks, attention (or average) pooling over time."""

    name = "multi_input_cnn"
    modality = "acoustic"
    requires = ("perceptual_spectrum", "tonal", "rhythm")

    class Config(EncoderConfig):
        n_mels: int = Field(64, ge=8, description="must equal perceptual_spectrum's n_mels")
        tempogram_bins: int = Field(30, ge=4, description="must equal rhythm's tempogram_bins")
        width: int = Field(32, ge=4, le=512, description="channels of each branch")
        depth: int = Field(3, ge=1, le=8, description="shared blocks (each halves the frame rate)")
        pooling: Literal["attention", "average"] = "attention"
        heads: int = Field(4, ge=1)
        use_globals: bool = True
        dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @classmethod
    def expected_inputs(cls, config):
        return {LOGMEL_KEY: (config.n_mels, None), CENS_KEY: (12, None), TEMPOGRAM_KEY: (config.tempogram_bins, None)}

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config
        self.mel = Branch(c.n_mels, c.width)
        self.chroma = Branch(12, c.width)
        self.tempo = Branch(c.tempogram_bins, c.width)
        shared, ch = [], 3 * c.width
        for i in range(c.depth):
            out = min(3 * c.width * 2 ** ((i + 1) // 2), 2048)
            shared.append(_temporal_block(ch, out, stride=2))
            ch = out
        self.shared = nn.ModuleList(shared)
        self.pool = AttentionPool(ch, heads=c.heads) if c.pooling == "attention" else None
        n_glob = 24 + 1 + len(RHYTHM_SUMMARY_NAMES) if c.use_globals else 0
        self.glob = nn.Sequential(nn.Linear(n_glob, 32), nn.ReLU()) if n_glob else None
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(ch + (32 if n_glob else 0), self.output_dim)

    def forward(self, features):
        mel = (features[LOGMEL_KEY] - DB_CENTRE) / DB_SCALE
        mask = time_mask(features, LOGMEL_KEY)
        t = min(mel.shape[-1], features[CENS_KEY].shape[-1], features[TEMPOGRAM_KEY].shape[-1])
        mask = mask[:, :t]
        x = torch.cat([self.mel(mel[..., :t], mask), self.chroma(features[CENS_KEY][..., :t], mask),
                       self.tempo(features[TEMPOGRAM_KEY][..., :t], mask)], dim=1)
        for block in self.shared:
            if x.shape[-1] > 1:
                x = block(x)
                mask = strided_mask(mask, x.shape[-1], kernel=3, stride=2, padding=1)
                x = x * mask[:, None].to(x.dtype)
        pooled = self.pool(x, mask) if self.pool is not None else masked_mean(x, mask)
        parts = [self.drop(pooled)]
        if self.glob is not None:
            summary = features[SUMMARY_KEY]
            # Summary values span ms and counts per second: a signed log keeps them near unit scale.
            g = torch.cat([features[KEY_PROFILE_KEY], torch.log2(features[TEMPO_KEY].clamp_min(1.0) / 120.0),
                           torch.sign(summary) * torch.log1p(summary.abs())], dim=1)
            parts.append(self.glob(g))
        return self.out(torch.cat(parts, dim=1))

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        c = self.config
        t = 48
        lengths = torch.tensor([t - 7 * (i % 4) for i in range(batch_size)])
        valid = (torch.arange(t)[None, :] < lengths[:, None])[:, None].float()
        feats = {
            LOGMEL_KEY: (torch.randn(batch_size, c.n_mels, t, generator=g) * 15 - 50) * valid,
            CENS_KEY: torch.rand(batch_size, 12, t, generator=g) * valid,
            TEMPOGRAM_KEY: torch.rand(batch_size, c.tempogram_bins, t, generator=g) * valid,
            KEY_PROFILE_KEY: torch.rand(batch_size, 24, generator=g) * 2 - 1,
            TEMPO_KEY: 60 + 120 * torch.rand(batch_size, 1, generator=g),
            SUMMARY_KEY: torch.rand(batch_size, len(RHYTHM_SUMMARY_NAMES), generator=g) * 3,
        }
        for key in (LOGMEL_KEY, CENS_KEY, TEMPOGRAM_KEY):
            feats[length_key(key)] = lengths
        return feats
