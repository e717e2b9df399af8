"""The Ray engine gives the same cache and embeddings as the single-process path (Ray local mode)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sapphire_core.cache import FeatureCache
from sapphire_core.config import load_config
from sapphire_core.data import Corpus
from sapphire_core.embedding import embed_tracks
from sapphire_core.extraction import extract_corpus
from sapphire_core.model import build_extractors, model_from_config
from sapphire_core.plugins import default_registry
from sapphire_core.testing.signals import melody, sine

REPO = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    from sapphire_core.scale.ray_engine import init_ray

    ray = init_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


def snapshot(root: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in FeatureCache(root).entries():
        with np.load(path) as data:
            out[str(path.relative_to(root))] = {k: data[k] for k in data.files}
    return out


@pytest.fixture
def small_corpus(write_corpus):
    tracks = {f"t{i}": (melody([60 + i, 64, 67, 72 - i], sr=16000, amplitude=0.1 + 0.1 * i), 16000, {})
              for i in range(5)}
    tracks["quiet"] = (sine(220, sr=16000, seconds=1.0, amplitude=0.01), 16000, {})
    root = write_corpus(tracks)
    with (root / "tracks.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "broken", "audio": "audio/missing.wav"}) + "\n")
    return Corpus(root)


def test_ray_extraction_matches_local(ray_local, small_corpus, tmp_path):
    from sapphire_core.scale.ray_engine import extract_corpus_ray

    cfg = load_config(REPO / "configs" / "example_dynamics.yaml")
    extractors = [e for g in build_extractors(cfg, default_registry()).values() for e in g]
    local = extract_corpus(small_corpus.tracks, extractors, FeatureCache(tmp_path / "local"))
    remote = extract_corpus_ray(small_corpus.tracks, extractors, FeatureCache(tmp_path / "ray"),
                                failures_path=tmp_path / "failures.jsonl")
    assert [r.track_id for r in remote.results] == [t.id for t in small_corpus.tracks]
    assert [r.error_type for r in remote.results] == [r.error_type for r in local.results]
    assert remote.succeeded == 6 and [f.track_id for f in remote.failures] == ["broken"]
    assert json.loads((tmp_path / "failures.jsonl").read_text())["id"] == "broken"
    a, b = snapshot(tmp_path / "local"), snapshot(tmp_path / "ray")
    assert a.keys() == b.keys() and len(a) == 6
    for key in a:
        np.testing.assert_array_equal(a[key]["level_histogram"], b[key]["level_histogram"])


def test_ray_embedding_matches_local(ray_local, small_corpus, tmp_path):
    import torch

    from sapphire_core.checkpoint import save_checkpoint
    from sapphire_core.config import config_to_dict
    from sapphire_core.scale.ray_engine import index_corpus_ray

    torch.manual_seed(0)
    cfg = load_config(REPO / "configs" / "example_dynamics.yaml")
    model = model_from_config(cfg).eval()
    ckpt = save_checkpoint(tmp_path / "m.ckpt", config=config_to_dict(cfg), state_dict=model.state_dict())
    cache = FeatureCache(tmp_path / "cache")
    local = embed_tracks(model, small_corpus.tracks, cache)
    remote = index_corpus_ray(ckpt, small_corpus.tracks, cache, batch_size=2)
    assert remote.ids == local.ids and "broken" in remote.failures
    np.testing.assert_allclose(remote.fused, local.fused, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(remote.per_modality["dynamics"], local.per_modality["dynamics"], rtol=1e-5, atol=1e-6)
