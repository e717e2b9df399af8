"""``MidLevelHead``: predicts the 8 mid-level values from an embedding, for explanations and as an
auxiliary loss (Chowdhury et al., ISMIR 2019, explain emotion via a mid-level bottleneck; here the
targets are the signal-proxy values of :mod:`sapphire_acoustic.midlevel`).

Usage by a trainer::

    head = MidLevelHead(encoder.output_dim)
    loss = main_loss + 0.1 * midlevel_loss(head(embedding), batch["midlevel.values"])
"""

from __future__ import annotations

import torch
from torch import nn

from sapphire_acoustic.midlevel import MIDLEVEL_NAMES


class MidLevelHead(nn.Module):
    """MLP ``(B, input_dim) -> (B, 8)`` in [0, 1] (sigmoid), in :data:`MIDLEVEL_NAMES` order."""

    names = MIDLEVEL_NAMES

    def __init__(self, input_dim: int, *, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, len(MIDLEVEL_NAMES)))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(embedding))


def midlevel_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and target mid-level values (both ``(B, 8)`` in [0, 1])."""
    return nn.functional.mse_loss(pred, target.to(pred.dtype))
