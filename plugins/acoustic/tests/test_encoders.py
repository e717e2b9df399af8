"""Encoders: padding invariance, pooling modes, sizes up to the published Cnn14, MidLevelHead, registration."""

import pytest
import torch

from sapphire_acoustic.cnn14 import LOGMEL_KEY, Cnn14
from sapphire_acoustic.midlevel import MIDLEVEL_NAMES
from sapphire_acoustic.midlevel_head import MidLevelHead, midlevel_loss
from sapphire_acoustic.invariant_cnn import InvariantCNN
from sapphire_acoustic.multi_input_cnn import CENS_KEY, MultiInputCNN
from sapphire_acoustic.pooling import strided_mask
from sapphire_acoustic.testing import MultiInputContract, multi_input_batch
from sapphire_core.collate import length_key


def _one(batch, i):
    """Track ``i`` of a padded batch, cut to its own length (as if batched alone)."""
    out = {}
    for key, value in batch.items():
        if key.endswith("__len"):
            continue
        v = value[i : i + 1]
        n = batch.get(length_key(key))
        if n is not None:
            v = v[..., : int(n[i])]
            out[length_key(key)] = n[i : i + 1]
        out[key] = v
    return out


@pytest.mark.parametrize("cls, settings", [(Cnn14, {}), (MultiInputCNN, {}), (MultiInputCNN, {"pooling": "average"}),
                                           (InvariantCNN, {})])
def test_padding_does_not_change_a_track_embedding(cls, settings):
    """Any lengths: odd padded lengths make every strided layer end on a partial window."""
    torch.manual_seed(0)
    enc = cls(**settings).eval()
    for module in enc.modules():  # trained-like BN statistics: shifts that would leak padding
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.bias.data.uniform_(-1, 1)
    batch = enc.example_features(4, seed=1)
    longest = batch[LOGMEL_KEY].shape[-1] - 3  # odd: 45 (multi_input_cnn) / 61 (cnn14)
    lengths = torch.tensor([longest, longest - 12, longest - 5, longest - 20])
    for key in [k for k in batch if not k.endswith("__len")]:
        if length_key(key) in batch:
            valid = torch.arange(longest)[None, :] < lengths[:, None]
            batch[key] = batch[key][..., :longest] * valid.view(4, *[1] * (batch[key].dim() - 2), longest)
            batch[length_key(key)] = lengths
    with torch.no_grad():
        full = enc(batch)
        for i in range(4):
            torch.testing.assert_close(full[i : i + 1], enc(_one(batch, i)), rtol=1e-5, atol=1e-5,
                                       msg=lambda m, i=i: f"track {i} (length {int(lengths[i])}): {m}")


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [(3, 2, 1, False), (2, 2, 0, True), (3, 2, 1, True)])
def test_strided_mask_counts_the_frames_a_track_gets_alone(kernel, stride, padding, ceil_mode):
    pool = torch.nn.functional.max_pool1d
    lengths = torch.arange(2, 40)
    mask = torch.arange(39)[None, :] < lengths[:, None]
    out_len = pool(torch.zeros(1, 1, 39), kernel, stride, padding, ceil_mode=ceil_mode).shape[-1]
    got = strided_mask(mask, out_len, kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode).sum(-1)
    alone = [pool(torch.zeros(1, 1, int(n)), kernel, stride, padding, ceil_mode=ceil_mode).shape[-1] for n in lengths]
    assert got.tolist() == alone


def test_cnn14_scales_to_the_published_size():
    big = Cnn14(width=64, depth=6)
    n = sum(p.numel() for p in big.parameters())
    assert 79e6 < n < 82e6  # Kong et al. 2020 report 80.8 M for Cnn14 (their fc layers differ slightly)
    small = Cnn14()
    assert sum(p.numel() for p in small.parameters()) < 1e6


def test_short_clip_runs():
    enc = Cnn14().eval()
    x = {LOGMEL_KEY: torch.randn(2, 64, 3) - 50}
    assert enc(x).shape == (2, 128)


def test_midlevel_head():
    head = MidLevelHead(128)
    emb = torch.randn(4, 128, requires_grad=True)
    pred = head(emb)
    assert pred.shape == (4, len(MIDLEVEL_NAMES)) and bool(((pred > 0) & (pred < 1)).all())
    loss = midlevel_loss(pred, torch.rand(4, 8))
    loss.backward()
    assert emb.grad is not None and torch.isfinite(emb.grad).all()


def test_multi_input_on_real_features(make_melody):
    a = make_melody([60, 64, 67, 72] * 3, durations=0.3, sr=22050)
    b = make_melody([57, 60, 64, 69] * 2, durations=0.25, sr=22050)
    batch = multi_input_batch([a, b])
    assert batch[LOGMEL_KEY].shape[-1] == batch["tonal.cens"].shape[-1] == batch["rhythm.tempogram"].shape[-1]
    for pooling in ("attention", "average"):
        torch.manual_seed(0)
        out = MultiInputCNN(pooling=pooling).eval()(batch)
        assert out.shape == (2, 128) and torch.isfinite(out).all()


def test_plugin_registers_everything(registry_with):
    from sapphire_acoustic import plugin

    reg = registry_with(plugin)
    assert reg.names("extractor", modality="acoustic") == ["midlevel", "perceptual_spectrum", "rhythm", "tonal"]
    assert reg.names("encoder", modality="acoustic") == ["cnn14", "descriptor_net", "invariant_cnn", "midlevel_mlp",
                                                         "multi_input_cnn"]
    for name in ("cnn14", "multi_input_cnn", "midlevel_mlp", "invariant_cnn", "descriptor_net"):
        enc = reg.get("encoder", name)
        assert all(r in reg.names("extractor") for r in enc.requires)


@pytest.mark.parametrize("shift", [1, 5, 11])
def test_invariant_cnn_ignores_transposition(shift):
    """Rolling the chroma axis (what transposing the audio does to CENS) leaves the embedding unchanged,
    whatever the weights: circular convolutions commute with the roll and the max over pitch forgets it."""
    torch.manual_seed(shift)
    enc = InvariantCNN().eval()
    batch = enc.example_features(3, seed=shift)
    rolled = {**batch, CENS_KEY: torch.roll(batch[CENS_KEY], shift, dims=1)}
    with torch.no_grad():
        torch.testing.assert_close(enc(batch), enc(rolled), rtol=1e-5, atol=1e-5)
        mask = torch.ones(3, batch[CENS_KEY].shape[-1], dtype=torch.bool)
        a, b = enc.tonal(batch[CENS_KEY], mask), enc.tonal(rolled[CENS_KEY], mask)
        other = enc.tonal(torch.flip(batch[CENS_KEY], dims=[1]), mask)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # not blind to the chroma: a reflection of the pitch axis is no transposition
    assert (a - other).abs().max() > 100 * (a - b).abs().max() + 1e-3


class TestInvariantCNN(MultiInputContract):
    from sapphire_acoustic.tonal import Tonal as extractor_cls  # noqa: N813

    @property
    def encoder_cls(self):
        return InvariantCNN


class TestPerceptualMultiInput(MultiInputContract):
    from sapphire_acoustic.perceptual import PerceptualSpectrum as extractor_cls  # noqa: N813

    def encoder_settings(self):
        return {"pooling": "average"}
