"""Pass-through fusion: the modality embeddings concatenated as they are, with no learned mapping.

For encoders that lay out the shared space themselves (named sub-spaces first, then a general part
whose inner product is a chosen metric): an MLP on top would mix the parts and undo that layout.
"""

from __future__ import annotations

from sapphire_core.errors import ConfigError
from sapphire_core.fusion import FusionHead
from sapphire_core.fusion_heads.concat import masked_concat


class PassThroughFusion(FusionHead):
    """``[w_1 e_1; ...; w_M e_M]`` with absent modalities zeroed; ``output_dim`` must equal the summed widths."""

    name = "concat"

    def __init__(self, input_dims, config=None, **settings):
        super().__init__(input_dims, config, **settings)
        width = sum(self.input_dims.values())
        if width != self.output_dim:
            widths = " + ".join(f"{m} {d}" for m, d in self.input_dims.items())
            raise ConfigError(f"fusion 'concat' passes the encoders' outputs through ({widths} = {width} dims) but "
                              f"fusion.output_dim is {self.output_dim}; set fusion.output_dim: {width}")

    def fuse(self, embeddings, present):
        return masked_concat(self.input_dims, embeddings, present)
