"""Library workflows: similar tracks from stored vectors, seeds, exclusions, near-duplicates, playlists,
and the HTTP API a media server calls (against a real uvicorn server on loopback)."""

from __future__ import annotations

import functools
import json
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core.testing import signals  # noqa: E402

from sapphire_core.retrieval import SearchEngine, SearchError  # noqa: E402
from sapphire_core.retrieval.neighbours import DUPLICATE_COSINE, collapse_duplicates  # noqa: E402
from sapphire_core.retrieval.playlist import shortest_monotone_path, slerp  # noqa: E402

#: Six works by two artists, each in two versions a fifth apart (so every track has its own pitch classes).
ARTIST = {"w0": "Ann", "w1": "Ann", "w2": "Ann", "w3": "Bo", "w4": "Bo", "w5": "Bo"}
LYRICS = {"w0": "the river runs so slowly", "w2": "night falls on the cold hills", "w4": "dance in the bright sun"}


def write_library(root: Path) -> Path:
    """12 tracks (6 works x 2 versions) with artist and album tags, plus ``w0__copy``: ``w0__v0`` again,
    quieter, the one near-duplicate."""
    (root / "audio").mkdir(parents=True)
    recs = []
    for i in range(12):
        work, version = f"w{i // 2}", f"v{i % 2}"
        root_pc, minor = (5 * i) % 12, (i // 2) % 2 == 1
        triad = [0, 3, 7] if minor else [0, 4, 7]
        pitches = [60 + root_pc + t for t in triad + [12] + triad[::-1]]
        y = signals.melody(pitches, durations=0.3, sr=16000) * 0.5
        tid = f"{work}__{version}"
        signals.write_wav(root / f"audio/{tid}.wav", y, 16000)
        rec = {"id": tid, "audio": f"audio/{tid}.wav", "work_id": work, "variant_id": version,
               "artist": ARTIST[work], "album": f"album {version}", "mode": "minor" if minor else "major"}
        if work in LYRICS:
            rec["lyrics"] = LYRICS[work]
        recs.append(rec)
        if tid == "w0__v0":
            signals.write_wav(root / "audio/w0__copy.wav", 0.9 * y, 16000)
            recs.append(dict(rec, id="w0__copy", audio="audio/w0__copy.wav"))
    (root / "tracks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


@functools.cache
def library() -> dict:
    """:func:`write_library` indexed with the toy model (built once per process)."""
    from sapphire_core.index.builder import build_index

    root = Path(tempfile.mkdtemp(prefix="sapphire_library_"))
    corpus = write_library(root / "corpus")
    registry = T.toy_registry()
    ckpt = T.toy_checkpoint(root / "toy.ckpt", registry)
    build_index(ckpt, corpus, root / "index", registry=registry, chunk_size=8, device="cpu", extras=False)
    return {"corpus": corpus, "index": root / "index", "registry": registry}


@pytest.fixture(scope="module")
def engine():
    s = library()
    return SearchEngine.open(s["index"], registry=s["registry"])


def _vectors(engine):
    ids = engine.track_ids()
    return ids, engine.folder.store.get_vectors(ids)


def test_the_fixture_has_one_near_duplicate_pair(engine):
    ids, X = _vectors(engine)
    cos = X @ X.T
    pairs = {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids)) if cos[i, j] >= DUPLICATE_COSINE}
    assert pairs == {("w0__v0", "w0__copy")}


def test_similar_reads_stored_vectors_and_ranks_by_cosine(engine):
    fresh = SearchEngine.open(library()["index"])  # without the toy components: loading the model would fail
    res = fresh.similar("w3__v1", k=5, collapse=False)
    assert fresh._model is None  # nothing was extracted or embedded
    ids, X = _vectors(engine)
    cos = X @ X[ids.index("w3__v1")]
    expected = [ids[j] for j in np.argsort(-cos) if ids[j] != "w3__v1"][:5]
    assert [r.track_id for r in res] == expected
    assert [r.score for r in res] == pytest.approx(sorted(cos, reverse=True)[1:6], abs=1e-5)
    assert [r.rank for r in res] == [1, 2, 3, 4, 5]
    # an indexed file names the same track
    by_path = fresh.similar(str(library()["corpus"] / "audio" / "w3__v1.wav"), k=5, collapse=False)
    assert [r.track_id for r in by_path] == expected and fresh._model is None


def test_a_file_not_in_the_index_is_embedded(engine, tmp_path):
    import soundfile as sf

    y, sr = sf.read(library()["corpus"] / "audio" / "w2__v0.wav", dtype="float32")
    excerpt = tmp_path / "excerpt.wav"
    sf.write(excerpt, y[: len(y) // 2], sr)
    res = engine.similar(str(excerpt), k=3)
    assert [r.track_id for r in res] == [r.track_id for r in engine.search(audio=str(excerpt), k=3, explain=False)]


def test_multi_seed_score_is_the_mean_cosine_and_negative_seeds_push_down(engine):
    ids, X = _vectors(engine)
    a, b = X[ids.index("w1__v0")], X[ids.index("w4__v1")]
    res = engine.similar(["w1__v0", "w4__v1"], k=len(ids))
    assert {"w1__v0", "w4__v1"}.isdisjoint(r.track_id for r in res)
    for r in res:
        x = X[ids.index(r.track_id)]
        assert r.score == pytest.approx(0.5 * (x @ a + x @ b), abs=1e-5)
        assert set(r.explanation["seeds"]) == {"w1__v0", "w4__v1"}
    # "less like w1__v1": score = cos to the seed - cos to the negative seed, so its nearest neighbour drops
    c = X[ids.index("w1__v1")]
    plain = [r.track_id for r in engine.similar("w3__v0", k=len(ids), collapse=False) if r.track_id != "w1__v1"]
    pushed = engine.similar("w3__v0", negative=["w1__v1"], k=len(ids), collapse=False, negative_weight=1.0)
    assert "w1__v1" not in [r.track_id for r in pushed]
    for r in pushed:
        x = X[ids.index(r.track_id)]
        assert r.score == pytest.approx(x @ X[ids.index("w3__v0")] - x @ c, abs=1e-5)
    victim = max(plain[:-1], key=lambda t: X[ids.index(t)] @ c)
    assert [r.track_id for r in pushed].index(victim) > plain.index(victim)


@pytest.mark.parametrize("attribute, key", [("work", "work_id"), ("artist", "artist"), ("album", "album")])
def test_exclude_same_leaves_out_tracks_sharing_it_with_a_seed(engine, attribute, key):
    seeds = ["w1__v0", "w2__v0"]  # works w1 and w2, both by Ann, both on "album v0"
    res = engine.similar(seeds, k=20, exclude_same=[attribute], collapse=False)
    seed_values = {engine.folder.metadata[s][key] for s in seeds}
    dropped = {t for t, m in engine.folder.metadata.items() if m[key] in seed_values}
    assert res and {r.track_id for r in res} == set(engine.folder.metadata) - dropped


def test_exclude_same_errors_name_the_choices_and_the_missing_tag(engine):
    with pytest.raises(SearchError, match="choose from work, artist, album"):
        engine.similar("w1__v0", exclude_same=["label"])
    toy = SearchEngine.open(T.toy_setup()["index"], registry=T.toy_setup()["registry"])
    with pytest.raises(SearchError, match="no seed has a 'album' field"):
        toy.similar("w1__v0", exclude_same=["album"])
    with pytest.raises(SearchError, match="neither a track id .* nor an audio file"):
        engine.similar("no-such-track")


def test_near_duplicates_collapse_into_the_best_of_them(engine):
    res = engine.similar("w0__v1", k=20)
    ids = [r.track_id for r in res]
    assert ("w0__v0" in ids) != ("w0__copy" in ids)  # one recording shown once
    kept = next(r for r in res if r.track_id in ("w0__v0", "w0__copy"))
    assert kept.explanation["duplicates"] == [({"w0__v0", "w0__copy"} - {kept.track_id}).pop()]
    both = [r.track_id for r in engine.similar("w0__v1", k=20, collapse=False)]
    assert {"w0__v0", "w0__copy"} <= set(both) and len(both) == len(ids) + 1
    # a seed's own near-duplicate is not offered as "similar"
    assert "w0__copy" not in [r.track_id for r in engine.similar("w0__v0", k=20)]


def test_collapse_duplicates_by_hand():
    X = np.array([[1.0, 0.0], [0.999, 0.0447], [0.0, 1.0], [0.0447, 0.999]])
    assert collapse_duplicates(list("abcd"), X) == ([0, 2], {0: [1], 2: [3]})
    assert collapse_duplicates(list("abcd"), X, against=np.array([[0.0, 1.0]]))[0] == [0]
    assert collapse_duplicates(list("abcd"), X, threshold=1.0)[0] == [0, 1, 2, 3]
    # copies of one recording last as long; known durations a minute apart are two recordings
    assert collapse_duplicates(list("abcd"), X, durations=[180.0, 180.4, 200.0, 260.0]) == ([0, 2, 3],
                                                                                           {0: [1], 2: [], 3: []})
    assert collapse_duplicates(list("abcd"), X, durations=[180.0, np.nan, 200.0, np.nan])[0] == [0, 2]
    assert collapse_duplicates(list("abcd"), X, against=np.array([[1.0, 0.0]]), durations=[180.0] * 4,
                               against_durations=[90.0])[0] == [0, 2]


def test_slerp_and_the_monotone_path_by_hand():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    pts = slerp(a, b, np.linspace(0, 1, 5))
    assert np.allclose(np.linalg.norm(pts, axis=1), 1) and np.allclose(pts[[0, -1]], [a, b])
    assert np.allclose(np.diff(np.arctan2(pts[:, 1], pts[:, 0])), np.pi / 8)
    # points on a line 0..4 (given shuffled), start 0, end 4: the even walk 0,1,2,3,4
    x = np.array([[0.0], [3.0], [1.0], [2.0], [2.1], [4.0]])
    assert shortest_monotone_path(x, 4.0 - x[:, 0], 3) == [0, 2, 3, 1, 5]
    assert shortest_monotone_path(x, 4.0 - x[:, 0], 1) == [0, 3, 5]  # the midpoint: 2.0 beats 2.1
    # no point may move away from the end: with steps > available, fewer come back
    assert shortest_monotone_path(x, 4.0 - x[:, 0], 9) == [0, 2, 3, 4, 1, 5]


def test_playlist_has_no_repeats_and_progresses_monotonically(engine):
    ids, X = _vectors(engine)
    cos = X @ X.T
    i, j = np.unravel_index(np.argmin(cos), cos.shape)  # the two farthest tracks
    start, end = ids[i], ids[j]
    pl = engine.playlist(start, end, length=6)
    got = [t.track_id for t in pl]
    assert got[0] == start and got[-1] == end and len(got) == 6
    assert len(set(got)) == len(got)
    to_end = [float(X[ids.index(t)] @ X[j]) for t in got]
    assert all(u < v for u, v in zip(to_end, to_end[1:])), to_end  # distance to the end falls at every step
    assert [t.rank for t in pl] == list(range(1, 7))
    assert not {"w0__v0", "w0__copy"} <= set(got)
    with pytest.raises(SearchError, match="length >= 2"):
        engine.playlist(start, end, length=1)
    with pytest.raises(SearchError, match="same recording"):
        engine.playlist("w0__v0", "w0__copy", length=4)


def test_playlist_is_smoother_than_a_random_monotone_choice(engine):
    ids, X = _vectors(engine)
    cos = X @ X.T
    i, j = np.unravel_index(np.argmin(cos), cos.shape)
    pl = engine.playlist(ids[i], ids[j], length=5)
    path = np.stack([X[ids.index(t.track_id)] for t in pl])
    energy = float((np.diff(path, axis=0) ** 2).sum())
    # every other monotone choice of 3 in-between tracks costs at least as much
    cand = [k for k in range(len(ids)) if k not in (i, j) and X[k] @ X[j] > X[i] @ X[j]]
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        pick = sorted(rng.choice(cand, 3, replace=False), key=lambda k: -np.linalg.norm(X[k] - X[j]))
        seq = np.stack([X[i], *X[pick], X[j]])
        d_end = np.linalg.norm(seq - X[j], axis=1)
        if np.all(np.diff(d_end) < 0):
            checked += 1
            assert energy <= float((np.diff(seq, axis=0) ** 2).sum()) + 1e-6
    assert checked > 20


def test_cli_similar_and_playlist_json(engine):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    index = str(library()["index"])
    r = CliRunner().invoke(app, ["similar", index, "w0__v1", "--seed", "w2__v0", "--exclude-same", "artist",
                                 "--k", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["seeds"] == ["w0__v1", "w2__v0"] and len(out["results"]) == 3
    assert {x["metadata"]["artist"] for x in out["results"]} == {"Bo"}
    r = CliRunner().invoke(app, ["similar", index, "w0__v1", "--k", "3"])
    assert r.exit_code == 0 and "w0__v1" in r.output
    r = CliRunner().invoke(app, ["playlist", index, "--from", "w1__v0", "--to", "w4__v1", "--length", "4", "--json"])
    assert r.exit_code == 0, r.output
    got = [x["track_id"] for x in json.loads(r.output)["results"]]
    assert got[0] == "w1__v0" and got[-1] == "w4__v1" and len(set(got)) == len(got)


def test_http_api_on_a_running_server(engine, tmp_path):
    from sapphire_core.webapp import create_app
    from sapphire_core.webapp.server import serve_in_thread

    app = create_app(engine, db_path=tmp_path / "fb.db", admin_token="library-test-token")
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        schema = http.get("/api/openapi.json").json()
        for path in ("/api/similar", "/api/search", "/api/playlist"):
            assert "post" in schema["paths"][path], path
        assert "seeds" in schema["components"]["schemas"]["SimilarRequest"]["properties"]
        assert {"from", "to", "length"} <= set(schema["components"]["schemas"]["PlaylistRequest"]["properties"])

        r = http.post("/api/similar", json={"seeds": ["w0__v1"], "exclude_same": ["work"], "k": 4})
        assert r.status_code == 200, r.text
        hits = r.json()["results"]
        assert len(hits) == 4 and all(h["metadata"]["work_id"] != "w0" for h in hits)
        assert all(h["audio_url"].startswith("/api/audio?id=") for h in hits)
        assert http.get(hits[0]["audio_url"]).status_code == 200
        direct = [x.track_id for x in engine.similar("w0__v1", exclude_same=["work"], k=4)]
        assert [h["track_id"] for h in hits] == direct  # one implementation

        r = http.post("/api/playlist", json={"from": "w1__v0", "to": "w4__v1", "length": 4})
        assert r.status_code == 200, r.text
        got = [h["track_id"] for h in r.json()["results"]]
        assert got[0] == "w1__v0" and got[-1] == "w4__v1" and len(set(got)) == len(got)

        r = http.post("/api/search", json={"text": "the river runs so slowly", "k": 3})
        assert r.status_code == 200 and len(r.json()["results"]) == 3

        assert http.post("/api/similar", json={"seeds": ["nope"]}).status_code == 404
        assert http.post("/api/similar", json={"seeds": ["/etc/passwd"]}).status_code == 404
        assert http.post("/api/similar", json={"seeds": ["w0__v1"], "exclude_same": ["label"]}).status_code == 422
        assert http.post("/api/similar", json={"seeds": []}).status_code == 422
        assert http.post("/api/playlist", json={"from": "w1__v0", "to": "w4__v1", "length": 1}).status_code == 422


def teardown_module(_module):
    if library.cache_info().currsize:
        shutil.rmtree(library()["corpus"].parent, ignore_errors=True)
