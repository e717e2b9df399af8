"""The auxiliary mid-level loss the acoustic plugin registers (MidLevelHead + MSE on the extracted values)."""

import pytest
import torch

from sapphire_acoustic.midlevel_head import MidLevelHead
from sapphire_acoustic.midlevel_loss import MidLevelLoss
from sapphire_core.loss import LossInputs
from sapphire_core.plugins import default_registry


def test_registered_by_the_acoustic_plugin_not_the_core():
    entry = default_registry().entry("loss", "midlevel")
    assert entry.cls is MidLevelLoss and entry.provider == "sapphire-acoustic"
    assert MidLevelLoss.feature_targets == {"midlevel": "midlevel.values"}


def test_midlevel_auxiliary_loss_uses_the_acoustic_head():
    torch.manual_seed(0)
    loss = MidLevelLoss(input_dim=4, hidden=8)
    assert isinstance(loss.head, MidLevelHead)
    audio = torch.nn.functional.normalize(torch.randn(6, 4), dim=-1)
    target = torch.rand(6, 8)
    target[5] = float("nan")  # an unknown row is ignored
    loss.eval()
    expected = torch.nn.functional.mse_loss(loss.head(audio[:5]), target[:5])
    got = loss(LossInputs(audio=audio, labels={"midlevel": target}))
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)
    opt = torch.optim.Adam(loss.parameters(), lr=0.05)
    loss.train()
    first = None
    for _ in range(30):
        value = loss(LossInputs(audio=audio, labels={"midlevel": target}))
        first = first if first is not None else value.item()
        opt.zero_grad()
        value.backward()
        opt.step()
    assert value.item() < 0.5 * first
    with pytest.raises(ValueError, match="midlevel' extractor"):
        loss(LossInputs(audio=audio))
