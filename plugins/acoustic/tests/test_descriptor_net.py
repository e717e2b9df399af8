"""``descriptor_net``: fixed invariant blocks under a learned metric (contract, invariances, versions of
analytic melodies ranked as ``sounds_like`` ranks them, a short training run that learns without drifting)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sapphire_acoustic.descriptor_net import GENERAL_BLOCKS, DescriptorNet, RunningStandardiser, block_dims
from sapphire_acoustic.multi_input_cnn import CENS_KEY, KEY_PROFILE_KEY, TEMPO_KEY
from sapphire_acoustic.testing import MultiInputContract, multi_input_batch
from sapphire_core.errors import ConfigError
from sapphire_core.losses.version_contrastive import supervised_contrastive
from sapphire_core.testing import signals

SUBSPACES = {"instrument": 4, "tempo": 4, "key": 4}
#: Three "works" (their own melody and rhythm), each played twice: as written with a bright tone, and
#: transposed with a dull tone (what a cover does).
WORKS = ([60, 64, 67, 72, 67, 64, 60, 55], [62, 62, 69, 69, 71, 71, 69, 65], [57, 60, 59, 57, 64, 62, 60, 59])
DURATIONS = ([0.3, 0.3, 0.3, 0.6], [0.45, 0.15, 0.45, 0.15], [0.2, 0.2, 0.4, 0.8])


def _general(enc: DescriptorNet, out: torch.Tensor) -> torch.Tensor:
    return out[:, sum(enc.config.subspaces.values()):]


@pytest.fixture(scope="module")
def versions():
    """``(features, work ids)`` of 3 works x 2 versions, about 6 s each."""
    audio, works = [], []
    for w, (pitches, durs) in enumerate(zip(WORKS, DURATIONS)):
        for transpose, harmonics in ((0, 4), (3, 1)):
            y = signals.melody(pitches * 3, durations=durs * 6, sr=22050, transpose=transpose, harmonics=harmonics)
            audio.append(y)
            works.append(w)
    return multi_input_batch(audio), torch.tensor(works)


def _top1(emb: torch.Tensor, works: torch.Tensor) -> float:
    sim = emb @ emb.T
    sim.fill_diagonal_(-np.inf)
    return float((works[sim.argmax(1)] == works).float().mean())


def _margin(enc: DescriptorNet, feats, works: torch.Tensor) -> float:
    """Mean cosine to the other version minus mean cosine to other works."""
    with torch.no_grad():
        emb = torch.nn.functional.normalize(enc(feats), dim=-1)
    sim, same = emb @ emb.T, works[:, None] == works[None, :]
    other = ~torch.eye(len(works), dtype=torch.bool)
    return float(sim[same & other].mean() - sim[~same].mean())


class TestDescriptorNet(MultiInputContract):
    from sapphire_acoustic.tonal import Tonal as extractor_cls  # noqa: N813

    @property
    def encoder_cls(self):
        return DescriptorNet

    def encoder_settings(self):
        return {"subspaces": SUBSPACES, "output_dim": 12 + 719 + 32}


def test_output_dim_must_match_the_layout():
    with pytest.raises(ConfigError, match="set output_dim: 763"):
        DescriptorNet(subspaces=SUBSPACES, output_dim=128)
    with pytest.raises(ConfigError, match="unknown block"):
        DescriptorNet(weights={"melody": 1.0})
    no_dynamics = DescriptorNet(weights={"dynamics": 0.0}, output_dim=751 - block_dims()["dynamics"])
    assert "dynamics" not in no_dynamics.general


@pytest.mark.parametrize("shift", [1, 5, 11])
def test_general_space_ignores_transposition_and_the_key_head_does_not(shift):
    """Rolling the chroma axis and the key correlations (what transposing the audio does) leaves the general
    space exactly as it was, whatever the learned weights; the ``key`` sub-space is meant to see it."""
    torch.manual_seed(shift)
    enc = DescriptorNet(subspaces=SUBSPACES, output_dim=763)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    batch = enc.example_features(3, seed=shift)
    enc.train()(batch)  # standardisation statistics, as in training
    enc.eval()
    profile = batch[KEY_PROFILE_KEY]
    keys = torch.cat([torch.roll(profile[:, :12], shift, 1), torch.roll(profile[:, 12:], shift, 1)], 1)
    rolled = {**batch, CENS_KEY: torch.roll(batch[CENS_KEY], shift, dims=1), KEY_PROFILE_KEY: keys}
    with torch.no_grad():
        a, b = enc(batch), enc(rolled)
    torch.testing.assert_close(_general(enc, a), _general(enc, b), rtol=1e-5, atol=1e-5)
    key = slice(8, 12)
    assert (a[:, key] - b[:, key]).abs().max() > 1e-3


def test_general_space_ignores_tempo_and_the_tempo_head_does_not():
    enc = DescriptorNet(subspaces=SUBSPACES, output_dim=763)
    batch = enc.example_features(2, seed=4)
    enc.train()(batch)
    enc.eval()
    faster = {**batch, TEMPO_KEY: batch[TEMPO_KEY] * 1.3}
    with torch.no_grad():
        a, b = enc(batch), enc(faster)
    torch.testing.assert_close(_general(enc, a), _general(enc, b))
    assert (a[:, 4:8] - b[:, 4:8]).abs().max() > 1e-3


def test_standardiser_accumulates_moments_over_batches_and_freezes_in_eval():
    x = torch.randn(50, 3, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.0]) + 2.0
    std = RunningStandardiser(3)
    for part in x.split(7):
        std(part)
    torch.testing.assert_close(std.mean, x.mean(0))
    torch.testing.assert_close((std.m2 / (std.count - 1)).sqrt(), x.std(0))
    std.eval()
    y = std(x)
    assert std.count == 50  # eval does not update
    torch.testing.assert_close(y[:, :2].std(0), torch.ones(2, dtype=torch.float64))
    assert torch.all(y[:, 2] == 0)  # constant dimension: silent, not blown up


def test_untrained_model_finds_versions_as_descriptor_similarity_does(versions):
    """With only standardisation fitted, each melody's nearest track is its transposed, dull-toned version.
    ``sounds_like``'s weights without its non-linear same-harmony gate would pair tracks by tone (timbre 8,
    tonality 1): the initial weights give tonality the weight the gate stands for."""
    from sapphire_acoustic.descriptor_net import INITIAL_WEIGHTS
    from sapphire_acoustic.sounds_like import BLOCK_WEIGHTS

    feats, works = versions
    enc = DescriptorNet()
    enc.train()(feats)
    enc.eval()
    with torch.no_grad():
        emb = torch.nn.functional.normalize(enc(feats), dim=-1)
        u = enc.unit_blocks(feats)
    assert _top1(emb, works) == 1.0
    # The untrained inner product is exactly the weighted mean of block cosines (plus a near-zero learned part).
    total = sum(INITIAL_WEIGHTS[b] for b in GENERAL_BLOCKS)
    mean = sum(INITIAL_WEIGHTS[b] * (u[b] @ u[b].T) for b in GENERAL_BLOCKS) / total
    torch.testing.assert_close(emb @ emb.T, mean, atol=1e-3, rtol=0)
    # Tonality alone (the chroma 2D-FTM) ranks them the same way; timbre alone pairs the tones.
    assert _top1(u["tonality"], works) == 1.0
    assert _top1(torch.cat([BLOCK_WEIGHTS[b] ** 0.5 * u[b] for b in GENERAL_BLOCKS], 1), works) < 0.5


def test_short_training_learns_and_stays_near_its_start(versions):
    """A few SupCon steps on the versions lower the loss and move the learned weights, which stay
    close to the initial metric: versions are still found and timbre still counts."""
    feats, works = versions
    torch.manual_seed(0)
    enc = DescriptorNet()
    enc.train()(feats)
    before = _margin(enc.eval(), feats, works)
    enc.train()
    start = {k: v.detach().clone() for k, v in enc.named_parameters()}
    opt = torch.optim.AdamW(enc.parameters(), lr=0.01, weight_decay=1e-2)
    losses = []
    for _ in range(15):
        loss = supervised_contrastive(enc(feats), works, temperature=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses
    moved = {k: float((v.detach() - start[k]).abs().max()) for k, v in enc.named_parameters()}
    assert moved["log_weights.tonality"] > 1e-3 and moved["low_rank.weight"] > 1e-3
    assert max(moved.values()) < 0.5  # a bounded step from the training-free metric, not a new space
    enc.eval()
    with torch.no_grad():
        assert _top1(torch.nn.functional.normalize(enc(feats), dim=-1), works) == 1.0
    assert _margin(enc, feats, works) > before + 0.01  # versions stand further out from the other works
