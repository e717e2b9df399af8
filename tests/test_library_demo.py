"""Library workflows on the demo index: the model ``make demo`` trains, over the demo corpus.

tests/test_library.py checks each workflow by hand on a small toy index; this checks the same
properties where a user first meets them (issue 20's done-means): similar, multi-seed and negative
seeds, exclusion, near-duplicate collapsing, playlist and the three HTTP endpoints.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from _trained import demo_trained  # noqa: E402

from sapphire_core.retrieval import SearchEngine  # noqa: E402
from sapphire_core.retrieval.neighbours import DUPLICATE_COSINE  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from sapphire_core.index.builder import build_index

    t = demo_trained()
    index = tmp_path_factory.mktemp("demo_library") / "index"
    build_index(t["ckpt"], t["corpus"], index, cache_dir=t["corpus"] / ".sapphire" / "cache", chunk_size=84,
                extras=False, device="cpu")
    engine = SearchEngine.open(index)
    ids = engine.track_ids()
    return {"engine": engine, "ids": ids, "X": engine.folder.store.get_vectors(ids), "corpus": t["corpus"]}


def _seeds(demo, n=6):
    """Seeds spread over the corpus, each with another rendering of its work in the index."""
    meta = demo["engine"].folder.metadata
    by_work: dict[str, list[str]] = {}
    for tid in demo["ids"]:
        by_work.setdefault(meta[tid]["work_id"], []).append(tid)
    multi = [v[0] for v in by_work.values() if len(v) > 1]
    return multi[:: max(1, len(multi) // n)][:n]


def test_similar_multi_seed_negative_and_exclusion_on_the_demo_index(demo):
    engine, ids, X = demo["engine"], demo["ids"], demo["X"]
    meta = engine.folder.metadata
    a, b, c = _seeds(demo, 3)
    # one seed: stored vectors ranked by cosine, the seed left out
    res = engine.similar(a, k=10, collapse=False)
    cos = X @ X[ids.index(a)]
    expect = [ids[i] for i in np.argsort(-cos) if ids[i] != a][:10]
    assert [r.track_id for r in res] == expect
    # two seeds and a negative one: score = mean cosine to the seeds - cosine to the negative seed
    res = engine.similar([a, b], negative=[c], k=20, collapse=False, negative_weight=1.0)
    assert {a, b, c}.isdisjoint(r.track_id for r in res)
    for r in res:
        x = X[ids.index(r.track_id)]
        assert r.score == pytest.approx(0.5 * (x @ X[ids.index(a)] + x @ X[ids.index(b)]) - x @ X[ids.index(c)],
                                        abs=1e-5)
    # exclusion: nothing that shares a seed's work
    res = engine.similar([a, b], k=30, exclude_same=["work"])
    works = {meta[a]["work_id"], meta[b]["work_id"]}
    assert len(res) == 30 and all(meta[r.track_id]["work_id"] not in works for r in res)


def test_collapsing_hides_only_near_duplicates_and_a_copy_of_the_seed(demo, tmp_path):
    engine, ids, X = demo["engine"], demo["ids"], demo["X"]
    for seed in _seeds(demo):
        shown = [r.track_id for r in engine.similar(seed, k=25)]
        every = [r.track_id for r in engine.similar(seed, k=25, collapse=False)]
        hidden = [t for t in every if t not in shown]
        for t in hidden:  # hidden only for being one recording with the seed or a hit shown above it
            x = X[ids.index(t)]
            near = [X[ids.index(s)] @ x for s in [seed, *shown[: every.index(t)]]]
            assert max(near) >= DUPLICATE_COSINE - 1e-6, (seed, t, max(near))
    # a file copy of an indexed track, as a seed: the track itself is the copy's duplicate, not a result.
    # An instrumental one: a file query carries no lyrics, so a song's copy is another input (see
    # sapphire_core.retrieval.neighbours).
    tid = next(t for t in _seeds(demo, 40) if not engine.folder.metadata[t].get("lyrics"))
    y, sr = sf.read(engine.folder.metadata[tid]["audio_path"], dtype="float32")
    copy = tmp_path / "copy.flac"
    sf.write(copy, y, sr)
    assert tid not in [r.track_id for r in engine.similar(str(copy), k=10)]
    assert engine.similar(str(copy), k=10, collapse=False)[0].track_id == tid


def test_playlist_on_the_demo_index_has_no_repeats_and_approaches_the_end(demo):
    engine, ids, X = demo["engine"], demo["ids"], demo["X"]
    cos = X @ X.T
    i, j = np.unravel_index(np.argmin(cos), cos.shape)
    got = [t.track_id for t in engine.playlist(ids[i], ids[j], length=8)]
    assert got[0] == ids[i] and got[-1] == ids[j] and len(got) == len(set(got)) == 8
    to_end = [float(X[ids.index(t)] @ X[j]) for t in got]
    assert all(u < v for u, v in zip(to_end, to_end[1:])), to_end


def test_http_api_on_the_demo_index(demo, tmp_path):
    from sapphire_core.webapp import create_app
    from sapphire_core.webapp.server import serve_in_thread

    engine, ids = demo["engine"], demo["ids"]
    a = _seeds(demo, 1)[0]
    app = create_app(engine, db_path=tmp_path / "fb.db", admin_token="demo-library-token")
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=120) as http:
        r = http.post("/api/similar", json={"seeds": [a], "exclude_same": ["work"], "k": 5})
        assert r.status_code == 200, r.text
        assert [h["track_id"] for h in r.json()["results"]] == \
            [x.track_id for x in engine.similar(a, exclude_same=["work"], k=5)]  # one implementation
        r = http.post("/api/playlist", json={"from": ids[0], "to": ids[-1], "length": 5})
        assert r.status_code == 200, r.text
        got = [h["track_id"] for h in r.json()["results"]]
        assert got[0] == ids[0] and got[-1] == ids[-1] and len(set(got)) == 5
        r = http.post("/api/search", json={"text": "a slow choral piece in a minor key", "k": 5})
        assert r.status_code == 200 and len(r.json()["results"]) == 5
