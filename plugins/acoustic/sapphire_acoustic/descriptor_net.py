"""``descriptor_net``: metric learning on top of fixed, invariant descriptor blocks.

Why. The ``invariant_cnn`` base model, trained on ~70 works, fitted its training works and found
4 % of held-out versions, while the training-free descriptor similarity (``sounds_like``) found 77 %.
So this encoder keeps the invariances *outside* of what is learned: it computes, with no learned
weight, the descriptor blocks of :mod:`sapphire_acoustic.descriptors` from the features the base model
already extracts, and learns only a metric on them, starting from the training-free one. Trained or
not, an embedding can only move a bounded distance from descriptor similarity (every learned part
starts at the identity or near zero, and weight decay pulls it back there).

Fixed blocks (per track, numpy, the same functions ``sounds_like`` and the baselines call)
    ``timbre`` (250)   :func:`~sapphire_acoustic.descriptors.timbre_profile` of the MFCCs over the sounding frames
    ``tonality`` (396) :func:`sapphire_core.summaries.two_d_ftm` of the CENS (key- and shift-invariant)
    ``key_mode`` (36)  :func:`~sapphire_acoustic.descriptors.key_mode_profile` of the mean CENS (rotated to the tonic)
    ``rhythm`` (21)    the FFT magnitude of the mean cyclic tempogram along its (circular) tempo-class axis,
                       which a tempo change (a roll of that axis) leaves unchanged, and the rhythm summary
    ``dynamics`` (16)  :func:`~sapphire_acoustic.descriptors.dynamics_profile` of the loudness (sone)
    ``tempo`` (31), ``key`` (24)  log tempo with the mean cyclic tempogram, and the 24 key correlations: only
                       the sub-space heads read these two (the general space is tempo- and key-blind).

Standardisation
    Each block is z-scored (``tonality``: scaled to unit length and centred, as ``sounds_like`` does) with
    statistics accumulated over every training view and frozen in the checkpoint as buffers
    (:class:`RunningStandardiser`), then scaled to unit length.

The space (``[sub-spaces..., general]``; the ``concat`` fusion head passes it through unchanged)
    general  ``sqrt(w_b) * exp(d_b) * u_b`` for each general block ``u_b``, then a learned low-rank
             part ``L [u_1; ...]``. ``w_b`` starts at the descriptor weights (:data:`INITIAL_WEIGHTS`),
             the per-dimension log-scales ``d_b`` (a diagonal metric) at zero, ``L`` near zero: the
             inner product of two untrained embeddings is the weighted mean of block cosines.
    sub-spaces  one linear head per name in ``subspaces`` (which must list the fusion head's, in
             its order) over all blocks, unit length, scaled by ``sqrt(w_s)``: the ``conditional_triplet``
             loss trains each on its own label.

Initial weights. ``sounds_like`` weights timbre 8, tonality 1, others 0.5 and adds a non-linear
"same harmony" gate that one inner product cannot express; without the gate those weights rank
versions by timbre. :data:`INITIAL_WEIGHTS` gives tonality the weight the gate stands for. They were
chosen on training-profile works only (``make model``'s corpus: 336 tracks of 84 works, 300 label
triplets per dimension), over timbre 1-8, tonality 4-16, key/mode and rhythm 0.5-2: version top-1 0.83
and label-triplet agreement 0.696, where sounds_like's weights without the gate give 0.18 / 0.664 and
the tonality block alone 0.85 / 0.660. Training then moves every weight a little.

Statistics come from whole tracks: fitted on 10 s crops, the 2D-FTM's mean differs so much from a whole
track's that version top-1 on the same works (timbre 8, tonality 8) fell from 0.58 to 0.18, so the configs
train on whole tracks without feature-level augmentation (``crop_seconds`` longer than any track,
``augment: false``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sapphire_acoustic.cnn14 import LOGMEL_KEY
from sapphire_acoustic.multi_input_cnn import CENS_KEY, KEY_PROFILE_KEY, SUMMARY_KEY, TEMPO_KEY, TEMPOGRAM_KEY
from sapphire_acoustic.rhythm import RHYTHM_SUMMARY_NAMES
from sapphire_core.collate import length_key
from sapphire_core.encoder import Encoder, EncoderConfig
from sapphire_core.errors import ConfigError

MFCC_KEY = "perceptual_spectrum.mfcc"
LOUDNESS_KEY = "perceptual_spectrum.loudness"
#: Blocks of the general space, in its order, and their initial weights (module docstring).
GENERAL_BLOCKS = ("timbre", "tonality", "key_mode", "rhythm", "dynamics")
INITIAL_WEIGHTS = {"timbre": 2.0, "tonality": 8.0, "key_mode": 2.0, "rhythm": 0.5, "dynamics": 0.5}
#: Blocks only the sub-space heads read.
HEAD_ONLY_BLOCKS = ("tempo", "key")
#: Blocks scaled to unit length and centred rather than z-scored (as ``sounds_like``'s CENTRED_BLOCKS).
CENTRED_BLOCKS = ("tonality",)
#: Initial weight of each sub-space in the whole embedding (small beside the general blocks' 13).
INITIAL_SUBSPACE_WEIGHT = 0.25


def block_dims(n_mfcc: int = 20, tempogram_bins: int = 30) -> dict[str, int]:
    """The width of each fixed block (general blocks first, then the head-only ones)."""
    from sapphire_acoustic.descriptors import MODULATION_BANDS
    from sapphire_core.summaries import PATCH

    return {"timbre": n_mfcc + n_mfcc * (n_mfcc + 1) // 2 + n_mfcc, "tonality": 12 * (PATCH // 2 + 1),
            "key_mode": 36, "rhythm": tempogram_bins // 2 + 1 + len(RHYTHM_SUMMARY_NAMES),
            "dynamics": 8 + MODULATION_BANDS, "tempo": 1 + tempogram_bins, "key": 24}


def track_blocks(mfcc: np.ndarray, loudness: np.ndarray, cens: np.ndarray, tempogram: np.ndarray, tempo: float,
                 summary: np.ndarray, key_profile: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed blocks (module docstring) of one track's unpadded features.

    Parameters
    ----------
    mfcc : (n_mfcc, T) ; loudness : (T,) sone ; cens : (12, T) ; tempogram : (bins, T) cyclic
    tempo : float, BPM ; summary : (5,) rhythm summary ; key_profile : (24,) key correlations

    Returns
    -------
    dict of str to float32 arrays, keyed as :func:`block_dims`.

    Examples
    --------
    A transposed (pitch-rolled) CENS leaves every general block as it was:

    >>> rng = np.random.default_rng(0)
    >>> args = dict(mfcc=rng.normal(size=(20, 300)), loudness=rng.random(300), tempogram=rng.random((30, 300)),
    ...             tempo=120.0, summary=rng.random(5), key_profile=rng.random(24))
    >>> cens = rng.random((12, 300))
    >>> a, b = track_blocks(cens=cens, **args), track_blocks(cens=np.roll(cens, 4, axis=0), **args)
    >>> all(np.allclose(a[k], b[k], atol=1e-5) for k in GENERAL_BLOCKS)
    True
    """
    from sapphire_acoustic.common import HOP_LENGTH, SAMPLE_RATE
    from sapphire_acoustic.descriptors import dynamics_profile, key_mode_profile, timbre_profile
    from sapphire_core.summaries import CENS_STEP, two_d_ftm

    fps = SAMPLE_RATE / HOP_LENGTH
    cycle = np.asarray(tempogram, np.float64).mean(axis=1) if tempogram.shape[1] else np.zeros(tempogram.shape[0])
    summary = np.asarray(summary, np.float64)
    blocks = {
        "timbre": timbre_profile(mfcc, loudness),
        "tonality": two_d_ftm(cens[:, ::CENS_STEP]),
        "key_mode": key_mode_profile(cens),
        # |FFT| along the circular tempo-class axis: blind to where the tempo sits in the octave.
        "rhythm": np.concatenate([np.abs(np.fft.rfft(cycle)) / max(len(cycle), 1),
                                  np.sign(summary) * np.log1p(np.abs(summary))]),
        "dynamics": dynamics_profile(loudness, fps),
        "tempo": np.concatenate([[math.log2(max(float(tempo), 1.0) / 120.0)], cycle]),
        "key": np.asarray(key_profile, np.float64),
    }
    return {k: np.nan_to_num(np.asarray(v, np.float32)) for k, v in blocks.items()}


class RunningStandardiser(nn.Module):
    """Per-dimension mean and variance over every vector seen in training mode, frozen in eval mode.

    Unlike BatchNorm, training batches are standardised with the *accumulated* statistics too (not the
    batch's), so a training view and an indexed track go through the same map. Before any data it is
    the identity. ``centre_only`` subtracts the mean and keeps the scale.
    """

    def __init__(self, dim: int, *, centre_only: bool = False) -> None:
        super().__init__()
        self.centre_only = centre_only
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge a batch's moments into the totals (Chan et al. 1979, parallel variance)."""
        x = x.detach().to(torch.float64)
        n, mean = x.shape[0], x.mean(dim=0)
        m2 = ((x - mean) ** 2).sum(dim=0)
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta**2 * self.count * n / total
        self.count += n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.update(x)
        if self.count < 1:
            return x
        out = x - self.mean.to(x.dtype)
        if not self.centre_only and self.count >= 2:
            std = (self.m2 / (self.count - 1)).sqrt()
            # A constant dimension says nothing: a scale of 1 leaves it at zero.
            out = out / torch.where(std > 1e-9, std, torch.ones_like(std)).to(x.dtype)
        return out


class DescriptorNet(Encoder):
    """Fixed invariant descriptor blocks, standardised, under a learned metric and sub-space heads."""

    name = "descriptor_net"
    modality = "acoustic"
    requires = ("perceptual_spectrum", "tonal", "rhythm")

    class Config(EncoderConfig):
        output_dim: int = Field(751, description="must equal the layout's width: sub-spaces + blocks (719) + rank")
        n_mfcc: int = Field(20, ge=1, description="must equal perceptual_spectrum's n_mfcc")
        tempogram_bins: int = Field(30, ge=4, description="must equal rhythm's tempogram_bins")
        rank: int = Field(32, ge=0, le=512, description="width of the learned low-rank part of the general space")
        subspaces: dict[str, int] = Field(default_factory=dict,
                                          description="the fusion head's sub-spaces, same names, sizes and order")
        weights: dict[str, float] = Field(default_factory=dict, description="initial block weights (default: "
                                          "INITIAL_WEIGHTS); 0 leaves a block out")

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config
        unknown = sorted(set(c.weights) - set(GENERAL_BLOCKS))
        if unknown:
            raise ConfigError(f"descriptor_net weights: unknown block(s) {unknown}; "
                              f"blocks: {', '.join(GENERAL_BLOCKS)}")
        self.dims = block_dims(c.n_mfcc, c.tempogram_bins)
        self.standardise = nn.ModuleDict({b: RunningStandardiser(d, centre_only=b in CENTRED_BLOCKS)
                                          for b, d in self.dims.items()})
        weights = {**INITIAL_WEIGHTS, **c.weights}
        self.general = [b for b in GENERAL_BLOCKS if weights[b] > 0]
        self.log_weights = nn.ParameterDict({b: nn.Parameter(torch.tensor(math.log(weights[b])))
                                             for b in self.general})
        self.log_scales = nn.ParameterDict({b: nn.Parameter(torch.zeros(self.dims[b])) for b in self.general})
        width_in = sum(self.dims.values())
        # The low-rank part reads the general blocks only, so the general space stays key- and tempo-blind.
        self.low_rank = nn.Linear(sum(self.dims[b] for b in self.general), c.rank, bias=False) if c.rank else None
        if self.low_rank is not None:
            nn.init.normal_(self.low_rank.weight, std=1e-3)
        self.heads = nn.ModuleDict({s: nn.Linear(width_in, d) for s, d in c.subspaces.items()})
        self.head_log_weights = nn.ParameterDict({s: nn.Parameter(torch.tensor(math.log(INITIAL_SUBSPACE_WEIGHT)))
                                                  for s in c.subspaces})
        self.width = sum(c.subspaces.values()) + sum(self.dims[b] for b in self.general) + c.rank
        if c.output_dim != self.width:
            raise ConfigError(f"descriptor_net's output is {self.width} dims (sub-spaces + blocks + rank); "
                              f"set output_dim: {self.width}")

    @property
    def output_dim(self) -> int:
        return self.width

    def fixed_blocks(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The raw fixed blocks of a padded batch, ``{block: (B, dim)}`` (no gradient: nothing here learns)."""
        cens = features[CENS_KEY]
        rows = []
        for i in range(cens.shape[0]):
            def valid(key, i=i):
                x = features[key][i]
                n = features.get(length_key(key))
                return (x[..., : int(n[i])] if n is not None else x).detach().float().cpu().numpy()
            rows.append(track_blocks(valid(MFCC_KEY), valid(LOUDNESS_KEY)[0], valid(CENS_KEY), valid(TEMPOGRAM_KEY),
                                     float(features[TEMPO_KEY][i, 0]), valid(SUMMARY_KEY), valid(KEY_PROFILE_KEY)))
        return {b: torch.from_numpy(np.stack([r[b] for r in rows])).to(cens.device) for b in self.dims}

    def unit_blocks(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each block standardised (statistics updated in training mode) and scaled to unit length."""
        out = {}
        for b, x in self.fixed_blocks(features).items():
            if b in CENTRED_BLOCKS:
                x = F.normalize(x, dim=-1)
            out[b] = F.normalize(self.standardise[b](x), dim=-1)
        return out

    def forward(self, features):
        u = self.unit_blocks(features)
        every = torch.cat([u[b] for b in self.dims], dim=-1)
        parts = [F.normalize(self.heads[s](every), dim=-1) * self.head_log_weights[s].mul(0.5).exp()
                 for s in self.heads]
        parts += [u[b] * self.log_scales[b].exp() * self.log_weights[b].mul(0.5).exp() for b in self.general]
        if self.low_rank is not None:
            parts.append(self.low_rank(torch.cat([u[b] for b in self.general], dim=-1)))
        return torch.cat(parts, dim=-1)

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        c = self.config
        t = 200
        lengths = torch.tensor([t - 37 * (i % 4) for i in range(batch_size)])
        valid = (torch.arange(t)[None, :] < lengths[:, None])[:, None].float()
        feats = {
            LOGMEL_KEY: (torch.randn(batch_size, 64, t, generator=g) * 15 - 50) * valid,
            MFCC_KEY: torch.randn(batch_size, c.n_mfcc, t, generator=g) * 10 * valid,
            LOUDNESS_KEY: torch.rand(batch_size, 1, t, generator=g) * 20 * valid,
            CENS_KEY: torch.rand(batch_size, 12, t, generator=g) * valid,
            TEMPOGRAM_KEY: torch.rand(batch_size, c.tempogram_bins, t, generator=g) * valid,
            TEMPO_KEY: 60 + 120 * torch.rand(batch_size, 1, generator=g),
            SUMMARY_KEY: torch.rand(batch_size, len(RHYTHM_SUMMARY_NAMES), generator=g) * 3,
            KEY_PROFILE_KEY: torch.rand(batch_size, 24, generator=g) * 2 - 1,
        }
        for key in (LOGMEL_KEY, MFCC_KEY, LOUDNESS_KEY, CENS_KEY, TEMPOGRAM_KEY):
            feats[length_key(key)] = lengths
        return feats
