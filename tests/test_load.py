"""Load on loopback: 20 concurrent clients x 200 judgements against a real uvicorn server; none is lost.

Bounded in count (4000 judgements) and time (pytest timeout). Throughput is printed and written to
``reports/load_test.json`` for the record, never asserted (speed belongs to benchmarks/).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sapphire_core.feedback.sessions import SessionSpec
from sapphire_core.feedback.store import FeedbackStore
from sapphire_core.testing import signals
from sapphire_core.webapp import create_app
from sapphire_core.webapp.memory import MemoryEngine
from sapphire_core.webapp.server import serve_in_thread

CLIENTS = 20
PER_CLIENT = 200
AB_EVERY = 10  # every 10th judgement is an A/B trial (next + judgement), the rest triplets
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(write_corpus, tmp_path):
    tracks = {f"t{i:02d}": (signals.chord([48 + i, 52 + i, 55 + i], sr=22050, seconds=0.5), 22050,
                            {"title": f"chord {i}"}) for i in range(12)}
    engine = MemoryEngine.from_corpus(write_corpus(tracks), model_version="load-v1")
    spec = SessionSpec(name="load", kind="ab", models=["model", "baseline"], list_length=3,
                       trials_per_rater=PER_CLIENT, queries=[{"track": "t00"}, {"track": "t05"}])
    db = tmp_path / "load.db"
    app = create_app(engine, db_path=db, admin_token="load-test-token", sessions=[spec],
                     baseline_engine=MemoryEngine(list(engine.records.values()), engine.vectors[::-1].copy()))
    with serve_in_thread(app) as url:
        yield url, db, engine.ids


def _client(url: str, ids: list[str], n: int) -> dict:
    rater = f"load-{n:02d}"
    sent, row_ids, failures = {"triplets": 0, "ab": 0}, [], []
    with httpx.Client(base_url=url, timeout=30.0) as c:
        for i in range(PER_CLIENT):
            if i % AB_EVERY == AB_EVERY - 1:
                trial = c.get("/api/ab/next", params={"session": "load", "rater": rater}).json()
                r = c.post("/api/ab/judgement", json={"trial_id": trial["trial_id"], "rater": rater,
                                                      "choice": "AB"[i % 2]})
                kind = "ab"
            else:
                # offsets 1-5 and 6-10 from the anchor: three different tracks
                a, b, cc = ids[i % 12], ids[(i + 1 + n % 5) % 12], ids[(i + 6 + n % 5) % 12]
                r = c.post("/api/triplet/judgement", json={"session": "open", "rater": rater, "anchor": a, "b": b,
                                                           "c": cc, "choice": "bc"[i % 2]})
                kind = "triplets"
            if r.status_code == 200:
                sent[kind] += 1
                row_ids.append((kind, r.json()["id"]))
            else:
                failures.append((r.status_code, r.text[:200]))
    return {"sent": sent, "ids": row_ids, "failures": failures}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_concurrent_judgements_none_lost(server):
    url, db, ids = server
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda n: _client(url, ids, n), range(CLIENTS)))
    seconds = time.perf_counter() - t0
    failures = [f for r in results for f in r["failures"]]
    assert failures == []
    sent_t = sum(r["sent"]["triplets"] for r in results)
    sent_ab = sum(r["sent"]["ab"] for r in results)
    assert sent_t + sent_ab == CLIENTS * PER_CLIENT
    acknowledged = [x for r in results for x in r["ids"]]
    assert len(set(acknowledged)) == len(acknowledged)  # every acknowledgement names its own row

    with FeedbackStore(db) as store:
        counts, integrity = store.counts(), store.integrity_check()
        triplets, ab = store.rows("triplets"), store.rows("ab")
    lost = CLIENTS * PER_CLIENT - (counts["triplets"] + counts["ab"])
    report = {"clients": CLIENTS, "per_client": PER_CLIENT, "judgements": sent_t + sent_ab, "seconds": round(seconds, 2),
              "judgements_per_s": round((sent_t + sent_ab) / seconds, 1), "lost": lost, "counts": counts}
    print("\nload test:", json.dumps(report))
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports" / "load_test.json").write_text(json.dumps(report, indent=2))

    assert lost == 0 and integrity == "ok"
    assert counts["triplets"] == sent_t and counts["ab"] == sent_ab == counts["ab_trials"]
    assert {("triplets", r["id"]) for r in triplets} | {("ab", r["id"]) for r in ab} == set(acknowledged)
    per_rater = {}
    for r in triplets + ab:
        per_rater[r["rater"]] = per_rater.get(r["rater"], 0) + 1
    assert per_rater == {f"load-{n:02d}": PER_CLIENT for n in range(CLIENTS)}
    assert all(r["winner"] in ("model", "baseline") and r["left_model"] != r["right_model"] for r in ab)
    assert all(r["model_version"] == "load-v1" for r in triplets)
