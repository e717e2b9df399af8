"""Training on the toy modality: splits, views, batch order, the trainer's outputs, loss swaps by YAML
override, SIGTERM + resume, the trainable text-tower path, and the CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import test_train_helpers as toys  # noqa: E402

from sapphire_core.checkpoint import load_checkpoint  # noqa: E402
from sapphire_core.config import apply_overrides  # noqa: E402
from sapphire_core.data import Track  # noqa: E402
from sapphire_core.errors import ConfigError  # noqa: E402
from sapphire_core.training import TrainingInterrupted, split_by_work  # noqa: E402
from sapphire_core.training.augment import AugmentSettings, crop_lengths, make_view  # noqa: E402
from sapphire_core.training.data import EpochBatchSampler, epoch_order  # noqa: E402
from sapphire_core.evaluation.metrics import leave_one_out_metrics  # noqa: E402
from sapphire_core.training.trainer import lr_lambda  # noqa: E402


# ---------------------------------------------------------------- pure pieces


def test_split_by_work_keeps_works_whole_and_is_seeded():
    tracks = [Track(id=f"w{i}__v{j}", work_id=f"w{i}") for i in range(20) for j in range(i % 3 + 1)]
    train_t, val_t = split_by_work(tracks, 0.25, seed=3)
    assert {t.work_id for t in train_t}.isdisjoint({t.work_id for t in val_t})
    assert len(train_t) + len(val_t) == len(tracks)
    assert abs(len(val_t) - 0.25 * len(tracks)) <= 3
    assert split_by_work(tracks, 0.25, seed=3) == (train_t, val_t)
    assert split_by_work(tracks, 0.25, seed=4)[1] != val_t
    assert split_by_work(tracks, 0.0, seed=0)[1] == []
    with pytest.raises(ValueError, match="must be in"):
        split_by_work(tracks, 1.0, seed=0)


def test_retrieval_metrics_hand_computed():
    # Points on the circle: a=0, a'=40, b=20, b'=200 degrees.
    # a: b (20 deg away) beats a' (40) -> first relevant at rank 2; a': likewise rank 2;
    # b: a and a' (both 20 away) come before b' (180) -> rank 3; b': a, a' (160 away) before b (180) -> rank 3.
    deg = np.radians([0, 40, 20, 200])
    e = np.stack([np.cos(deg), np.sin(deg)], axis=1)
    m = leave_one_out_metrics(e, ["a", "a", "b", "b"])
    assert m["R@1"] == 0.0 and m["R@5"] == 1.0 and m["queries"] == 4
    assert m["MRR"] == pytest.approx((1 / 2 + 1 / 2 + 1 / 3 + 1 / 3) / 4)
    assert leave_one_out_metrics(e, ["a", "b", "c", "d"])["queries"] == 0


def test_lr_schedule_warmup_then_cosine():
    f = lr_lambda(4, 24)
    assert [f(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4 + 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(24) == pytest.approx(0.0, abs=1e-12)


def test_batch_order_groups_versions_and_ranks_concatenate():
    works = [f"w{i // 3}" for i in range(24)]
    order = epoch_order(works, seed=0, epoch=1)
    assert sorted(order.tolist()) == list(range(24))
    # versions of a work are adjacent
    assert all(len({order[k] // 3 for k in range(s, s + 3)}) == 1 for s in range(0, 24, 3))
    assert not np.array_equal(order, epoch_order(works, seed=0, epoch=2))
    single = list(EpochBatchSampler(works, batch_size=8, seed=0))
    ranks = [EpochBatchSampler(works, batch_size=8, seed=0, world_size=2, rank=r) for r in range(2)]
    for step, batch in enumerate(single):
        assert batch == list(ranks[0])[step] + list(ranks[1])[step]
    resumed = EpochBatchSampler(works, batch_size=8, seed=0)
    resumed.set_epoch(0, start_step=2)
    assert list(resumed) == single[2:] and len(resumed) == 1


def test_views_crop_aligned_and_pitch_shift_rolls_chroma():
    # Two features of one track at different frame rates (10 and 20 frames per second, 10 s).
    t_slow = np.tile(np.arange(100, dtype=np.float32), (12, 1))
    t_fast = np.tile(np.arange(200, dtype=np.float32) / 2, (3, 1))
    feats = {"a.chroma": t_slow, "b.env": t_fast, "c.globals": np.ones(4, np.float32)}
    frames = crop_lengths([feats], [10.0], {"a.chroma", "b.env"}, crop_seconds=3.0)
    assert frames == {"a.chroma": 30, "b.env": 60}
    view = make_view(feats, frames, rng=np.random.default_rng(0), augment=None)
    assert view["a.chroma"].shape == (12, 30) and view["b.env"].shape == (3, 60)
    # both crops start at the same time (in seconds): frame values encode time*10
    assert view["a.chroma"][0, 0] == pytest.approx(view["b.env"][0, 0], abs=1.0)
    np.testing.assert_array_equal(view["c.globals"], feats["c.globals"])
    # pitch shift only: a one-hot chroma at pitch class 0 moves to another class
    onehot = np.zeros((12, 50), np.float32)
    onehot[0] = 1.0
    aug = AugmentSettings(stretch=(1.0, 1.0), gain=0.0, noise=0.0, time_mask=0.0, pitch_shift=2)
    moved = {int(np.argmax(make_view({"x.chroma": onehot}, {"x.chroma": 20}, rng=np.random.default_rng(s),
                                     augment=aug)["x.chroma"][:, 0])) for s in range(20)}
    assert moved <= {10, 11, 0, 1, 2} and len(moved) > 1


# ---------------------------------------------------------------- the trainer


def test_train_writes_checkpoint_logs_curves_and_caches_text(toy_corpus, registry, tmp_path):
    result = toys.train_toy(toys.toy_config(epochs=2), toy_corpus, tmp_path / "run", registry)
    run_dir = tmp_path / "run"
    for name in ("model.ckpt", "state.pt", "metrics.jsonl", "curves.png"):
        assert (run_dir / name).is_file(), name
    meta = load_checkpoint(result.checkpoint)["meta"]
    train_works = {i.split("__")[0] for i in meta["train_ids"]}
    val_works = {i.split("__")[0] for i in meta["val_ids"]}
    assert train_works and val_works and train_works.isdisjoint(val_works)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in records if r["type"] == "val"]
    assert [v["epoch"] for v in vals] == [0, 1, 2] and "MRR" in vals[0]
    steps = [r for r in records if r["type"] == "train"]
    assert len(steps) == result.metrics["global_step"] and {"loss/infonce", "loss/version_contrastive"} <= set(steps[0])
    assert all(math.isfinite(r["loss"]) for r in steps)
    assert 0 <= result.metrics["data_wait_share"] < 1
    # the frozen tower's description embeddings were cached once, keyed by text hash
    cached = list((toy_corpus / ".sapphire" / "text_cache").glob("toy_text-*.npz"))
    assert len(cached) == 1
    from sapphire_core.model import load_model

    model, _ = load_model(result.checkpoint, registry)
    assert model.embedding_dim == 32


@pytest.mark.parametrize("losses, expected", [
    ("[{name: infonce}]", {"loss/infonce"}),
    ("[{name: conditional_triplet, margin: 0.3}]", {"loss/conditional_triplet"}),
    ("[{name: infonce, weight: 0.7}, {name: ntxent, weight: 0.3}]", {"loss/infonce", "loss/ntxent"}),
    ("[{name: content_weighted_infonce, kappa: 0.1}, {name: version_contrastive}]",
     {"loss/content_weighted_infonce", "loss/version_contrastive"}),
])
def test_loss_swap_by_yaml_override_only(toy_corpus, registry, tmp_path, losses, expected):
    data = apply_overrides(toys.toy_config(epochs=1), [f"losses={losses}", "training.augment=true"])
    result = toys.train_toy(data, toy_corpus, tmp_path / "run", registry, evaluate_untrained=False)
    steps = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if '"train"' in x]
    assert {k for k in steps[0] if k.startswith("loss/")} == expected
    assert result.metrics["global_step"] > 0 and all(math.isfinite(s["loss"]) for s in steps)


def test_sigterm_saves_state_and_resume_matches_uninterrupted(toy_corpus, registry, tmp_path):
    cfg = toys.toy_config(epochs=2, augment=True)
    full = toys.train_toy(cfg, toy_corpus, tmp_path / "full", registry)

    def kill_at_4(record):
        if record["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="epoch 2, step 1.*--resume"):
        toys.train_toy(cfg, toy_corpus, tmp_path / "cut", registry, on_step=kill_at_4)
    state = torch.load(tmp_path / "cut" / "state.pt", weights_only=True)
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 1, 3)
    resumed = toys.train_toy(cfg, toy_corpus, tmp_path / "cut", registry, resume=True)
    a, b = load_checkpoint(full.checkpoint)["state_dict"], load_checkpoint(resumed.checkpoint)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert toys.metrics_without_timings(tmp_path / "full" / "metrics.jsonl") == \
        toys.metrics_without_timings(tmp_path / "cut" / "metrics.jsonl")


def test_trainable_text_tower_path_updates_the_tower(toy_corpus, registry, tmp_path):
    data = apply_overrides(toys.toy_config(epochs=1), ["text.trainable_layers=1"])
    result = toys.train_toy(data, toy_corpus, tmp_path / "run", registry, evaluate_untrained=False)
    after = load_checkpoint(result.checkpoint)["state_dict"]["text_tower.proj.weight"]
    before = toys.ToyText(trainable_layers=1).proj.weight.detach()
    assert (after - before).abs().max() > 1e-4
    frozen = toys.train_toy(toys.toy_config(epochs=1), toy_corpus, tmp_path / "frozen", registry,
                            evaluate_untrained=False)
    torch.testing.assert_close(load_checkpoint(frozen.checkpoint)["state_dict"]["text_tower.proj.weight"], before)


def test_config_errors(toy_corpus, registry, tmp_path):
    data = toys.toy_config()
    del data["text"]
    with pytest.raises(ConfigError, match=r"need descriptions.*'text:' block"):
        toys.train_toy(data, toy_corpus, tmp_path / "x", registry)


def test_mlflow_sqlite_tracking(toy_corpus, registry, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    toys.train_toy(toys.toy_config(epochs=1), toy_corpus, tmp_path / "run", registry, mlflow_uri=uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["sapphire"])
    assert len(runs) == 1 and "metrics.val/MRR" in runs.columns and "params.config.name" in runs.columns


def test_cli_train_with_installed_example_plugin(toy_corpus, tmp_path):
    """The real CLI, the installed example modality, and a loss swapped by --set (no text tower there)."""
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "sapphire_core.cli.train_cmd"] if False else
        [str(Path(sys.executable).parent / "sapphire"), "train", str(repo / "configs" / "example_dynamics.yaml"),
         "--corpus", str(toy_corpus), "--out", str(out), "--set", "losses=[{name: version_contrastive}]",
         "--set", "training.epochs=1", "--set", "training.batch_size=6", "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "SAPPHIRE_PLUGINS": "dynamics"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "validation audio->audio" in proc.stdout and (out / "model.ckpt").is_file()
    bad = subprocess.run([str(Path(sys.executable).parent / "sapphire"), "train",
                          str(repo / "configs" / "example_dynamics.yaml"), "--corpus", str(toy_corpus),
                          "--out", str(out)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SAPPHIRE_PLUGINS": "dynamics"})
    assert bad.returncode == 2 and "text:" in bad.stderr
