"""The lyrics modality and the text tower inside a whole modality set: config -> model -> checkpoint."""

from __future__ import annotations

import torch

from sapphire_core.checkpoint import save_checkpoint
from sapphire_core.collate import collate_features
from sapphire_core.config import validate_config
from sapphire_core.data import Track
from sapphire_core.extraction import extract_track, flatten_features
from sapphire_core.model import SapphireModel, build_extractors, load_model

MODALITY_SET = {
    "name": "lyrics_only",
    "modalities": {"lyrics": {"encoder": {"name": "lyrics_attention", "output_dim": 32}}},
    "fusion": {"name": "concat_mlp", "output_dim": 16, "hidden": 32},
    "text": {"name": "minilm_text_tower"},
    "losses": [{"name": "infonce"}],
}


def test_lyrics_modality_set_end_to_end(registry_with, tmp_path):
    from sapphire_lyrics import plugin

    registry = registry_with(plugin)  # the core's own components come with it
    cfg = validate_config(MODALITY_SET, registry)
    extractors = build_extractors(cfg, registry)["lyrics"]
    # Extractors default to what the encoder requires.
    assert [e.name for e in extractors] == ["lyrics_semantic", "sentiment_arc", "phonetics"]

    torch.manual_seed(0)
    model = SapphireModel(cfg, registry).eval()
    tracks = [Track(id="a", lyrics="I am so sad\nand lonely tonight", language="en"), Track(id="b")]
    batch = collate_features([flatten_features(extract_track(t, extractors)[0]) for t in tracks])
    with torch.no_grad():
        audio_side = model.embed_audio({"lyrics": batch}).embedding
        text_side = model.embed_text(["a sad lonely song", "instrumental"])
    assert audio_side.shape == (2, 16) and text_side.shape == (2, 16)

    # The frozen MiniLM is not part of the checkpoint: only heads and the lyrics encoder are saved.
    state = model.state_dict()
    assert not any(".backbone." in k or "embeddings.word_embeddings" in k for k in state)
    path = save_checkpoint(tmp_path / "m.pt", config=model.config_dict(), state_dict=state)
    restored, _ = load_model(path, registry)
    with torch.no_grad():
        torch.testing.assert_close(restored.embed_text(["a sad lonely song"]), text_side[:1])
        torch.testing.assert_close(restored.embed_audio({"lyrics": batch}).embedding, audio_side)
