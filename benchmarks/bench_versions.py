"""Version search (the acoustic plugin's ``version`` mode) at catalogue scale: latency and top-1.

The catalogue is synthetic chroma sequences (no audio is rendered, so thousands of tracks fit in a
run): pieces of 60-240 s at the alignment frame rate, chords of a random key held 1-4 s, with
frame noise. Queries are other "versions" of a fixed set of catalogue tracks, present at every size:
transposed, played x0.85-1.15 slower or faster, re-noised; either whole or a 10 s excerpt.

Figures
-------
* ``sizes.<n>``: p50 search latency for whole-track and 10 s excerpt queries with the default
  shortlist, top-1, first-stage recall (the source in the shortlist), bytes per indexed track.
* ``exhaustive_over_shortlist_at_<n>``: latency ratio of aligning every track to the two-stage
  search at the smallest size (the reference in the same run).

Run ``python benchmarks/bench_versions.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

FPS = 22050 / 512 / 8


def synthetic_piece(rng: np.random.Generator) -> np.ndarray:
    """``(T, 12)`` chroma of held diatonic triads in a random key."""
    key = int(rng.integers(12))
    scale = [0, 2, 4, 5, 7, 9, 11]
    rows, total = [], rng.uniform(60, 240) * FPS
    while len(rows) < total:
        root = int(rng.integers(7))
        chord = np.zeros(12)
        for step in (0, 2, 4):
            chord[(key + scale[(root + step) % 7]) % 12] = 1.0
        rows += [chord] * int(rng.uniform(1, 4) * FPS)
    seq = np.array(rows) + 0.15 * rng.random((len(rows), 12))
    return seq / np.linalg.norm(seq, axis=1, keepdims=True)


def version_of(seq: np.ndarray, rng: np.random.Generator, excerpt_s: float | None) -> np.ndarray:
    factor = rng.uniform(0.85, 1.15)
    idx = np.minimum((np.arange(int(len(seq) * factor)) / factor).astype(int), len(seq) - 1)
    out = np.roll(seq[idx], int(rng.integers(1, 12)), axis=1) + 0.1 * rng.random((len(idx), 12))
    if excerpt_s:
        n = int(excerpt_s * FPS)
        start = int(rng.integers(0, max(1, len(out) - n)))
        out = out[start:start + n]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def measure(index, queries) -> dict:
    times, hits, recall = [], [], []
    for source, q in queries:
        t0 = time.perf_counter()
        ranked = index.rank_sequence(q, k=1)
        times.append(time.perf_counter() - t0)
        hits.append(ranked[0][0] == source)
        if index.shortlist and len(index) > index.shortlist:
            recall.append(source in index.first_stage(q, index.shortlist))
    return {"p50_ms": 1000 * float(np.median(times)), "top1": float(np.mean(hits)),
            "first_stage_recall": float(np.mean(recall)) if recall else 1.0}


def run(quick: bool = False) -> dict:
    from sapphire_acoustic.versions import VersionIndex

    sizes = (300, 1000) if quick else (1000, 3000)
    n_queries = 8 if quick else 20
    rng = np.random.default_rng(0)
    pieces = [synthetic_piece(rng) for _ in range(max(sizes))]
    qrng = np.random.default_rng(1)
    whole = [(f"t{i}", version_of(pieces[i], qrng, None)) for i in range(n_queries)]
    excerpts = [(f"t{i}", version_of(pieces[i], qrng, 10.0)) for i in range(n_queries)]
    out: dict = {"sizes": {}}
    for n in sizes:
        index = VersionIndex()
        t0 = time.perf_counter()
        for i in range(n):
            index.add(f"t{i}", pieces[i])
        build = time.perf_counter() - t0
        out["sizes"][str(n)] = {"whole": measure(index, whole), "excerpt_10s": measure(index, excerpts),
                                "build_s_per_track": build / n, "shortlist": index.shortlist,
                                "bytes_per_track": float(np.mean([index._codes[t].nbytes for t in index.track_ids]))}
    small = VersionIndex(shortlist=0)
    for i in range(sizes[0]):
        small.add(f"t{i}", pieces[i])
    exhaustive = measure(small, excerpts[: max(3, n_queries // 4)])
    out[f"exhaustive_over_shortlist_at_{sizes[0]}"] = (
        exhaustive["p50_ms"] / out["sizes"][str(sizes[0])]["excerpt_10s"]["p50_ms"])
    out["exhaustive_excerpt_top1"] = exhaustive["top1"]
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=float))
