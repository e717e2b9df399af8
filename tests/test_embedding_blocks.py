"""Block-wise embedding of long tracks: exact within one block, a close weighted mean beyond, bounded windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sapphire_core import embedding
from sapphire_core.embedding import TrackFeatures, collate_tracks, encode_features, feature_windows
from sapphire_core.testing import signals


@pytest.fixture(scope="module")
def base():
    """The shipped base model, its extractors, and the features of 40 s of synthetic music."""
    from sapphire_core.base_model import base_checkpoint
    from sapphire_core.model import build_extractors, load_model
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    model, _ = load_model(base_checkpoint(), registry)
    extractors = build_extractors(model.cfg, registry)
    # I-V-vi-IV chords under a stepwise melody, 1 s per chord: music with harmony, melody and a pulse.
    roots = [60, 67, 69, 65]
    chords = np.concatenate([signals.chord([r - 12, r - 5, r], seconds=1.0) for r in roots * 10])
    tune = signals.melody([72, 74, 76, 77, 79, 77, 76, 74] * 10, durations=0.5, sr=22050)
    n = min(len(chords), len(tune))
    audio = (0.6 * chords[:n] + 0.4 * tune[:n]).astype(np.float32)
    per_ex = {ex.name: {k: np.asarray(v) for k, v in ex.extract(audio, None).items()}
              for group in extractors.values() for ex in group}
    from sapphire_core.data import Track

    feats = embedding.track_features_from(Track(id="song"), extractors, per_ex)
    return model, feats


def _tiled(feats: TrackFeatures, times: int, keys: list[str]) -> TrackFeatures:
    """The track looped ``times`` times (its time series repeated, summaries unchanged)."""
    by = {m: {k: np.tile(v, times) if k in keys else v for k, v in f.items()} for m, f in feats.by_modality.items()}
    return TrackFeatures("looped", by, dict(feats.present))


def _whole(model, items):
    batch, present = collate_tracks(items)
    return model.encode_modalities(batch), model.embed_audio(batch, present).embedding


@torch.no_grad()
def test_a_track_within_one_block_is_encoded_exactly_as_before(base):
    model, feats = base
    raw, present = encode_features(model, [feats])
    want_raw, want = _whole(model, [feats])
    assert torch.equal(raw["acoustic"], want_raw["acoustic"])
    assert torch.equal(model.fuse(raw, present).embedding, want)


@torch.no_grad()
def test_a_long_track_is_encoded_in_bounded_windows_and_stays_close_to_the_whole(base, monkeypatch):
    model, feats = base
    keys = embedding.time_series_keys(model.encoders["acoustic"])
    assert "tonal.cens" in keys and "tonal.key_profile" not in keys
    looped = _tiled(feats, 5, keys)
    frames = looped.by_modality["acoustic"]["tonal.cens"].shape[-1]
    block = int(frames * 0.3)  # 4 windows that do not line up with the loop
    seen = []
    encode = model.encode_modality
    monkeypatch.setattr(model, "encode_modality", lambda m, f: seen.append(f["tonal.cens"].shape[-1]) or encode(m, f))
    raw, present = encode_features(model, [looped], block_frames=block)
    assert len(seen) == 4 and max(seen) <= block and sum(seen) == frames
    monkeypatch.undo()
    want_raw, want = _whole(model, [looped])
    got = model.fuse(raw, present).embedding
    # An approximation, not the same numbers: documented as close on music that repeats itself.
    assert not torch.allclose(got, want, atol=1e-6)
    assert float(torch.cosine_similarity(got, want).item()) > 0.98
    assert float(torch.cosine_similarity(raw["acoustic"], want_raw["acoustic"]).item()) > 0.98


@torch.no_grad()
def test_a_short_track_batched_with_a_long_one_keeps_its_own_embedding(base):
    model, feats = base
    keys = embedding.time_series_keys(model.encoders["acoustic"])
    looped = _tiled(feats, 3, keys)
    block = feats.by_modality["acoustic"]["tonal.cens"].shape[-1]
    raw, present = encode_features(model, [feats, looped], block_frames=block)
    alone, _ = encode_features(model, [feats])
    assert torch.allclose(raw["acoustic"][0], alone["acoustic"][0], atol=1e-6)
    # Three windows, each exactly the original track: their mean is the original's embedding.
    assert torch.allclose(raw["acoustic"][1], alone["acoustic"][0], atol=1e-5)


class _MeanEncoder(torch.nn.Module):
    """Masked time mean of one series, then a linear map: pooling that windows reproduce exactly."""

    input_shapes = {"x.series": (3, None), "x.summary": (2,)}

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 4)

    def forward(self, f):
        from sapphire_core.collate import time_mask

        mask = time_mask(f, "x.series").float()
        mean = (f["x.series"] * mask[:, None]).sum(-1) / mask.sum(-1, keepdim=True)
        return self.linear(torch.cat([mean, f["x.summary"]], dim=1))


class _MeanModel:
    def __init__(self):
        self.encoders = {"x": _MeanEncoder()}

    def encode_modality(self, m, features):
        return self.encoders[m](features) * 2.0


@torch.no_grad()
def test_windows_reproduce_an_encoder_that_averages_over_time_exactly():
    rng = np.random.default_rng(0)
    feats = TrackFeatures("t", {"x": {"x.series": rng.normal(size=(3, 1001)).astype(np.float32),
                                      "x.summary": rng.normal(size=2).astype(np.float32)}}, {"x": True})
    model = _MeanModel()
    blocked, _ = encode_features(model, [feats], block_frames=128)  # 8 windows of 125-126 frames
    whole, _ = encode_features(model, [feats], block_frames=4096)
    assert torch.allclose(blocked["x"], whole["x"], atol=1e-5)


def test_series_at_different_rates_are_cut_at_the_same_times():
    feats = {"a.fast": np.arange(400.0)[None], "a.slow": np.arange(100.0)[None], "a.mean": np.ones(3)}
    windows = feature_windows(feats, ["a.fast", "a.slow"], block_frames=100)
    assert len(windows) == 4 and abs(sum(w for _, w in windows) - 1) < 1e-12
    for f, _ in windows:
        assert f["a.fast"].shape[-1] == 4 * f["a.slow"].shape[-1] == 100
        assert f["a.fast"][0, 0] == 4 * f["a.slow"][0, 0]
        assert f["a.mean"] is feats["a.mean"]
    assert feature_windows(feats, ["a.fast"], block_frames=400) == [(feats, 1.0)]


def test_embed_tracks_encodes_a_long_track_block_wise(tmp_path, monkeypatch, base):
    """The index path (``embed_tracks``) takes the block path once a track is longer than one block."""
    from sapphire_core.data import Track

    model, feats = base
    audio = signals.chord([48, 55, 64], seconds=6.0)
    path = tmp_path / "long.wav"
    signals.write_wav(path, audio, 22050)
    seen = []
    encode = model.encode_modality
    monkeypatch.setattr(model, "encode_modality", lambda m, f: seen.append(f["tonal.cens"].shape[-1]) or encode(m, f))
    monkeypatch.setattr(embedding, "BLOCK_FRAMES", 100)
    out = embedding.embed_tracks(model, [Track(id="long", audio=path)], None)
    assert out.ids == ["long"] and np.isfinite(out.fused).all()
    assert len(seen) >= 3 and max(seen) <= 100  # 6 s is ~259 frames at 43 frames/s
