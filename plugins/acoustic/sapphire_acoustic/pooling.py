"""Pooling a padded frame sequence ``(B, C, T)`` into one vector per track, honouring the valid-frame mask."""

from __future__ import annotations

import math

import torch
from torch import nn


def strided_output_length(n: torch.Tensor, *, kernel: int, stride: int, padding: int = 0,
                          ceil_mode: bool = False) -> torch.Tensor:
    """Frames out of a 1-D conv/pool over ``n`` input frames (PyTorch's output-size arithmetic)."""
    span = n + 2 * padding - kernel
    if not ceil_mode:
        return torch.div(span, stride, rounding_mode="floor") + 1
    out = torch.div(span + stride - 1, stride, rounding_mode="floor") + 1
    # PyTorch drops a last window that would start in the right padding.
    return out - ((out - 1) * stride >= n + padding).to(out.dtype)


def strided_mask(mask: torch.Tensor, length: int, *, kernel: int, stride: int, padding: int = 0,
                 ceil_mode: bool = False) -> torch.Tensor:
    """The valid-frame mask after a strided conv/pool, exactly as if each track ran alone.

    ``mask (B, T)`` is a prefix mask (:func:`sapphire_core.collate.time_mask`). A track with ``n``
    valid frames run alone gives ``strided_output_length(n)`` frames; in a padded batch the same
    frames come first and the rest are padding. (Resampling the mask by adaptive pooling drifts by
    a frame when ``T`` is odd: it then keeps a window, mostly padding, that the track alone lacks.)
    """
    n = mask.sum(-1)
    valid = torch.where(n > 0, strided_output_length(n, kernel=kernel, stride=stride, padding=padding,
                                                     ceil_mode=ceil_mode), torch.zeros_like(n))
    return torch.arange(length, device=mask.device)[None, :] < valid[:, None]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid frames of ``x (B, C, T)`` -> ``(B, C)``."""
    m = mask[:, None].to(x.dtype)
    return (x * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over valid frames of ``x (B, C, T)`` -> ``(B, C)``."""
    return x.masked_fill(~mask[:, None], torch.finfo(x.dtype).min).amax(-1)


def sinusoidal_positions(length: int, dim: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(length, dim)`` fixed sinusoidal position codes (Vaswani et al. 2017, sec. 3.5); any length works."""
    pos = torch.arange(length, device=device, dtype=dtype)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=dtype) * (-math.log(10000.0) / dim))
    out = torch.zeros(length, dim, device=device, dtype=dtype)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out


class AttentionPool(nn.Module):
    """Attention pooling over time as in MusCALL (Manco et al., ICASSP 2022), after CLIP's ``AttentionPool2d``
    (Radford et al. 2021): the masked average of the frames is prepended as a query token, position codes
    are added, and that token attends over itself and the valid frames; its output is the pooled vector.
    """

    def __init__(self, dim: int, *, heads: int = 4) -> None:
        super().__init__()
        heads = max(1, min(heads, dim))
        while dim % heads:
            heads -= 1
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x (B, C, T)``, ``mask (B, T)`` -> ``(B, C)``."""
        tokens = x.transpose(1, 2)
        query = masked_mean(x, mask)[:, None]
        seq = torch.cat([query, tokens], dim=1)
        seq = seq + sinusoidal_positions(seq.shape[1], seq.shape[2], device=x.device, dtype=x.dtype)
        seq = self.norm(seq)
        keep = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        out, _ = self.attn(seq[:, :1], seq, seq, key_padding_mask=~keep, need_weights=False)
        return out[:, 0] + query[:, 0]
