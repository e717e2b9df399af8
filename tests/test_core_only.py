"""The core alone (SAPPHIRE_PLUGINS=none) plus the example plugin: it trains, indexes and searches, with the
example's explanation and query mode; no modality plugin is loaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
MODALITY_PLUGINS = ("sapphire_acoustic", "sapphire_lyrics", "sapphire_structure", "sapphire_vocal")


def test_plugins_command_lists_only_the_core():
    env = {**os.environ, "SAPPHIRE_PLUGINS": "none"}
    out = subprocess.run([SAPPHIRE, "plugins", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {c["provider"] for c in report["components"]} == {"sapphire-core"}
    assert report["modalities"] == {} and not any(p["enabled"] for p in report["plugins"])


@pytest.mark.slow
def test_example_modality_trains_indexes_and_searches_without_modality_plugins(tmp_path):
    code = f"""
import json, sys
import sapphire_example_dynamics as dyn
sys.path.insert(0, {str(Path(__file__).parent)!r})
import _trained as T
from sapphire_core.config import validate_config
from sapphire_core.index.builder import build_index
from sapphire_core.plugins import build_registry, get_plugin_manager
from sapphire_core.retrieval import SearchEngine
from sapphire_core.training.trainer import train

registry = build_registry(get_plugin_manager(plugins=[dyn]))  # entry points filtered by SAPPHIRE_PLUGINS=none
corpus = T.write_toy_corpus({str(tmp_path / "corpus")!r})
cfg = validate_config({{"name": "dynamics-only",
                       "modalities": {{"dynamics": {{"encoder": {{"name": "dynamics_mlp", "output_dim": 8}}}}}},
                       "fusion": {{"name": "concat_mlp", "output_dim": 8, "hidden": 16}},
                       "losses": [{{"name": "version_contrastive"}}],
                       "training": {{"epochs": 2, "batch_size": 4, "validation_fraction": 0.2, "augment": False}}}},
                      registry)
result = train(cfg, corpus, {str(tmp_path / "run")!r}, registry=registry, device="cpu", extract_workers=1)
report = build_index(result.checkpoint, corpus, {str(tmp_path / "index")!r}, registry=registry, device="cpu")
engine = SearchEngine.open({str(tmp_path / "index")!r}, registry=registry)
by_audio = engine.search(audio=str(corpus / "audio" / "w1__v0.wav"), k=12)
by_level = engine.search(level="-20", k=3)
print(json.dumps({{"modules": sorted(m for m in sys.modules if m.startswith({MODALITY_PLUGINS!r})),
                  "extras": report.extras, "scores": {{r.track_id: r.score for r in by_audio}},
                  "explanation": by_audio[0].explanation.get("dynamics"), "summary": by_audio[0].explanation["summary"],
                  "level_ids": [r.track_id for r in by_level]}}))
"""
    env = {**os.environ, "SAPPHIRE_PLUGINS": "none"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["modules"] == []  # no modality plugin was imported
    assert got["extras"] == {"levels": 12}
    # a track finds itself (sines of equal loudness tie with it: this modality hears only level)
    assert got["scores"]["w1__v0"] == pytest.approx(1.0, abs=1e-4) == max(got["scores"].values())
    assert set(got["explanation"]["result"]) == {"loudness", "dynamic_range"}
    assert len(got["level_ids"]) == 3
