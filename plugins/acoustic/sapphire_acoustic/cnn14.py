"""``cnn14``: a PANNs-style CNN (Kong et al., "PANNs: Large-scale pretrained audio neural networks for
audio pattern recognition", IEEE/ACM TASLP 2020, the Cnn14 family) over the ISO 226 weighted log-mel.

Each block is two 3x3 conv-BN-ReLU layers and a 2x2 average pool over (time, mel); block ``i`` has
``width * 2**i`` channels. ``width=64, depth=6`` is the published Cnn14 (64 ... 2048 channels); the
default ``width=16, depth=4`` (~0.4 M parameters) trains on two CPU cores in minutes. The output is
pooled as in PANNs: mean over mel bands, then max + mean over valid frames, then an FC layer.
Padded frames (``sapphire_core.collate``) are zeroed at the input and excluded from the time pooling.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sapphire_acoustic.pooling import masked_max, masked_mean, strided_mask
from sapphire_core.collate import length_key, time_mask
from sapphire_core.encoder import Encoder, EncoderConfig

LOGMEL_KEY = "perceptual_spectrum.logmel"
#: Rough centre and spread (dB) of ``logmel`` values, so the first BatchNorm starts near unit scale.
DB_CENTRE, DB_SCALE = -60.0, 20.0


class ConvBlock(nn.Module):
    """PANNs ConvBlock: (conv3x3 -> BN -> ReLU) x 2, then 2x2 average pooling.

    Padded frames are re-zeroed after each layer (BN shifts would otherwise leak them into the
    valid frames next to them), and a pooling window that straddles the end of a track is
    averaged over its valid frames only, so a track gives the same output padded or alone.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
            for a in (c_in, c_out))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, pool: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, T, F)``, ``mask (B, T)`` -> pooled ``x`` and its mask."""
        m = mask[:, None, :, None].to(x.dtype)
        for layer in self.layers:
            x = layer(x) * m
        if not pool:
            return x, mask
        x = nn.functional.avg_pool2d(x, 2, ceil_mode=True)
        # Share of valid frames in each time window: 1 inside a track, 1/2 where a window holds its
        # last frame and one padded frame (alone, PyTorch clips that window and divides by 1).
        share = nn.functional.avg_pool2d(m[..., :1], 2, ceil_mode=True)
        out_mask = strided_mask(mask, x.shape[2], kernel=2, stride=2, ceil_mode=True)
        x = torch.where(out_mask[:, None, :, None], x / share.clamp_min(1e-6), torch.zeros((), dtype=x.dtype))
        return x, out_mask


class Cnn14(Encoder):
    """PANNs Cnn14-family CNN over ``perceptual_spectrum.logmel``."""

    name = "cnn14"
    modality = "acoustic"
    requires = ("perceptual_spectrum",)

    class Config(EncoderConfig):
        n_mels: int = Field(64, ge=8, description="must equal perceptual_spectrum's n_mels")
        width: int = Field(16, ge=4, le=128, description="channels of the first block (Cnn14: 64)")
        depth: int = Field(4, ge=1, le=6, description="conv blocks (Cnn14: 6)")
        dropout: float = Field(0.2, ge=0.0, lt=1.0)

    @classmethod
    def expected_inputs(cls, config):
        return {LOGMEL_KEY: (config.n_mels, None)}

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config
        self.bn0 = nn.BatchNorm1d(c.n_mels)
        chans = [c.width * 2**i for i in range(c.depth)]
        self.blocks = nn.ModuleList(ConvBlock(a, b) for a, b in zip([1] + chans[:-1], chans))
        self.fc = nn.Linear(chans[-1], chans[-1])
        self.out = nn.Linear(chans[-1], self.output_dim)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, features):
        x = features[LOGMEL_KEY]  # (B, n_mels, T)
        mask = time_mask(features, LOGMEL_KEY)
        x = (x - DB_CENTRE) / DB_SCALE * mask[:, None].to(x.dtype)
        x = self.bn0(x) * mask[:, None].to(x.dtype)
        x = x.transpose(1, 2)[:, None]  # (B, 1, T, F) as PANNs
        m = mask
        for i, block in enumerate(self.blocks):
            # Never pool time below one frame, so very short clips still run.
            x, m = block(x, m, pool=x.shape[2] > 1 or x.shape[3] > 1)
            if i < len(self.blocks) - 1:
                x = self.drop(x)
        x = x.mean(dim=3)  # (B, C, T')
        x = masked_max(x, m) + masked_mean(x, m)
        x = self.drop(torch.relu(self.fc(self.drop(x))))
        return self.out(x)

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        lengths = torch.tensor([64 - 9 * (i % 4) for i in range(batch_size)])
        x = torch.randn(batch_size, self.config.n_mels, 64, generator=g) * 15 - 50
        x = x * (torch.arange(64)[None, :] < lengths[:, None])[:, None]
        return {LOGMEL_KEY: x, length_key(LOGMEL_KEY): lengths}
