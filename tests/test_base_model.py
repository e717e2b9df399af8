"""The shipped base model: found by default, replaced only by a better one, recorded, size-capped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sapphire_core import base_model
from sapphire_core.checkpoint import save_checkpoint
from sapphire_core.errors import CheckpointError
from sapphire_core.testing import signals


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """The package's models folder, redirected to an empty temp folder."""
    folder = tmp_path / "models"
    monkeypatch.setattr(base_model, "MODELS_DIR", folder)
    monkeypatch.setattr(base_model, "CHECKPOINT", folder / "base.ckpt")
    monkeypatch.setattr(base_model, "RECORD", folder / "base.json")
    return folder


def _checkpoint(path, fill: float = 0.0):
    return save_checkpoint(path, config={"name": "base"}, state_dict={"w": torch.full((4,), fill)},
                           meta={"epoch": 3})


def _evaluation(path, *, mrr: float, triplets: float):
    rows = [{"name": "MFCC stats", "audio->audio": {"MRR": 0.9}},
            {"name": "base fused", "audio->audio": {"MRR": mrr}, "triplets": {"overall": triplets},
             "text->audio": {"R@10": float("nan")}}]
    path.write_text(json.dumps({"context": {}, "rows": rows}))
    return path


def test_without_a_base_model_the_error_says_how_to_get_one(models_dir):
    with pytest.raises(CheckpointError, match="--model CKPT.*make model"):
        base_model.base_checkpoint()


def test_publish_installs_the_checkpoint_with_its_record(models_dir, tmp_path, write_corpus):
    corpus = write_corpus({"a": (signals.sine(440.0, seconds=0.5), 22050, {}),
                           "b": (signals.sine(330.0, seconds=0.5), 22050, {})})
    ckpt = _checkpoint(tmp_path / "model.ckpt")
    record = base_model.publish(ckpt, corpus_dir=corpus, evaluation_json=_evaluation(
        tmp_path / "ablation.json", mrr=0.5, triplets=0.7), commit="abc123")
    assert base_model.base_checkpoint().read_bytes() == ckpt.read_bytes()
    # Only the model's own row, and only real numbers (NaN text figures are left out).
    assert record["evaluation"] == {"audio->audio MRR": 0.5, "triplets overall": 0.7}
    assert record["commit"] == "abc123" and record["epoch"] == 3 and record["config"] == {"name": "base"}
    assert base_model.base_record() == json.loads(json.dumps(record))
    # The corpus hash covers the audio bytes: changing one file changes it.
    before = record["corpus_sha256"]
    signals.write_wav(corpus / "audio" / "b.wav", signals.sine(331.0, seconds=0.5), 22050)
    assert base_model.corpus_content_hash(corpus) != before


def test_a_model_that_is_not_better_is_refused(models_dir, tmp_path, write_corpus):
    corpus = write_corpus({"a": (signals.sine(440.0, seconds=0.5), 22050, {})})
    base_model.publish(_checkpoint(tmp_path / "one.ckpt", 1.0), corpus_dir=corpus,
                       evaluation_json=_evaluation(tmp_path / "one.json", mrr=0.5, triplets=0.7))
    worse = _checkpoint(tmp_path / "two.ckpt", 2.0)
    with pytest.raises(CheckpointError, match="not better than the shipped base model's 0.600"):
        base_model.publish(worse, corpus_dir=corpus, evaluation_json=_evaluation(tmp_path / "two.json", mrr=0.6,
                                                                                  triplets=0.5))
    assert torch.load(base_model.CHECKPOINT, weights_only=True)["state_dict"]["w"][0] == 1.0
    better = _checkpoint(tmp_path / "three.ckpt", 3.0)
    base_model.publish(better, corpus_dir=corpus, evaluation_json=_evaluation(tmp_path / "three.json", mrr=0.6,
                                                                               triplets=0.7))
    assert torch.load(base_model.CHECKPOINT, weights_only=True)["state_dict"]["w"][0] == 3.0


def test_an_evaluation_without_the_model_row_is_named(models_dir, tmp_path, write_corpus):
    corpus = write_corpus({"a": (signals.sine(440.0, seconds=0.5), 22050, {})})
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"rows": [{"name": "default fused", "audio->audio": {"MRR": 0.5}}]}))
    with pytest.raises(CheckpointError, match="no row named 'base fused'"):
        base_model.publish(_checkpoint(tmp_path / "m.ckpt"), corpus_dir=corpus, evaluation_json=path)


def test_an_oversized_checkpoint_is_refused(models_dir, tmp_path, write_corpus, monkeypatch):
    corpus = write_corpus({"a": (signals.sine(440.0, seconds=0.5), 22050, {})})
    monkeypatch.setattr(base_model, "MAX_BYTES", 100)
    with pytest.raises(CheckpointError, match="MB is over the"):
        base_model.publish(_checkpoint(tmp_path / "m.ckpt"), corpus_dir=corpus,
                           evaluation_json=_evaluation(tmp_path / "e.json", mrr=0.5, triplets=0.5))


def test_the_shipped_checkpoint_fits_the_package_budget():
    if not base_model.CHECKPOINT.is_file():
        pytest.fail(f"{base_model.CHECKPOINT} is missing: it is committed package data ('make model' rebuilds it)")
    assert base_model.CHECKPOINT.stat().st_size <= base_model.MAX_BYTES
    record = base_model.base_record()
    assert {"config", "corpus_sha256", "commit", "evaluation"} <= set(record)


def test_index_without_model_uses_the_shipped_base_model(write_corpus, tmp_path):
    corpus = write_corpus({f"t{i}": (signals.chord([60 + i, 64 + i, 67 + i], seconds=4.0), 22050, {})
                           for i in range(3)})
    out = tmp_path / "index"
    sapphire = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
    proc = subprocess.run([sapphire, "index", "--corpus", str(corpus), "--out", str(out), "--no-extras", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["indexed"] == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert Path(manifest["model_path"]) == base_model.CHECKPOINT.resolve()
