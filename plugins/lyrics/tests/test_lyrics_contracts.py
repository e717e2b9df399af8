"""The core ModalityContract for each extractor/encoder pair of the lyrics plugin, plus the text tower."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sapphire_core.collate import collate_features, feature_key
from sapphire_core.data import Track
from sapphire_core.errors import ConfigError
from sapphire_core.testing import ModalityContract, contract_case
from sapphire_lyrics.extractors import EXTRACTORS, LyricsSemantic, Phonetics, SentimentArc
from sapphire_lyrics.lyrics_encoder import LyricsAttentionEncoder
from sapphire_lyrics.text_tower import SENTENCE_KEY, MiniLMTextTower

GERMAN_LRC = ("[00:00.50]Der Mond ist aufgegangen,\n[00:03.00]die goldnen Sternlein prangen\n"
              "[00:06.00]am Himmel hell und klar.\n")


TestLyricsSemanticPair = contract_case(LyricsSemantic, LyricsAttentionEncoder)
TestSentimentArcPair = contract_case(SentimentArc, LyricsAttentionEncoder)


class TestPhoneticsPair(ModalityContract):
    extractor_cls = Phonetics
    encoder_cls = LyricsAttentionEncoder

    def make_track(self) -> Track:
        # German, timed: exercises espeak-ng and the .lrc rate path through the contract.
        return Track(id="de", lyrics=GERMAN_LRC, language="de", metadata={"duration": 9.0})


class TestTextTower(ModalityContract):
    encoder_cls = MiniLMTextTower


class TestTextTowerTopLayerTrainable(ModalityContract):
    encoder_cls = MiniLMTextTower

    def encoder_settings(self) -> dict:
        return {"trainable_layers": 1, "output_dim": 32}


def _all_features(track: Track) -> dict[str, np.ndarray]:
    out = {}
    for cls in EXTRACTORS:
        out.update({feature_key(cls.name, k): v for k, v in cls().extract(None, track).items()})
    return out


def test_encoder_on_a_real_mixed_batch():
    """Real features of an English song, a German song and an instrumental, padded together."""
    tracks = [
        Track(id="en", lyrics="I am so sad and lonely\nwhat a joyful sunny day\nthe river runs", language="en"),
        Track(id="de", lyrics=GERMAN_LRC, language="de"),
        Track(id="inst"),
    ]
    items = [_all_features(t) for t in tracks]
    assert [float(i["phonetics.present"]) for i in items] == [1.0, 1.0, 0.0]
    batch = collate_features(items)
    assert batch["lyrics_semantic.lines"].shape == (3, 384, 3)
    assert batch["lyrics_semantic.lines__len"].tolist() == [3, 3, 1]
    torch.manual_seed(0)
    enc = LyricsAttentionEncoder(output_dim=64).eval()
    with torch.no_grad():
        out = enc(batch)
        alone = enc(collate_features(items[:1]))
    assert out.shape == (3, 64) and torch.isfinite(out).all()
    # Padding must not leak into a track's embedding: alone or in a padded batch, the same vector.
    torch.testing.assert_close(out[:1], alone, atol=1e-5, rtol=1e-4)


def test_encoder_padding_invariance_on_example_features():
    torch.manual_seed(0)
    enc = LyricsAttentionEncoder().eval()
    x = enc.example_features(3)
    lines = x["lyrics_semantic.lines"]
    longer = dict(x)
    longer["lyrics_semantic.lines"] = torch.cat([lines, torch.randn(3, 384, 4)], dim=-1)  # garbage in the padding
    with torch.no_grad():
        torch.testing.assert_close(enc(x), enc(longer))


def test_encoder_needs_some_features():
    with pytest.raises(ValueError, match="lyrics_semantic, sentiment_arc and phonetics"):
        LyricsAttentionEncoder()({})


def test_encoder_bad_heads_is_config_error():
    with pytest.raises(ConfigError, match="n_heads"):
        LyricsAttentionEncoder(d_model=130, n_heads=4)


def test_instrumental_present_zero_for_every_extractor():
    for cls in EXTRACTORS:
        feats = cls().extract(None, Track(id="inst"))
        assert feats["present"] == 0.0, cls.name
        shapes = cls().output_shapes()
        for key, value in feats.items():
            assert not np.asarray(value).any(), f"{cls.name}.{key} must be zeros for an instrumental"
            assert all(w is None or g == w for g, w in zip(np.shape(value), shapes[key]))


def test_extractors_need_no_audio():
    assert all(cls.needs_audio is False and cls.modality == "lyrics" for cls in EXTRACTORS)


# ------------------------------------------------------------------ text tower specifics
def test_frozen_tower_is_sentence_transformers_embedding_and_small_checkpoint():
    from sapphire_lyrics.minilm import embed_sentences

    tower = MiniLMTextTower().eval()
    texts = ["calm piano at night", "a fast dance tune"]
    with torch.no_grad():
        out = tower.encode_text(texts)
    np.testing.assert_allclose(out.numpy(), embed_sentences(texts), atol=1e-5)  # identity head at init
    assert set(tower.state_dict()) == {"head.weight", "head.bias"}
    assert all(p.requires_grad for p in tower.parameters())


def test_frozen_tower_accepts_cached_sentence_embeddings():
    tower = MiniLMTextTower(output_dim=16).eval()
    tokens = tower.tokenize(["choir in a church", "slow minor ballad"])
    with torch.no_grad():
        cached = tower.sentence_embeddings(tokens)
        torch.testing.assert_close(tower({SENTENCE_KEY: cached}), tower(tokens))


def test_frozen_forward_builds_no_graph_through_bert():
    tower = MiniLMTextTower()
    emb = tower.sentence_embeddings(tower.tokenize(["a song"]))
    assert not emb.requires_grad


def test_partial_unfreezing_trains_only_top_layers():
    tower = MiniLMTextTower(trainable_layers=1).train()
    trainable = {n for n, p in tower.named_parameters() if p.requires_grad}
    assert any(n.startswith("backbone.encoder.layer.5.") for n in trainable)
    assert not any(n.startswith(("backbone.encoder.layer.4.", "backbone.embeddings.")) for n in trainable)
    assert not tower.backbone.encoder.layer[0].training and tower.backbone.encoder.layer[5].training


def test_full_fine_tune_does_not_touch_the_shared_model():
    from sapphire_lyrics.minilm import load_minilm

    shared = load_minilm()[1]
    before = shared.encoder.layer[0].attention.self.query.weight.clone()
    tower = MiniLMTextTower(freeze=False, output_dim=8).train()
    opt = torch.optim.SGD(tower.parameters(), lr=1.0)
    tower(tower.tokenize(["update me"])).pow(2).sum().backward()
    opt.step()
    torch.testing.assert_close(shared.encoder.layer[0].attention.self.query.weight, before)
    assert all(not p.requires_grad for p in shared.parameters())


def test_too_many_trainable_layers_is_config_error():
    with pytest.raises(ConfigError, match="trainable_layers 7 exceeds"):
        MiniLMTextTower(trainable_layers=7)


def test_registered_under_the_agreed_names(registry_with):
    from sapphire_lyrics import plugin

    reg = registry_with(plugin)
    assert reg.names("extractor", modality="lyrics") == ["lyrics_semantic", "phonetics", "sentiment_arc"]
    assert "lyrics_attention" in reg.names("encoder", modality="lyrics")
    assert reg.names("encoder", modality="text") == ["minilm_text_tower"]
