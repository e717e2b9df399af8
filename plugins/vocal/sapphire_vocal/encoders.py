"""The vocal modality's encoders.

``melody_contour``  a melody embedding invariant to transposition and tempo (query by humming)
``vocal_timbre``    a timbre embedding over the lead stem's log-mel spectrogram

Invariance is built into the inputs, not left to training: the contour is relative to the median
voiced pitch (transposition) and resampled to a fixed length over voiced frames only (tempo), and
the encoder adds a soft histogram of relative pitch (invariant to both by construction).
Neither uses batch statistics, so an embedding never depends on the rest of its batch.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from sapphire_core.collate import time_mask
from sapphire_core.encoder import Encoder, EncoderConfig


def _masked_mean_std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, C, T)`` with ``(B, T)`` mask -> ``(B, 2C)`` mean and std over valid frames."""
    m = mask[:, None, :].to(x.dtype)
    n = m.sum(-1).clamp_min(1.0)
    mean = (x * m).sum(-1) / n
    var = (((x - mean[..., None]) ** 2) * m).sum(-1) / n
    return torch.cat([mean, torch.sqrt(var + 1e-6)], dim=1)


class MelodyContourEncoder(Encoder):
    """1-D CNN over the tempo-normalised relative contour plus a soft relative-pitch histogram.

    Reads ``melody_contour.resampled`` ``(B, 1, N)`` and ``melody_contour.contour`` ``(B, 2, T)``.
    """

    name: ClassVar[str] = "melody_contour"
    modality: ClassVar[str] = "vocal"
    requires: ClassVar[tuple[str, ...]] = ("melody_contour",)

    class Config(EncoderConfig):
        channels: int = Field(64, ge=4)
        kernel_size: int = Field(5, ge=1)
        #: Semitone range and bandwidth of the soft histogram of relative pitch.
        hist_range: int = Field(12, ge=1)
        hist_sigma: float = Field(0.5, gt=0)
        #: Relative pitch is divided by this before the CNN (keeps activations near unit scale).
        pitch_scale: float = Field(6.0, gt=0)
        n_points: int = Field(64, ge=8)

    def __init__(self, config=None, **settings) -> None:
        super().__init__(config, **settings)
        cfg = self.config
        c, k = cfg.channels, cfg.kernel_size
        self.cnn = nn.Sequential(
            nn.Conv1d(2, c, k, padding=k // 2), nn.GELU(),
            nn.Conv1d(c, c, k, padding=k // 2, dilation=1), nn.GELU(),
            nn.Conv1d(c, c, k, padding=2 * (k // 2), dilation=2), nn.GELU(),
        )
        n_bins = 2 * cfg.hist_range + 1
        self.register_buffer("centers", torch.arange(-cfg.hist_range, cfg.hist_range + 1, dtype=torch.float32))
        self.head = nn.Sequential(nn.LayerNorm(2 * c + n_bins), nn.Linear(2 * c + n_bins, 2 * c), nn.GELU(),
                                  nn.Linear(2 * c, cfg.output_dim))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        x = features["melody_contour.resampled"][:, :1, :]
        # Re-centre on the mean: unlike the median it moves continuously with the data, so a
        # melody whose voiced pitches split evenly between two notes cannot flip its reference
        # by a semitone between a rendition and its transposition.
        x = (x - x.mean(-1, keepdim=True)) / cfg.pitch_scale
        # Intervals between successive points carry the melody's shape independent of its offset.
        d = torch.diff(x, dim=-1, prepend=x[..., :1])
        h = self.cnn(torch.cat([x, d], dim=1))
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)
        contour = features["melody_contour.contour"]
        mask = time_mask(features, "melody_contour.contour") & (contour[:, 1, :] > 0.5)
        rel = contour[:, 0, :]
        mf = mask.to(rel.dtype)
        rel = rel - (rel * mf).sum(-1, keepdim=True) / mf.sum(-1, keepdim=True).clamp_min(1.0)
        w = torch.exp(-0.5 * ((rel[:, None, :] - self.centers[None, :, None]) / cfg.hist_sigma) ** 2)
        w = w * mask[:, None, :].to(w.dtype)
        hist = w.sum(-1) / w.sum((1, 2)).clamp_min(1e-6)[:, None]
        return self.head(torch.cat([pooled, hist], dim=1))

    def example_features(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        n = self.config.n_points
        steps = torch.randint(-3, 4, (batch_size, 1, n), generator=g).float()
        resampled = torch.cumsum(steps, -1) * 0.5
        resampled = resampled - resampled.median(dim=-1, keepdim=True).values
        t = 40
        contour = torch.zeros(batch_size, 2, t)
        contour[:, 0] = torch.nn.functional.interpolate(resampled, size=t, mode="linear")[:, 0]
        contour[:, 1] = (torch.rand(batch_size, t, generator=g) > 0.2).float()
        lengths = torch.tensor([t - (i % 3) * 5 for i in range(batch_size)])
        return {"melody_contour.resampled": resampled, "melody_contour.contour": contour,
                "melody_contour.contour__len": lengths}


class VocalTimbreEncoder(Encoder):
    """Conv1d over mel bands of the lead stem, masked mean+std pooling over time, then a linear map."""

    name: ClassVar[str] = "vocal_timbre"
    modality: ClassVar[str] = "vocal"
    requires: ClassVar[tuple[str, ...]] = ("vocal_stem_spectrum",)

    class Config(EncoderConfig):
        n_mels: int = Field(64, ge=8)
        channels: int = Field(128, ge=4)
        #: log-mel dB values are shifted/scaled by these before the CNN (dB re 1 is about -100..+20).
        db_offset: float = 40.0
        db_scale: float = 20.0

    def __init__(self, config=None, **settings) -> None:
        super().__init__(config, **settings)
        cfg = self.config
        c = cfg.channels
        self.cnn = nn.Sequential(nn.Conv1d(cfg.n_mels, c, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(c, c, 3, padding=1), nn.GELU())
        self.head = nn.Sequential(nn.LayerNorm(2 * c), nn.Linear(2 * c, cfg.output_dim))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        key = "vocal_stem_spectrum.logmel"
        x = (features[key] + cfg.db_offset) / cfg.db_scale
        mask = time_mask(features, key)
        # Timbre, not loudness: remove each track's overall level (one scalar over all bands and
        # valid frames), which keeps the spectral envelope that carries the timbre.
        m = mask[:, None, :].to(x.dtype)
        level = (x * m).sum((1, 2), keepdim=True) / (m.sum((1, 2), keepdim=True) * x.shape[1]).clamp_min(1.0)
        x = x - level
        h = self.cnn(x) * m
        return self.head(_masked_mean_std(h, mask))

    def example_features(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        t = 50
        x = -60.0 + 20.0 * torch.randn(batch_size, self.config.n_mels, t, generator=g)
        lengths = torch.tensor([t - (i % 3) * 7 for i in range(batch_size)])
        return {"vocal_stem_spectrum.logmel": x, "vocal_stem_spectrum.logmel__len": lengths}


ENCODERS = (MelodyContourEncoder, VocalTimbreEncoder)
