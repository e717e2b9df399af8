"""Embedding throughput of the fused model (``configs/default.yaml``: all four modalities) from cached features.

What ``sapphire index`` spends per track once features are extracted: reading the cache entries,
collating a batch and running the encoders and fusion head.

- ``throughput``: tracks/s (and seconds of audio embedded per second) over ``n`` tracks at the
  index's batch size (16), against the reference measured in the same run: one track at a time
  (batch 1). Three corpus sizes show how the cost grows with the number of tracks.
- ``by_length``: seconds per track against track length (three lengths, batch 1), the frame-level
  encoders (acoustic CNN, melody CNN) being the parts that grow with it.

Tracks are synthetic melodies with a bass line and lyrics (written to a temporary folder, features
extracted once before timing); the model is the default config with random weights (the cost of a
forward pass does not depend on the weights). CUDA is measured too when present.

    python benchmarks/bench_embed.py [--quick]     # prints JSON
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SR = 22050
LYRICS = ("The river runs beneath the bridge tonight\nand every lamp along the water burns\n"
          "I count the windows one by one\nuntil the morning light returns")


def _write_tracks(root: Path, lengths: list[float]) -> list[dict]:
    import numpy as np

    from sapphire_core.testing import signals

    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    records = []
    for seconds in lengths:
        notes = max(8, int(seconds / 0.4))
        pitches = list(60 + rng.integers(0, 12, size=notes))
        lead = signals.melody(pitches, durations=seconds / notes, sr=SR, harmonics=4)
        bass = signals.melody([p - 24 for p in pitches[::4]], durations=4 * seconds / notes, sr=SR, harmonics=2)
        n = min(len(lead), len(bass))
        tid = f"len{int(seconds)}"
        signals.write_wav(root / "audio" / f"{tid}.wav", 0.6 * lead[:n] + 0.4 * bass[:n], SR)
        records.append({"id": tid, "audio": f"audio/{tid}.wav", "lyrics": LYRICS, "language": "en",
                        "duration": n / SR})
    (root / "tracks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _timed_embed(model, tracks, cache, *, batch_size: int, device: str, repeats: int) -> float:
    """Best-of-``repeats`` seconds to embed ``tracks`` (the first, untimed pass warms caches and kernels)."""
    import torch

    from sapphire_core.embedding import embed_tracks

    embed_tracks(model, tracks[: min(len(tracks), batch_size)], cache, batch_size=batch_size, device=device)
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = embed_tracks(model, tracks, cache, batch_size=batch_size, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        assert len(out.ids) == len(tracks), out.failures
    return best


def _measure(model, tracks_by_length: dict[float, object], cache, *, sizes: list[int], device: str,
             repeats: int) -> dict:
    from dataclasses import replace

    shortest = min(tracks_by_length)
    base = tracks_by_length[shortest]
    out: dict = {"device": device, "track_seconds": shortest, "throughput": []}
    for n in sizes:
        # n distinct track ids over the same audio: every one is a cache hit on the same entries.
        tracks = [replace(base, id=f"{base.id}-{i}") for i in range(n)]
        batched = _timed_embed(model, tracks, cache, batch_size=16, device=device, repeats=repeats)
        single = _timed_embed(model, tracks, cache, batch_size=1, device=device, repeats=repeats)
        out["throughput"].append({
            "tracks": n, "batch16_s": round(batched, 4), "batch1_s": round(single, 4),
            "tracks_per_s": round(n / batched, 2), "x_realtime": round(n * shortest / batched, 1),
            "reference_batch1_tracks_per_s": round(n / single, 2), "ratio_batched_over_batch1": round(single / batched, 3),
        })
    out["by_length"] = []
    for seconds, track in sorted(tracks_by_length.items()):
        s = _timed_embed(model, [track], cache, batch_size=1, device=device, repeats=repeats)
        out["by_length"].append({"audio_s": seconds, "seconds_per_track": round(s, 4), "x_realtime": round(seconds / s, 1)})
    last = out["throughput"][-1]
    out["tracks_per_s"], out["ratio_batched_over_batch1"] = last["tracks_per_s"], last["ratio_batched_over_batch1"]
    return out


def run(quick: bool = False) -> dict:
    """Measure; returns a JSON-able dict (see the module docstring)."""
    import torch

    from sapphire_core.cache import FeatureCache
    from sapphire_core.config import load_config
    from sapphire_core.data import Corpus
    from sapphire_core.embedding import track_features
    from sapphire_core.model import build_extractors, model_from_config

    lengths = [10.0, 20.0, 40.0] if quick else [20.0, 60.0, 180.0]
    sizes = [16, 32, 64] if quick else [32, 128, 512]
    repeats = 2 if quick else 3
    torch.manual_seed(0)
    cfg = load_config(REPO / "configs" / "default.yaml")
    model = model_from_config(cfg).eval()
    out: dict = {"config": "configs/default.yaml", "modalities": list(model.encoders), "torch_threads":
                 torch.get_num_threads(), "sizes_tracks": sizes, "lengths_s": lengths}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_tracks(root, lengths)
        tracks = Corpus(root).tracks
        cache = FeatureCache(root / "cache")
        extractors = build_extractors(model.cfg, model.registry)
        t0 = time.perf_counter()
        for t in tracks:
            feats = track_features(t, extractors, cache)
            assert all(feats.present.values()), f"{t.id}: a modality is absent: {feats.present}"
        out["extraction_s_untimed_setup"] = round(time.perf_counter() - t0, 1)
        by_length = {round(float(r.metadata["duration"]), 1): r for r in tracks}
        out["cpu"] = _measure(model, by_length, cache, sizes=sizes, device="cpu", repeats=repeats)
        if torch.cuda.is_available():
            out["cuda"] = _measure(model.to("cuda"), by_length, cache, sizes=sizes, device="cuda", repeats=repeats)
            out["cuda"]["gpu"] = torch.cuda.get_device_name(0)
        else:
            out["cuda"] = None
    out["reference"] = "the same tracks embedded one at a time (batch 1), same run"
    out["tracks_per_s"] = out["cpu"]["tracks_per_s"]
    out["ratio_batched_over_batch1"] = out["cpu"]["ratio_batched_over_batch1"]
    out["scaling"] = [
        {"what": "embedding, n tracks (batch 16, cpu)", "unit": "tracks",
         "sizes": [r["tracks"] for r in out["cpu"]["throughput"]],
         "seconds": [r["batch16_s"] for r in out["cpu"]["throughput"]]},
        {"what": "embedding one track (cpu)", "unit": "audio s",
         "sizes": [r["audio_s"] for r in out["cpu"]["by_length"]],
         "seconds": [r["seconds_per_track"] for r in out["cpu"]["by_length"]]},
    ]
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
