"""Training throughput: samples/s end to end and the share of step time spent waiting for data.

The trainer reads features from the cache into memory once, then builds views (crops,
augmentations) and collates on the fly; this measures whether that keeps up with the model.
Figures come from the trainer's own per-step timings (``data_s``: waiting for the next batch,
``step_s``: forward, backward, optimiser step):

- ``samples_per_s``: end-to-end training throughput;
- ``compute_only_samples_per_s`` (the reference): throughput if data were free, from ``step_s`` alone;
- ``ratio``: end-to-end / compute-only (1.0 = data loading costs nothing);
- ``data_wait_share``: data time / (data + compute), target < 0.10.

Runs on CPU, and on CUDA when available. Corpus: a small synthetic one (melodies, two versions per
work) written to a temporary folder, so the figure does not depend on the demo corpus being built;
set ``SAPPHIRE_BENCH_CORPUS=DIR`` to measure on a corpus of your own (its feature cache is reused).
Config: ``configs/acoustic_only.yaml`` (multi-input CNN + frozen MiniLM text tower).

    python benchmarks/bench_train.py            # prints JSON
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_DATA_SHARE = 0.10


def _synthetic_corpus(root: Path, *, works: int, seconds: float) -> Path:
    import numpy as np

    from sapphire_core.testing import signals

    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    for w in range(works):
        pitches = list(55 + rng.integers(0, 15, size=16))
        for v in range(2):
            y = signals.melody(pitches, durations=seconds / 16, sr=22050, tempo_scale=float(rng.uniform(0.9, 1.1)),
                               harmonics=2 + 3 * v, transpose=int(rng.integers(-2, 3)))
            tid = f"w{w}__v{v}"
            signals.write_wav(root / "audio" / f"{tid}.wav", y, 22050)
            lines.append({"id": tid, "audio": f"audio/{tid}.wav", "work_id": f"w{w}", "era": "modern",
                          "mode": "major" if w % 2 else "minor", "tempo_bpm": 100.0, "form": "song",
                          "instrument_family": "keyboard" if v else "strings", "duration": len(y) / 22050})
    (root / "tracks.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def _measure(corpus: Path, out: Path, *, device: str, steps: int, batch_size: int) -> dict:
    from sapphire_core.config import load_config
    from sapphire_core.training import train
    from sapphire_core.training.runlog import read_metrics

    cfg = load_config(REPO / "configs" / "acoustic_only.yaml",
                      overrides=[f"training.batch_size={batch_size}", "training.epochs=50", "training.crop_seconds=5",
                                 "training.validation_fraction=0.1"])
    cpu0 = time.process_time()
    result = train(cfg, corpus, out, device=device, max_steps=steps, evaluate_untrained=False,
                   checkpoint_seconds=1e9)
    records = [r for r in read_metrics(out) if r.get("type") == "train"]
    # The first step includes one-off warm-up (thread pools, cuDNN autotuning): leave it out.
    timed = records[1:] or records
    data = sum(r["data_s"] for r in timed)
    compute = sum(r["step_s"] for r in timed)
    bs = result.metrics["batch_size"]
    return {
        "device": device, "steps": len(timed), "batch_size": bs,
        "samples_per_s": round(bs * len(timed) / (data + compute), 2),
        "compute_only_samples_per_s": round(bs * len(timed) / compute, 2),
        "ratio": round(compute / (data + compute), 4),
        "data_wait_share": round(data / (data + compute), 4),
        "median_step_s": round(statistics.median(r["step_s"] for r in timed), 4),
        "median_data_s": round(statistics.median(r["data_s"] for r in timed), 4),
        "target_data_wait_share": TARGET_DATA_SHARE,
        "meets_target": data / (data + compute) < TARGET_DATA_SHARE,
        # On a shared machine wall time is inflated by other processes: process CPU time and the
        # load average say how much of it this run actually got.
        "process_cpu_s_total": round(time.process_time() - cpu0, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(quick: bool = False) -> dict:
    """Measure training throughput on CPU (and CUDA when present); returns a JSON-able dict."""
    import torch

    chosen = os.environ.get("SAPPHIRE_BENCH_CORPUS")
    steps = 6 if quick else 20
    out: dict = {"config": "configs/acoustic_only.yaml"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if chosen:
            corpus = Path(chosen)
        else:
            corpus = _synthetic_corpus(tmp / "corpus", works=8 if quick else 16, seconds=8.0)
        out["corpus"] = str(corpus)
        out["cpu"] = _measure(corpus, tmp / "cpu", device="cpu", steps=steps, batch_size=8 if quick else 16)
        if torch.cuda.is_available():
            out["cuda"] = _measure(corpus, tmp / "cuda", device="cuda", steps=steps * 2, batch_size=32)
            out["cuda"]["gpu"] = torch.cuda.get_device_name(0)
        else:
            out["cuda"] = None
    out["reference"] = "compute_only_samples_per_s (same run, data time excluded)"
    out["ratio"] = out["cpu"]["ratio"]
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
