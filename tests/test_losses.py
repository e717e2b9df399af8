"""Hand-computed loss values on tiny geometric fixtures (points on the unit circle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sapphire_core.errors import ConfigError
from sapphire_core.loss import LossInputs
from sapphire_core.losses import (LOSSES, ConditionalTripletLoss, ContentWeightedInfoNCELoss, InfoNCELoss, NTXentLoss,
                                  VersionContrastiveLoss)


def circle(*degrees: float) -> torch.Tensor:
    """Unit vectors at the given angles (degrees)."""
    rad = [math.radians(d) for d in degrees]
    return torch.tensor([[math.cos(r), math.sin(r)] for r in rad], dtype=torch.float32)


def test_registry_names():
    assert [c.name for c in LOSSES][:5] == ["infonce", "content_weighted_infonce", "ntxent", "conditional_triplet",
                                            "version_contrastive"]


def test_infonce_orthogonal_pairs():
    # Two matched pairs at 0 and 90 degrees, temperature 1: each row is CE over logits [1, 0].
    loss = InfoNCELoss(temperature=1.0, learn_temperature=False)
    out = loss(LossInputs(audio=circle(0, 90), text=circle(0, 90)))
    assert out.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)


def test_infonce_misaligned_is_worse_and_temperature_learns():
    loss = InfoNCELoss(temperature=0.5)
    good = loss(LossInputs(audio=circle(0, 90), text=circle(10, 100)))
    bad = loss(LossInputs(audio=circle(0, 90), text=circle(90, 0)))
    assert bad.item() > good.item()
    bad.backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad.abs().item() > 0


def test_content_weighted_equal_similarity_equals_infonce():
    # With B=2 both captions have the same mean similarity, so the weights are equal.
    audio, text = circle(0, 90), circle(20, 80)
    plain = InfoNCELoss(temperature=0.2, learn_temperature=False)(LossInputs(audio=audio, text=text))
    weighted = ContentWeightedInfoNCELoss(temperature=0.2, learn_temperature=False, kappa=0.01)(
        LossInputs(audio=audio, text=text, text_raw=torch.tensor([[1.0, 0.0], [0.0, 1.0]])))
    assert weighted.item() == pytest.approx(plain.item(), abs=1e-6)


def test_content_weighted_hand_computed():
    # Three captions: 0 and 1 identical, 2 orthogonal to both. MusCALL: m_i = sum_{j!=i} s_ij / B.
    raw = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    m = np.array([1 / 3, 1 / 3, 0.0])
    kappa = 0.5
    w = np.exp(m / m.sum() / kappa)
    audio, text = circle(0, 120, 240), circle(0, 120, 240)
    s = 1.0  # temperature 1
    logits = s * (audio @ text.t()).numpy()
    ce_rows = -np.log(np.exp(np.diag(logits)) / np.exp(logits).sum(1))
    ce_cols = -np.log(np.exp(np.diag(logits)) / np.exp(logits).sum(0))
    expected = 0.5 * ((w * ce_rows).sum() / w.sum() + (w * ce_cols).sum() / w.sum())
    got = ContentWeightedInfoNCELoss(temperature=1.0, learn_temperature=False, kappa=kappa)(
        LossInputs(audio=audio, text=text, text_raw=raw))
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_ntxent_hand_computed():
    # Views of two tracks: track 0 at 0 / 30 degrees, track 1 at 90 / 120, temperature 1.
    v1, v2 = circle(0, 90), circle(30, 120)
    z = torch.cat([v1, v2]).numpy()
    sim = z @ z.T
    pos = [2, 3, 0, 1]
    expected = np.mean([-(sim[i, pos[i]] - np.log(sum(np.exp(sim[i, k]) for k in range(4) if k != i)))
                        for i in range(4)])
    got = NTXentLoss(temperature=1.0)(LossInputs(audio=v1, audio_view2=v2))
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_ntxent_needs_second_view():
    with pytest.raises(ValueError, match="second augmented view"):
        NTXentLoss()(LossInputs(audio=circle(0, 90)))


def test_version_contrastive_hand_computed():
    # Angles 0, 60 (same work) and 180 (other work), temperature 1.
    emb = circle(0, 60, 180)
    labels = torch.tensor([0, 0, 1])
    l0 = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(-1.0)))
    l1 = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(-0.5)))
    got = VersionContrastiveLoss(temperature=1.0)(LossInputs(audio=emb, labels={"work": labels}))
    assert got.item() == pytest.approx((l0 + l1) / 2, abs=1e-6)


def test_version_contrastive_unknown_labels_and_no_positives():
    loss = VersionContrastiveLoss(temperature=1.0)
    emb = circle(0, 60, 180)
    zero = loss(LossInputs(audio=emb, labels={"work": torch.tensor([0, -1, -1])}))
    assert zero.item() == 0.0
    with pytest.raises(ValueError, match="needs the 'work' label"):
        loss(LossInputs(audio=emb, labels={"era": torch.tensor([0, 1, 2])}))


def test_conditional_triplet_single_semihard_triplet():
    # a=0 deg, p=60 deg (label 0), n=90 deg (label 1); cosine similarity, margin 0.6.
    # Anchor a: s_ap=0.5, s_an=0 -> semi-hard (s_an < s_ap < s_an + margin): loss 0 - 0.5 + 0.6 = 0.1.
    # Anchor p: its negative (cos 30 = 0.87) is closer than its positive -> hard, not mined. n has no positive.
    loss = ConditionalTripletLoss(margin=0.6, subspaces={"all": "work"})
    got = loss(LossInputs(audio=circle(0, 60, 90), labels={"work": torch.tensor([0, 0, 1])}))
    assert loss.last_counts == {"all": 1}
    assert got.item() == pytest.approx(0.1, abs=1e-5)


def test_conditional_triplet_uses_each_subspace_with_its_label():
    # Dims 0-1 are the "era" sub-space, 2-3 the "mode" sub-space. Era labels agree with the geometry of
    # dims 0-1 (no violated triplet); mode labels contradict dims 2-3.
    era = circle(0, 10, 180, 190)
    mode = circle(0, 10, 180, 190)
    emb = torch.cat([era, mode], dim=1) / math.sqrt(2)
    labels = {"era": torch.tensor([0, 0, 1, 1]), "mode": torch.tensor([0, 1, 0, 1])}
    loss = ConditionalTripletLoss(margin=0.2, type_of_triplets="all", include_whole=False)
    out = loss(LossInputs(audio=emb, labels=labels, subspaces={"era": slice(0, 2), "mode": slice(2, 4)}))
    # The miner keeps only margin-violating triplets: none in era, several in mode.
    assert loss.last_counts["era"] == 0 and loss.last_counts["mode"] > 0
    era_only = ConditionalTripletLoss(margin=0.2, type_of_triplets="all", subspaces={"era": "era"})
    assert era_only(LossInputs(audio=emb, labels=labels, subspaces={"era": slice(0, 2)})).item() == 0.0
    # mode: a=0deg p=180deg (s=-1), n=10deg (s=0.98) -> 0.98 + 1 + 0.2 averaged with the others: clearly > 1.
    assert out.item() > 0.5


def test_conditional_triplet_default_plan_and_errors():
    loss = ConditionalTripletLoss()
    assert loss.plan({"instrument": slice(0, 2), "era": slice(2, 4)}) == {
        "instrument": "instrument_family", "era": "era", "all": "work"}
    with pytest.raises(ValueError, match="no sub-space 'mood'"):
        ConditionalTripletLoss(subspaces={"mood": "mood"})(
            LossInputs(audio=circle(0, 1, 2), labels={"mood": torch.tensor([0, 1, 1])}))
    with pytest.raises(ConfigError, match="distance"):
        ConditionalTripletLoss(distance="manhattan")


def test_conditional_triplet_is_library_backed():
    from pytorch_metric_learning import losses, miners

    loss = ConditionalTripletLoss(distance="euclidean")
    assert isinstance(loss.miner, miners.TripletMarginMiner) and isinstance(loss.triplet, losses.TripletMarginLoss)
    assert loss.miner.distance is loss.triplet.distance


@pytest.mark.parametrize("cls", LOSSES[:5])
def test_every_loss_backward_and_rejects_unknown_keys(cls):
    torch.manual_seed(0)
    audio = torch.nn.functional.normalize(torch.randn(6, 8, requires_grad=True), dim=-1)
    inputs = LossInputs(audio=audio, text=torch.nn.functional.normalize(torch.randn(6, 8), dim=-1),
                        audio_view2=torch.nn.functional.normalize(torch.randn(6, 8), dim=-1),
                        text_raw=torch.randn(6, 5), labels={"work": torch.tensor([0, 0, 1, 1, 2, 2])})
    out = cls()(inputs)
    assert out.dim() == 0 and torch.isfinite(out)
    out.backward()
    with pytest.raises(ConfigError, match="no_such_key"):
        cls(no_such_key=1)
