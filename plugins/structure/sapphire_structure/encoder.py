"""``structure_cnn``: a small CNN over the self-similarity matrix plus an MLP over the section
and chord summaries."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sapphire_core.encoder import Encoder, EncoderConfig
from sapphire_core.errors import ConfigError
from sapphire_structure.harmony import HARMONY_SUMMARY_NAMES, N_PROGRESSION
from sapphire_structure.segmentation import SEGMENT_SUMMARY_NAMES

_BOUNDARY_POOL = 16
_ACTIVATION_POOL = 8


def _squash(x: torch.Tensor) -> torch.Tensor:
    """Signed log1p: summaries mix counts, seconds and fractions; this keeps them all O(1)."""
    return torch.sign(x) * torch.log1p(x.abs())


class StructureCNN(Encoder):
    """Embeds a song's form.

    * SSM branch: three strided conv blocks over ``self_similarity.ssm`` (any size; adaptive
      pooling to 4 x 4), which sees repeated blocks and diagonal stripes.
    * Summary branch: an MLP over ``segments.summary``, ``segments.boundaries`` (pooled to 16 bins),
      ``harmony.summary`` and ``harmony.progression``.
    * With ``use_siplca``: also ``siplca.patterns`` (pooled over time) and ``siplca.activations``
      (then list ``siplca`` in the modality's ``extractors``).

    The two branches are concatenated and projected to ``output_dim``. About 0.1 M parameters:
    cheap on CPU.
    """

    name, modality = "structure_cnn", "structure"
    requires = ("self_similarity", "segments", "harmony")

    class Config(EncoderConfig):
        output_dim: int = 128
        ssm_size: int = Field(64, ge=4, description="S of self_similarity.ssm (for example_features)")
        boundary_bins: int = Field(64, ge=4, description="n_bins of segments.boundaries (for example_features)")
        channels: int = Field(16, ge=1, le=256)
        hidden: int = Field(128, ge=8, le=4096)
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        use_siplca: bool = False
        n_patterns: int = Field(4, ge=1, description="K of the siplca extractor")
        pattern_len: int = Field(16, ge=1, description="L of the siplca extractor (for example_features)")
        activation_bins: int = Field(32, ge=4, description="n_bins of the siplca extractor (for example_features)")

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config
        ch = c.channels

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.GELU())

        self.ssm_net = nn.Sequential(block(1, ch), block(ch, 2 * ch), block(2 * ch, 2 * ch),
                                     nn.AdaptiveAvgPool2d(4), nn.Flatten())
        summary_dim = len(SEGMENT_SUMMARY_NAMES) + 2 * _BOUNDARY_POOL + len(HARMONY_SUMMARY_NAMES) + N_PROGRESSION
        if c.use_siplca:
            summary_dim += c.n_patterns * (12 + _ACTIVATION_POOL)
        self.summary_net = nn.Sequential(nn.LayerNorm(summary_dim), nn.Linear(summary_dim, c.hidden), nn.GELU(),
                                         nn.Dropout(c.dropout), nn.Linear(c.hidden, c.hidden), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * ch * 16 + c.hidden, c.hidden), nn.GELU(), nn.Dropout(c.dropout),
                                  nn.Linear(c.hidden, self.output_dim))

    def _get(self, features: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        try:
            return features[key].float()
        except KeyError:
            have = ", ".join(sorted(k for k in features if not k.endswith("__len")))
            hint = " (use_siplca=true needs the siplca extractor in this modality's extractors)" \
                if key.startswith("siplca.") else ""
            raise ConfigError(f"structure_cnn: missing input feature {key!r}{hint}; got: {have}") from None

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        ssm = self._get(features, "self_similarity.ssm")
        bounds = self._get(features, "segments.boundaries")
        parts = [
            _squash(self._get(features, "segments.summary")),
            nn.functional.adaptive_avg_pool1d(bounds, _BOUNDARY_POOL).flatten(1),
            _squash(self._get(features, "harmony.summary")),
            self._get(features, "harmony.progression"),
        ]
        if self.config.use_siplca:
            patterns = self._get(features, "siplca.patterns")  # (B, K, 12, L)
            acts = self._get(features, "siplca.activations")  # (B, K, bins)
            pc_profile = patterns.sum(dim=-1)  # pitch-class content of each pattern
            parts += [pc_profile.flatten(1), nn.functional.adaptive_avg_pool1d(acts, _ACTIVATION_POOL).flatten(1)]
        summary = self.summary_net(torch.cat(parts, dim=1))
        image = self.ssm_net(ssm.unsqueeze(1))
        return self.head(torch.cat([image, summary], dim=1))

    def example_features(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
        c = self.config
        g = torch.Generator().manual_seed(seed)
        s = torch.rand(batch_size, c.ssm_size, c.ssm_size, generator=g)
        out = {
            "self_similarity.ssm": (s + s.transpose(1, 2)) / 2,
            "segments.boundaries": torch.rand(batch_size, 2, c.boundary_bins, generator=g),
            "segments.summary": 10 * torch.rand(batch_size, len(SEGMENT_SUMMARY_NAMES), generator=g),
            "harmony.summary": torch.rand(batch_size, len(HARMONY_SUMMARY_NAMES), generator=g),
            "harmony.progression": torch.softmax(torch.randn(batch_size, N_PROGRESSION, generator=g), dim=1),
        }
        if c.use_siplca:
            w = torch.rand(batch_size, c.n_patterns, 12, c.pattern_len, generator=g)
            out["siplca.patterns"] = w / w.sum(dim=(2, 3), keepdim=True)
            a = torch.rand(batch_size, c.n_patterns, c.activation_bins, generator=g)
            out["siplca.activations"] = a / a.sum(dim=(1, 2), keepdim=True)
        return out
