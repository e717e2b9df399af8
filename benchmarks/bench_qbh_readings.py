"""bench_qbh's catalogue and 60 sung queries: the same shortlist re-ranked with one tuning reading
(``old``: :func:`sapphire_vocal.matching.dtw_costs`) and with two (``new``:
:func:`sapphire_vocal.qbh.reading_costs`), alternating query by query on one index, so that the
MRR and DTW-time ratio hold on a loaded machine.

Run ``python benchmarks/bench_qbh_readings.py 1000 10000 [100000]``; prints a JSON line per size and code.
The CREPE melodies of the queries are cached in ``data/bench_qbh_queries.pkl``.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_qbh  # noqa: E402


def compare(n: int, queries: dict) -> list[dict]:
    """Both re-ranks of the shortlist of every query on an index of ``n`` catalogue tracks."""
    from sapphire_vocal.matching import dtw_costs
    from sapphire_vocal.qbh import QbhIndex, reading_costs

    t0 = time.perf_counter()
    index = QbhIndex(shortlist=bench_qbh.SHORTLIST)
    index.add_melodies([(tid, m, None, None, p) for tid, m, p, _ in bench_qbh._catalogue(n)])
    build = time.perf_counter() - t0
    index.rank_melody(next(iter(queries.values())))  # compile the DTW kernel
    codes = {"old": lambda m, refs: dtw_costs(m, refs), "new": lambda m, refs: reading_costs(m, refs)[0]}
    res = {name: ([], [], []) for name in codes}  # latency, reciprocal rank, DTW seconds
    for tid, m in queries.items():
        t = time.perf_counter()
        chosen = [c for c, _ in index.first_stage(m)]
        first = time.perf_counter() - t
        refs = [index.entries[c].reference() for c in chosen]
        for name, rerank in codes.items():
            t = time.perf_counter()
            costs = rerank(m, refs)
            dtw = time.perf_counter() - t
            ranked = [c for c, _ in sorted(zip(chosen, costs), key=lambda x: (x[1], x[0]))][:10]
            res[name][0].append(first + dtw)
            res[name][1].append(1.0 / (ranked.index(tid) + 1) if tid in ranked else 0.0)
            res[name][2].append(dtw)
    return [{"tracks": n, "code": name, "build_s": round(build, 1), "mrr": round(float(np.mean(rr)), 4),
             "p50_ms": round(1000 * float(np.percentile(lat, 50)), 1),
             "p95_ms": round(1000 * float(np.percentile(lat, 95)), 1),
             "dtw_p50_ms": round(1000 * float(np.percentile(dt, 50)), 1), "load": os.getloadavg()[0]}
            for name, (lat, rr, dt) in res.items()]


def main() -> None:
    cache = Path("data/bench_qbh_queries.pkl")
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(bench_qbh._queries(60, 1000)))
    queries = pickle.loads(cache.read_bytes())
    for n in map(int, sys.argv[1:] or ["1000", "10000"]):
        for row in compare(n, queries):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
