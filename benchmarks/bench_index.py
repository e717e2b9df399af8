"""Approximate vs exact vector search at scale: build time, median single-query latency, recall@10.

Data: ``n`` 512-d unit vectors with realistic structure — a many-cluster Gaussian mixture in a
64-d latent space mapped linearly into 512-d plus isotropic noise (music embeddings live near a
low-dimensional manifold with genre/work clusters). Uniform random vectors on the sphere are the
worst case for any partitioning index; they are measured too (smaller ``n``) and reported, not targeted.

The approximate index is :class:`sapphire_core.index.faiss_store.FaissStore` in its IVF layout,
built through the store API; the exact reference is brute-force inner product over the same
vectors (``faiss.knn``, the same kernel as ``IndexFlatIP``), timed in the same run. On the way to
``n`` the clustered set records cumulative build time and both latencies at ``n/5``, ``n/2`` and
``n`` (``growth``), which ``run.py`` turns into growth exponents.

Run ``python benchmarks/bench_index.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def structured_vectors(n: int, dim: int, *, clusters: int, latent: int = 64, seed: int = 0, spread: float = 0.5,
                       noise: float = 0.15, chunk: int = 100_000) -> np.ndarray:
    """A many-cluster mixture on a low-dimensional manifold, L2-normalised (float32, generated in chunks)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, latent)).astype(np.float32)
    mix = rng.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        z = centers[rng.integers(0, clusters, m)] + spread * rng.standard_normal((m, latent)).astype(np.float32)
        x = z @ mix + noise * rng.standard_normal((m, dim)).astype(np.float32)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def uniform_vectors(n: int, dim: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _latency_at(store, base: np.ndarray, queries: np.ndarray, *, k: int, nprobe: int, build_s: float) -> dict:
    """Median single-query latency of ``store`` (at ``nprobe``) and of exact search over ``base``."""
    import faiss

    if store.layout == "ivf":
        store._index.nprobe = nprobe
    approx, exact = [], []
    for q in queries:
        t0 = time.perf_counter()
        store.search(q, k=k)
        approx.append(time.perf_counter() - t0)
    for q in queries[:5]:
        t0 = time.perf_counter()
        faiss.knn(q[None, :], base, k, metric=faiss.METRIC_INNER_PRODUCT)
        exact.append(time.perf_counter() - t0)
    return {"n": len(store), "layout": store.layout, "build_s_cumulative": build_s, "nprobe": nprobe,
            "approx_median_ms": 1000 * float(np.median(approx)), "exact_median_ms": 1000 * float(np.median(exact))}


def _measure(base: np.ndarray, queries: np.ndarray, *, nlist: int, nprobes: list[int], k: int = 10,
             exact_timed: int = 20, growth: bool = False, growth_queries: int = 50) -> dict:
    import faiss

    from sapphire_core.index.faiss_store import FaissStore

    n, dim = base.shape
    # Ground truth: batched brute force (exact).
    _, truth = faiss.knn(queries, base, k, metric=faiss.METRIC_INNER_PRODUCT)
    # Exact single-query latency (the reference).
    exact_lat = []
    for q in queries[:exact_timed]:
        t0 = time.perf_counter()
        faiss.knn(q[None, :], base, k, metric=faiss.METRIC_INNER_PRODUCT)
        exact_lat.append(time.perf_counter() - t0)
    exact_ms = 1000 * float(np.median(exact_lat))

    store = FaissStore(dim, exact_threshold=min(20_000, n // 2), approximate="ivf", nlist=nlist)
    step = min(100_000, max(1, n // 10))
    # How build time and latency grow with n: measured on the way to n, at three sizes.
    checkpoints = {n // 5 // step * step, n // 2 // step * step, n} if growth else set()
    build_s, grows = 0.0, []
    for start in range(0, n, step):
        ids = [str(i) for i in range(start, min(n, start + step))]
        t0 = time.perf_counter()
        store.add(ids, base[start:start + step])
        build_s += time.perf_counter() - t0
        if len(store) in checkpoints:
            grows.append(_latency_at(store, base[:len(store)], queries[:growth_queries], k=k, nprobe=nprobes[1],
                                     build_s=build_s))

    sweep = []
    for nprobe in nprobes:
        store._index.nprobe = nprobe
        lat, hits = [], 0
        for row, q in enumerate(queries):
            t0 = time.perf_counter()
            got, _ = store.search(q, k=k)
            lat.append(time.perf_counter() - t0)
            hits += len({int(i) for i in got[0]} & set(truth[row].tolist()))
        ms = 1000 * float(np.median(lat))
        sweep.append({"nprobe": nprobe, "recall_at_10": hits / (k * len(queries)), "median_ms": ms,
                      "speedup_vs_exact": exact_ms / ms})
    ok = [s for s in sweep if s["recall_at_10"] >= 0.95]
    best = max(ok, key=lambda s: s["speedup_vs_exact"]) if ok else max(sweep, key=lambda s: s["recall_at_10"])
    return {"n": n, "dim": dim, "nlist": nlist, "layout": store.layout, "build_s": build_s,
            "exact_median_ms": exact_ms, "sweep": sweep, "operating_point": best, "growth": grows}


def run(quick: bool = False) -> dict:
    """Measure; returns a JSON-able dict (see the module docstring).

    Three data sets: ``clustered`` (the target: separated clusters, within-cluster spread 0.5 of the
    between-centre scale, like works/genres), ``overlapping`` (spread 0.8: clusters merge into an
    intrinsically 64-d blob, a harder case, smaller n) and ``uniform`` (worst case, smaller n).
    """
    import faiss

    dim = 512
    n = 50_000 if quick else 1_000_000
    n_small = 20_000 if quick else 200_000
    n_uniform = 20_000 if quick else 100_000
    n_queries = 100 if quick else 200
    out: dict = {"benchmark": "index", "quick": quick, "threads": faiss.omp_get_max_threads()}
    nprobes = [4, 8, 16, 32, 64, 128]
    for name, size, spread, noise in (("clustered", n, 0.5, 0.15), ("overlapping", n_small, 0.8, 0.25)):
        t0 = time.perf_counter()
        clusters = max(50, size // 100)
        data = structured_vectors(size + n_queries, dim, clusters=clusters, seed=0, spread=spread, noise=noise)
        base, queries = data[:size], np.ascontiguousarray(data[size:])
        gen_s = time.perf_counter() - t0
        nlist = int(min(2048, max(64, 2 * np.sqrt(size))))
        res = _measure(base, queries, nlist=nlist, nprobes=nprobes, growth=name == "clustered")
        res.update(generate_s=gen_s, data=f"{clusters}-cluster mixture (spread {spread}), 64-d latent -> {dim}-d "
                                          f"+ noise {noise}")
        out[name] = res
        del base, data, queries
    u = uniform_vectors(n_uniform + n_queries, dim, seed=1)
    uniform = _measure(u[:n_uniform], np.ascontiguousarray(u[n_uniform:]), nlist=int(2 * np.sqrt(n_uniform)),
                       nprobes=[16, 64, 256])
    uniform["data"] = "uniform on the sphere (worst case; reported, not targeted)"
    out["uniform"] = uniform
    op = out["clustered"]["operating_point"]
    out.update({
        "reference_exact_median_ms": out["clustered"]["exact_median_ms"],
        "approx_median_ms": op["median_ms"],
        "recall_at_10": op["recall_at_10"],
        "ratio_speedup": op["speedup_vs_exact"],
        "targets": {"recall_at_10": 0.95, "speedup": 20.0},
        "meets_targets": bool(op["recall_at_10"] >= 0.95 and op["speedup_vs_exact"] >= 20.0),
    })
    grows = out["clustered"]["growth"]
    out["scaling"] = [
        {"what": "index build (IVF, cumulative adds)", "unit": "vectors", "sizes": [g["n"] for g in grows],
         "seconds": [g["build_s_cumulative"] for g in grows]},
        {"what": f"query, IVF nprobe {nprobes[1]}", "unit": "vectors", "sizes": [g["n"] for g in grows],
         "seconds": [g["approx_median_ms"] / 1000 for g in grows]},
        {"what": "query, exact (reference)", "unit": "vectors", "sizes": [g["n"] for g in grows],
         "seconds": [g["exact_median_ms"] / 1000 for g in grows]},
    ]
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
