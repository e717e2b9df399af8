"""Query by humming at catalogue scale: latency and MRR at 1k, 10k and 100k synthetic tracks.

The catalogue is synthetic melodies (the score side: no audio is rendered, so 100k tracks fit in a
run): 30 s each, a diatonic random walk of steps and leaps at 70-150 bpm. The queries are sung
renditions of a fixed set of tracks, present at every size, made by the second query generator
(:mod:`sapphire_vocal.sung_queries`: 25-50 cent note errors, tempo x0.75-1.3, random start bar)
and turned into melodies by CREPE, as a real hum is; the melodies are extracted once and reused.

Figures
-------
* ``sizes.<n>``: p50/p95 search latency (first stage + DTW re-rank, the hum's melody given), MRR by
  track, first-stage recall (the sung track in the shortlist), windows indexed, build seconds.
* ``mrr_drop_1k_to_largest`` (target <= 0.05) and ``latency_growth_exponent`` (target <= 0.5),
  the slope of log p50 on log size; ``p50_ms_at_largest`` (target <= 50 ms on 2 cores).
* ``extraction``: basic-pitch melody extraction of a real rendered track, x realtime on one core
  (onnxruntime with one thread), and CREPE tiny on a hum for comparison.

Run ``python benchmarks/bench_qbh.py [--quick]`` (quick: 1k, 3k, 10k tracks, fewer queries); prints JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

TRACK_SECONDS = 30.0
SHORTLIST = 50


def synthetic_melody(rng: np.random.Generator) -> list[list[float]]:
    """A 30 s tune: a diatonic random walk (mostly steps, some leaps and repeats), note lengths of
    1/2 to 2 beats at 70-150 bpm; ``[[onset_s, duration_s, midi], ...]``."""
    beat = 60.0 / rng.uniform(70, 150)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    tonic = int(rng.integers(55, 67))
    degree, t, notes = 7, 0.0, []
    while t < TRACK_SECONDS:
        degree = int(np.clip(degree + rng.choice([-4, -2, -1, -1, 0, 1, 1, 2, 3, 4],
                                                 p=[.04, .1, .2, .1, .08, .2, .1, .1, .04, .04]), 0, 14))
        dur = beat * float(rng.choice([0.5, 1, 1, 1, 1.5, 2]))
        notes.append([t, dur * 0.9, tonic + 12 * (degree // 7) + int(scale[degree % 7]) - 12])
        t += dur
    return notes


def _catalogue(n: int, seed: int = 0):
    from sapphire_vocal.melody import melody_from_notes

    rng = np.random.default_rng(seed)
    for i in range(n):
        notes = synthetic_melody(rng)
        pitches = np.array([p for _, _, p in notes], dtype=np.float64)
        keep = np.concatenate([[True], np.diff(pitches) != 0])  # repeated notes are one pitch change
        yield f"t{i:06d}", melody_from_notes(notes), pitches[keep], notes


def _queries(n_queries: int, n_tracks_min: int, seed: int = 1):
    from sapphire_vocal import sung_queries
    from sapphire_vocal.melody import melody_from_audio

    targets = sorted(np.random.default_rng(seed).choice(n_tracks_min, n_queries, replace=False).tolist())
    melodies = {}
    for tid, _, _, notes in _catalogue(max(targets) + 1):
        i = int(tid[1:])
        if i in targets:
            q = sung_queries.sing(notes, seed=1000 + i, bpm=120.0)
            melodies[tid] = melody_from_audio(q.audio, q.sr)
    return melodies


def bench_size(n: int, queries: dict) -> dict:
    from sapphire_vocal.qbh import QbhIndex

    t0 = time.perf_counter()
    index = QbhIndex(shortlist=SHORTLIST)
    batch = []
    for tid, melody, pitches, _ in _catalogue(n):
        batch.append((tid, melody, None, None, pitches))
    index.add_melodies(batch)
    build = time.perf_counter() - t0
    index.rank_melody(next(iter(queries.values())), k=10)  # compile the DTW kernel
    lat, rr, recall = [], [], []
    for tid, melody in queries.items():
        t = time.perf_counter()
        ranked = index.rank_melody(melody, k=10)
        lat.append(time.perf_counter() - t)
        ids = [r for r, _ in ranked]
        rr.append(1.0 / (ids.index(tid) + 1) if tid in ids else 0.0)
        recall.append(tid in {r for r, _ in index.first_stage(melody)})
    return {"tracks": n, "windows": len(index.store), "store_layout": getattr(index.store, "layout", "?"),
            "build_s": build, "p50_ms": 1000 * float(np.percentile(lat, 50)),
            "p95_ms": 1000 * float(np.percentile(lat, 95)), "mrr": float(np.mean(rr)),
            "first_stage_recall": float(np.mean(recall)), "queries": len(lat), "shortlist": SHORTLIST}


def bench_extraction(quick: bool) -> dict:
    """The track melody by basic-pitch (one thread; the default torch port and onnxruntime, the
    reference) on a FluidSynth-rendered quartet texture; CREPE tiny on a hum."""
    import torch

    from sapphire_core.corpus import render

    from sapphire_vocal import basic_pitch, melody, sung_queries

    rng = np.random.default_rng(0)
    seconds = 10.0 if quick else 30.0
    notes = [render.Note(o, d, p, part=0) for o, d, p in synthetic_melody(rng) if o < seconds]
    notes += [render.Note(o, d, p - 12, part=1) for o, d, p in synthetic_melody(rng) if o < seconds]
    y = render.synthesize(notes, [40, 42]) if render.fluidsynth_available() else np.zeros(int(seconds * 22050))
    cpu = {}
    for backend in basic_pitch.BACKENDS:  # warm both, then time each (the reference in the same run)
        basic_pitch.posteriorgrams(y[:22050], 22050, threads=1, backend=backend)
    for backend in basic_pitch.BACKENDS:
        c0 = time.process_time()
        melody.track_melody(y, 22050, threads=1, backend=backend)
        cpu[backend] = time.process_time() - c0
    hum = sung_queries.sing(synthetic_melody(rng), seed=0, bpm=120.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        c0 = time.process_time()
        melody.melody_from_audio(hum.audio, hum.sr)
        crepe_cpu = time.process_time() - c0
    finally:
        torch.set_num_threads(threads)
    return {"basic_pitch_audio_s": len(y) / 22050,
            "basic_pitch_x_realtime_per_core": len(y) / 22050 / cpu[basic_pitch.DEFAULT_BACKEND],
            "basic_pitch_onnxruntime_x_realtime_per_core": len(y) / 22050 / cpu["onnx"],
            "basic_pitch_speedup_over_onnxruntime": cpu["onnx"] / cpu[basic_pitch.DEFAULT_BACKEND],
            "crepe_tiny_hum_audio_s": len(hum.audio) / hum.sr,
            "crepe_tiny_x_realtime_per_core": len(hum.audio) / hum.sr / crepe_cpu}


def run(quick: bool = False) -> dict:
    """All QbH scale figures as a JSON-able dict."""
    sizes = (1000, 3000, 10000) if quick else (1000, 10000, 100000)
    queries = _queries(20 if quick else 60, sizes[0])
    rows = [bench_size(n, queries) for n in sizes]
    from importlib import util
    from pathlib import Path

    spec = util.spec_from_file_location("bench_run", Path(__file__).with_name("run.py"))
    suite = util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    exponent = suite.growth_exponent([r["tracks"] for r in rows], [r["p50_ms"] for r in rows])
    return {
        "sizes": {str(r["tracks"]): r for r in rows},
        "p50_ms_at_largest": rows[-1]["p50_ms"], "target_p50_ms": 50.0,
        "mrr_drop_1k_to_largest": rows[0]["mrr"] - rows[-1]["mrr"], "target_mrr_drop": 0.05,
        "latency_growth_exponent": exponent, "target_growth_exponent": 0.5,
        "extraction": bench_extraction(quick),
        "scaling": [{"what": f"QbH search p50 (shortlist {SHORTLIST}, ms)", "unit": "tracks",
                     "sizes": [r["tracks"] for r in rows], "seconds": [r["p50_ms"] / 1000 for r in rows]}],
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=float))
