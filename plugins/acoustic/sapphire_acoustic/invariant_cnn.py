"""``invariant_cnn``: an acoustic encoder built around the invariances of "the same music".

Versions of a work differ in instrument, tempo and key; a model trained on a few thousand works only
generalises when those invariances are built in rather than learned (cover-song models make the same
choice: Yu et al. 2019, "Learning a representation for cover song identification using CNN"). Three
pathways, each seeing only what it should:

tonal
    CENS chroma at ~10.8 frames/s through 2-D convolutions over (pitch class, time) with *circular*
    padding along pitch, then a max over the 12 pitch classes. A circular convolution commutes with a
    roll of the pitch axis and the max forgets where the roll went, so the output is exactly invariant
    to transposition. Strided and dilated time convolutions see 2-10 s of harmony and melody; a
    masked mean and max over time forget where in the track a pattern was and how long it is.
timbre
    Per-band mean and standard deviation of the ISO 226-weighted log-mel and of its frame-to-frame
    change (the "bag of frames" of Aucouturier & Pachet 2004), which no crop or tempo change moves much.
rhythm
    The mean cyclic tempogram (tempo classes folded into one octave), log tempo and the rhythm summary.
key
    The 24 Krumhansl-Schmuckler key correlations and their best major and best minor value. The tonal
    pathway is blind to key by design; this small one lets the ``key`` sub-space see it, and the
    major-vs-minor maxima give ``mode`` a transposition-invariant cue.

The three are concatenated and projected to ``output_dim``. Which dimensions serve which similarity
is left to the losses: version-contrastive training makes the general space lean on the tonal
pathway, the conditional sub-space triplets make ``instrument`` lean on timbre, ``tempo`` on rhythm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sapphire_acoustic.cnn14 import DB_CENTRE, DB_SCALE, LOGMEL_KEY
from sapphire_acoustic.multi_input_cnn import CENS_KEY, KEY_PROFILE_KEY, SUMMARY_KEY, TEMPO_KEY, TEMPOGRAM_KEY
from sapphire_acoustic.pooling import masked_max, masked_mean, strided_mask
from sapphire_acoustic.rhythm import RHYTHM_SUMMARY_NAMES
from sapphire_core.collate import length_key, time_mask
from sapphire_core.encoder import Encoder, EncoderConfig

#: CENS frames averaged into one (hop 512 at 22.05 kHz -> ~10.8 frames/s).
TONAL_POOL = 4


class CircularConv(nn.Module):
    """Conv2d over ``(B, C, 12, T)``: circular along pitch, zero-padded (optionally strided/dilated) along time."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, dilation * (kernel // 2)
        self.dilation = dilation
        self.conv = nn.Conv2d(c_in, c_out, (3, kernel), stride=(1, stride), padding=(0, self.padding),
                              dilation=(1, dilation), bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pad(x, (0, 0, 1, 1), mode="circular")
        x = F.relu(self.bn(self.conv(x)))
        if self.stride > 1:
            mask = strided_mask(mask, x.shape[-1], kernel=self.dilation * (self.kernel - 1) + 1, stride=self.stride,
                                padding=self.padding)
        # Re-zero padding: BN's shift would otherwise leak padded frames into the next layer.
        return x * mask[:, None, None].to(x.dtype), mask


class TonalPathway(nn.Module):
    """Transposition-invariant CENS encoder: circular convs, max over pitch, mean + max over time."""

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        self.layers = nn.ModuleList([
            CircularConv(1, w, kernel=5), CircularConv(w, 2 * w, kernel=5, stride=2),
            CircularConv(2 * w, 4 * w, kernel=3, stride=2), CircularConv(4 * w, 4 * w, kernel=3, dilation=2),
            CircularConv(4 * w, 8 * w, kernel=3, dilation=4)])
        self.output_dim = 16 * w

    def forward(self, cens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, None].to(cens.dtype)
        x = F.avg_pool1d(cens * m, TONAL_POOL, TONAL_POOL)
        mask = strided_mask(mask, x.shape[-1], kernel=TONAL_POOL, stride=TONAL_POOL)
        m = mask[:, None].to(x.dtype)
        # Remove each track's mean level: CENS frames are unit-norm, what matters is their shape.
        x = (x - (x * m).sum((1, 2), keepdim=True) / (12 * m.sum(-1, keepdim=True)).clamp_min(1.0)) * m
        h = x[:, None]
        for layer in self.layers:
            h, mask = layer(h, mask)
        h = h.amax(dim=2)  # the max over pitch classes: transposition invariance
        return torch.cat([masked_mean(h, mask), masked_max(h, mask)], dim=1)


def _band_statistics(logmel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-band masked mean and std of a ``(B, bands, T)`` log-mel and of its first difference."""
    x = (logmel - DB_CENTRE) / DB_SCALE
    d = torch.diff(x, dim=-1, prepend=x[..., :1]).abs()
    out = []
    for v in (x, d):
        mean = masked_mean(v, mask)
        var = masked_mean((v - mean[..., None]) ** 2, mask)
        out += [mean, var.clamp_min(1e-8).sqrt()]
    return torch.cat(out, dim=1)


class InvariantCNN(Encoder):
    """Tonal (transposition-invariant), timbre and rhythm pathways, concatenated and projected."""

    name = "invariant_cnn"
    modality = "acoustic"
    requires = ("perceptual_spectrum", "tonal", "rhythm")

    class Config(EncoderConfig):
        n_mels: int = Field(64, ge=8, description="must equal perceptual_spectrum's n_mels")
        tempogram_bins: int = Field(30, ge=4, description="must equal rhythm's tempogram_bins")
        width: int = Field(24, ge=4, le=128, description="channels of the first tonal convolution")
        timbre_dim: int = Field(128, ge=8, le=2048)
        rhythm_dim: int = Field(64, ge=8, le=2048)
        key_dim: int = Field(32, ge=8, le=2048)
        dropout: float = Field(0.1, ge=0.0, lt=1.0)

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config
        self.tonal = TonalPathway(c.width)
        self.timbre = nn.Sequential(nn.LayerNorm(4 * c.n_mels), nn.Linear(4 * c.n_mels, c.timbre_dim), nn.ReLU())
        n_rhythm = c.tempogram_bins + 1 + len(RHYTHM_SUMMARY_NAMES)
        self.rhythm = nn.Sequential(nn.LayerNorm(n_rhythm), nn.Linear(n_rhythm, c.rhythm_dim), nn.ReLU())
        self.key = nn.Sequential(nn.LayerNorm(26), nn.Linear(26, c.key_dim), nn.ReLU())
        width = self.tonal.output_dim + c.timbre_dim + c.rhythm_dim + c.key_dim
        self.out = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(width, 2 * self.output_dim), nn.ReLU(),
                                 nn.Linear(2 * self.output_dim, self.output_dim))

    def forward(self, features):
        tonal = self.tonal(features[CENS_KEY], time_mask(features, CENS_KEY))
        mel_mask = time_mask(features, LOGMEL_KEY)
        timbre = self.timbre(_band_statistics(features[LOGMEL_KEY], mel_mask))
        tg_mask = time_mask(features, TEMPOGRAM_KEY)
        summary = features[SUMMARY_KEY]
        # Summary values span ms and counts per second: a signed log keeps them near unit scale.
        rhythm = self.rhythm(torch.cat([masked_mean(features[TEMPOGRAM_KEY], tg_mask),
                                        torch.log2(features[TEMPO_KEY].clamp_min(1.0) / 120.0),
                                        torch.sign(summary) * torch.log1p(summary.abs())], dim=1))
        profile = features[KEY_PROFILE_KEY]  # 12 major then 12 minor key correlations
        key = self.key(torch.cat([profile, profile[:, :12].amax(1, keepdim=True),
                                  profile[:, 12:].amax(1, keepdim=True)], dim=1))
        return self.out(torch.cat([tonal, timbre, rhythm, key], dim=1))

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        c = self.config
        t = 64
        lengths = torch.tensor([t - 9 * (i % 4) for i in range(batch_size)])
        valid = (torch.arange(t)[None, :] < lengths[:, None])[:, None].float()
        feats = {
            LOGMEL_KEY: (torch.randn(batch_size, c.n_mels, t, generator=g) * 15 - 50) * valid,
            CENS_KEY: torch.rand(batch_size, 12, t, generator=g) * valid,
            TEMPOGRAM_KEY: torch.rand(batch_size, c.tempogram_bins, t, generator=g) * valid,
            TEMPO_KEY: 60 + 120 * torch.rand(batch_size, 1, generator=g),
            SUMMARY_KEY: torch.rand(batch_size, len(RHYTHM_SUMMARY_NAMES), generator=g) * 3,
            KEY_PROFILE_KEY: torch.rand(batch_size, 24, generator=g) * 2 - 1,
        }
        for key in (LOGMEL_KEY, CENS_KEY, TEMPOGRAM_KEY):
            feats[length_key(key)] = lengths
        return feats
