"""Fusion heads: shapes, sub-spaces, absent modalities masked, gradients."""

from __future__ import annotations

import pytest
import torch

from sapphire_core.errors import ConfigError
from sapphire_core.fusion_heads import FUSION_HEADS, CrossAttentionFusion, PassThroughFusion

DIMS = {"acoustic": 8, "vocal": 4, "lyrics": 6}
#: The pass-through head's width is the encoders' (it has no mapping to another width).
WIDTH = sum(DIMS.values())


def make(cls, output_dim, **settings):
    return cls(DIMS, output_dim=WIDTH if cls is PassThroughFusion else output_dim, **settings)


def batch(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, d, generator=g) for m, d in DIMS.items()}


def test_registered_names():
    assert [h.name for h in FUSION_HEADS] == ["concat_mlp", "gated_sum", "cross_attention", "concat"]


@pytest.mark.parametrize("cls", FUSION_HEADS)
def test_shape_subspaces_and_backward(cls):
    torch.manual_seed(0)
    head = make(cls, 32, subspaces={"era": 8, "mode": 4})
    out = head(batch())
    assert out.embedding.shape == (3, head.output_dim)
    assert out.subspaces == {"era": slice(0, 8), "mode": slice(8, 12)}
    if not list(head.parameters()):  # the pass-through head learns nothing
        return
    out.embedding.pow(2).sum().backward()
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


@pytest.mark.parametrize("cls", FUSION_HEADS)
def test_absent_modality_is_ignored(cls):
    torch.manual_seed(0)
    head = make(cls, 16).eval()
    x = batch()
    present = {"acoustic": torch.tensor([True, True, True]), "vocal": torch.tensor([True, True, True]),
               "lyrics": torch.tensor([False, True, False])}
    changed = dict(x, lyrics=x["lyrics"] * 100 + 3)
    a, b = head(x, present).embedding, head(changed, present).embedding
    # Rows 0 and 2 have no lyrics: garbage in that slot must not move them. Row 1 has lyrics: it must.
    torch.testing.assert_close(a[[0, 2]], b[[0, 2]])
    assert (a[1] - b[1]).abs().max() > 1e-4


@pytest.mark.parametrize("cls", FUSION_HEADS)
def test_all_absent_is_finite(cls):
    head = make(cls, 16).eval()
    present = {m: torch.zeros(2, dtype=torch.bool) for m in DIMS}
    assert torch.isfinite(head(batch(2), present).embedding).all()


def test_gated_sum_weights_sum_to_one_over_present():
    from sapphire_core.fusion_heads import GatedSumFusion

    head = GatedSumFusion(DIMS, output_dim=16).eval()
    present = {"acoustic": torch.tensor([True, False]), "vocal": torch.tensor([True, True]),
               "lyrics": torch.tensor([False, False])}
    head(batch(2), present)
    w = head.last_weights
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    assert w[0, 2] == 0 and w[1, 0] == 0 and w[1, 1] == pytest.approx(1.0)


def test_bad_configs_rejected():
    with pytest.raises(ConfigError, match="divisible"):
        CrossAttentionFusion(DIMS, d_model=30, heads=4)
    with pytest.raises(ConfigError, match="no_such_key"):
        CrossAttentionFusion(DIMS, no_such_key=1)
    with pytest.raises(ConfigError, match="raise output_dim"):
        CrossAttentionFusion(DIMS, output_dim=8, subspaces={"era": 16})


def test_pass_through_keeps_the_encoders_layout():
    head = PassThroughFusion(DIMS, output_dim=WIDTH, subspaces={"era": 3})
    x = batch()
    torch.testing.assert_close(head(x).embedding, torch.cat([x["acoustic"], x["vocal"], x["lyrics"]], dim=1))
    with pytest.raises(ConfigError, match="set fusion.output_dim: 18"):
        PassThroughFusion(DIMS, output_dim=32)
