"""The web app through FastAPI's test client: search, audio by id, uploads, A/B and triplet flows, safety."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sapphire_core.errors import ConfigError
from sapphire_core.feedback.active import rank_pairs
from sapphire_core.feedback.sessions import SessionSpec, load_sessions, parse_sessions
from sapphire_core.testing import signals
from sapphire_core.webapp import create_app
from sapphire_core.webapp.app import ADMIN_HEADER
from sapphire_core.webapp.memory import audio_features

TOKEN = "test-admin-token"
KEYS = {"C": 60, "E": 64, "G": 67, "A": 69}


@pytest.fixture
def chord_corpus(write_corpus):
    """Eight 1 s major triads: four roots x two timbres (few vs many harmonics)."""
    tracks = {}
    for key, root in KEYS.items():
        for timbre, harmonics in (("piano", 2), ("organ", 6)):
            y = signals.chord([root, root + 4, root + 7], sr=22050, seconds=1.0, harmonics=harmonics)
            tracks[f"{key.lower()}-{timbre}"] = (y, 22050, {"title": f"{key} major {timbre}", "key": key,
                                                            "instrument": timbre})
    return write_corpus(tracks)


@pytest.fixture
def web_corpus(chord_corpus):
    """What the shared ``engines`` fixture (tests/conftest.py) serves."""
    return chord_corpus


@pytest.fixture
def client(engines, tmp_path):
    model, baseline = engines
    app = create_app(model, db_path=tmp_path / "fb.db", admin_token=TOKEN, baseline_engine=baseline)
    with TestClient(app) as c:
        c.app_state = app.state
        yield c


def admin(**extra):
    return {ADMIN_HEADER: TOKEN, **extra}


def wav_bytes(y, sr=22050):
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# ---------------------------------------------------------------- pages and search


def test_pages_and_static_files_are_served_with_a_strict_csp(client):
    for route, marker in (("/", "search-btn"), ("/ab", "choice-A"), ("/triplet", "triplet-b")):
        r = client.get(route)
        assert r.status_code == 200 and marker in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "http" not in r.text.split("<body>")[0].replace("http-equiv", "")  # no CDN in <head>
    for name in ("app.css", "common.js", "search.js", "ab.js", "triplet.js"):
        assert client.get(f"/static/{name}").status_code == 200


def test_text_search_returns_explained_results_and_versions(client):
    r = client.post("/api/search", json={"text": "G major organ", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == "model-v1"
    first = body["results"][0]
    assert first["track_id"] == "g-organ" and first["rank"] == 1
    assert first["audio_url"] == "/api/audio?id=g-organ"
    assert set(first["explanation"]) >= {"modalities", "subspaces", "midlevel", "summary"}
    assert "audio_path" not in json.dumps(body)  # no server paths leak to the browser


def test_track_query_finds_same_key_first_and_weights_change_the_ranking(client):
    tonal = client.post("/api/search", json={"track": "c-piano", "k": 7, "weights": {"tonal": 1, "timbre": 0}})
    ids = [r["track_id"] for r in tonal.json()["results"]]
    assert ids[0] == "c-organ" and "c-piano" not in ids  # same chord, other timbre; the query is excluded
    timbre = client.post("/api/search", json={"track": "c-piano", "k": 7, "weights": {"tonal": 0, "timbre": 1}})
    top_timbre = timbre.json()["results"][0]["track_id"]
    assert top_timbre.endswith("-piano")  # with tonal weight 0 the same timbre wins


def test_unknown_fields_weights_and_params_are_rejected(client):
    assert client.post("/api/search", json={"text": "x", "path": "/etc/passwd"}).status_code == 422
    r = client.post("/api/search", json={"text": "x", "weights": {"nonsense": 1}})
    assert r.status_code == 422 and "tonal" in r.json()["detail"]
    assert client.post("/api/search", json={"text": "x", "k": 10_000}).status_code == 422
    assert client.post("/api/search", json={}).status_code == 422
    assert client.get("/api/audio", params={"id": "c-piano", "path": "/etc/passwd"}).status_code == 422
    j = {"session": "open", "rater": "r1", "anchor": "c-piano", "b": "e-piano", "c": "g-piano", "choice": "b",
         "model_version": "forged"}
    assert client.post("/api/triplet/judgement", json=j).status_code == 422


# ---------------------------------------------------------------- audio by id, never by path


def test_audio_is_served_by_track_id_with_range_support(client, chord_corpus):
    r = client.get("/api/audio", params={"id": "e-organ"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == (chord_corpus / "audio" / "e-organ.wav").read_bytes()
    part = client.get("/api/audio", params={"id": "e-organ"}, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100


@pytest.mark.parametrize("bad", ["../tracks.jsonl", "/etc/passwd", "audio/c-piano.wav", "..%2Ftracks.jsonl",
                                 "c-piano/../../tracks.jsonl"])
def test_paths_never_reach_the_file_system(client, bad):
    assert client.get("/api/audio", params={"id": bad}).status_code == 404
    assert client.get(f"/static/../{bad}").status_code == 404
    assert client.post("/api/search", json={"track": bad}).status_code == 404


# ---------------------------------------------------------------- uploads


def test_uploaded_wav_finds_its_own_track_and_leaves_no_temp_file(client, chord_corpus):
    data = (chord_corpus / "audio" / "a-organ.wav").read_bytes()
    r = client.post("/api/search/audio", params={"kind": "audio", "k": 3}, content=data)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["track_id"] == "a-organ"
    hum = client.post("/api/search/audio", params={"kind": "hum", "k": 2,
                                                   "weights": json.dumps({"tonal": 1.0, "timbre": 0.0})}, content=data)
    assert hum.status_code == 200 and hum.json()["results"][0]["explanation"]["modalities"] == {"hum": 1.0}
    upload_dir = client.app_state.upload_dir
    assert upload_dir.is_dir() and list(upload_dir.iterdir()) == []
    assert (upload_dir.stat().st_mode & 0o077) == 0  # private to the server's user


def test_upload_caps_and_formats(engines, tmp_path):
    model, _ = engines
    app = create_app(model, db_path=tmp_path / "fb.db", admin_token=TOKEN, max_upload_bytes=200_000,
                     max_upload_seconds=2.0)
    with TestClient(app) as c:
        long = wav_bytes(signals.sine(440, sr=8000, seconds=3.0), sr=8000)  # 48 kB but 3 s
        r = c.post("/api/search/audio", content=long)
        assert r.status_code == 413 and "limit is 2 s" in r.json()["detail"]
        big = wav_bytes(signals.sine(440, sr=48000, seconds=1.9), sr=48000) + b"\0" * 100_000
        assert c.post("/api/search/audio", content=big).status_code == 413

        def chunks():  # no Content-Length: the stream itself is capped
            for _ in range(30):
                yield b"RIFF" + b"\0" * 9_996

        assert c.post("/api/search/audio", content=chunks()).status_code == 413
        r = c.post("/api/search/audio", content=b"#!/bin/sh\nrm -rf /\n")
        assert r.status_code == 415 and "wav, flac, ogg or mp3" in r.json()["detail"]
        broken = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40
        r = c.post("/api/search/audio", content=broken)
        assert r.status_code == 422 and str(app.state.upload_dir) not in r.text
        silent = wav_bytes(np.zeros(8000, dtype=np.float32), sr=8000)
        assert c.post("/api/search/audio", content=silent).status_code == 422
        assert c.post("/api/search/audio", content=b"").status_code == 400
        assert c.post("/api/search/audio", params={"kind": "audio", "file": "/etc/passwd"},
                      content=long).status_code == 422
        assert list(app.state.upload_dir.iterdir()) == []
    assert not app.state.upload_dir.exists()  # removed when the server shuts down


# ---------------------------------------------------------------- admin token


def test_admin_endpoints_need_the_token(client):
    spec = {"name": "s1", "kind": "ab", "models": ["model", "baseline"], "queries": [{"track": "c-piano"}]}
    assert client.post("/api/admin/sessions", json=spec).status_code == 401
    assert client.post("/api/admin/sessions", json=spec, headers={ADMIN_HEADER: "wrong-token!"}).status_code == 401
    assert client.get("/api/admin/export").status_code == 401
    assert client.get("/api/admin/export", headers={ADMIN_HEADER: TOKEN[:-1]}).status_code == 401
    assert client.post("/api/admin/sessions", json=spec, headers=admin()).status_code == 200
    assert client.get("/api/admin/export", headers=admin()).status_code == 200
    bad = dict(spec, extra_key=1)
    assert client.post("/api/admin/sessions", json=bad, headers=admin()).status_code == 422
    unknown_model = dict(spec, models=["model", "gpt-9"])
    r = client.post("/api/admin/sessions", json=unknown_model, headers=admin())
    assert r.status_code == 422 and "gpt-9" in r.json()["detail"]


def test_admin_sessions_yaml(client):
    text = "- {name: y1, kind: triplet}\n- {name: y2, kind: ab, queries: [{text: calm}]}\n"
    assert client.post("/api/admin/sessions/yaml", content=text).status_code == 401
    r = client.post("/api/admin/sessions/yaml", content=text, headers=admin())
    assert r.status_code == 200 and r.json()["sessions"] == ["y1", "y2"]
    assert {s["name"] for s in client.get("/api/info").json()["sessions"]} == {"y1", "y2"}
    bad = client.post("/api/admin/sessions/yaml", content="- {name: y3, kind: quiz}\n", headers=admin())
    assert bad.status_code == 422 and "kind" in bad.json()["detail"]
    assert client.post("/api/admin/sessions/yaml", content="a: [", headers=admin()).status_code == 422


def test_short_admin_token_is_refused(engines, tmp_path):
    with pytest.raises(ConfigError, match="at least 8"):
        create_app(engines[0], db_path=tmp_path / "x.db", admin_token="abc")


# ---------------------------------------------------------------- A/B


def _ab_session(client, **kw):
    spec = {"name": "pilot", "kind": "ab", "models": ["model", "baseline"], "list_length": 3, "trials_per_rater": 3,
            "queries": [{"track": "c-piano"}, {"text": "E major"}], **kw}
    assert client.post("/api/admin/sessions", json=spec, headers=admin()).status_code == 200


def test_ab_trial_is_blinded_and_the_judgement_records_models_and_versions(client):
    _ab_session(client)
    assert [s["name"] for s in client.get("/api/info").json()["sessions"]] == ["pilot"]
    trial = client.get("/api/ab/next", params={"session": "pilot", "rater": "ann"}).json()
    text = json.dumps(trial)
    assert "baseline" not in text and "model-v1" not in text and "model" not in trial["lists"]["A"][0]
    assert len(trial["lists"]["A"]) == len(trial["lists"]["B"]) == 3
    r = client.post("/api/ab/judgement", json={"trial_id": trial["trial_id"], "rater": "ann", "choice": "A"})
    assert r.status_code == 200
    row = client.app_state.store.rows("ab")[0]
    served = client.app_state.store.ab_trial(trial["trial_id"])
    assert row["winner"] == served["left_model"]  # "A" is the left list, whichever model that was
    assert {row["left_model"], row["right_model"]} == {"model", "baseline"}
    versions = {row["left_model"]: row["left_model_version"], row["right_model"]: row["right_model_version"]}
    assert versions == {"model": "model-v1", "baseline": "baseline-v0"}
    assert row["left_ids"] == [t["id"] for t in trial["lists"]["A"]]
    assert row["rater"] == "ann" and row["session"] == "pilot" and row["created"] > 0
    # double submission, someone else's trial, unknown trial
    again = client.post("/api/ab/judgement", json={"trial_id": trial["trial_id"], "rater": "ann", "choice": "B"})
    assert again.status_code == 409 and "already judged" in again.json()["detail"]
    other = client.get("/api/ab/next", params={"session": "pilot", "rater": "bob"}).json()
    stolen = client.post("/api/ab/judgement", json={"trial_id": other["trial_id"], "rater": "ann", "choice": "A"})
    assert stolen.status_code == 409
    missing = client.post("/api/ab/judgement", json={"trial_id": "0" * 32, "rater": "ann", "choice": "A"})
    assert missing.status_code == 409


def test_ab_left_right_order_is_randomised(client):
    _ab_session(client, trials_per_rater=100)
    lefts = set()
    for i in range(24):
        t = client.get("/api/ab/next", params={"session": "pilot", "rater": f"r{i}"}).json()
        lefts.add(client.app_state.store.ab_trial(t["trial_id"])["left_model"])
    assert lefts == {"model", "baseline"}  # (1/2)^23 chance of a false failure


def test_ab_rating_mode_and_trials_per_rater(client):
    _ab_session(client, mode="rating", trials_per_rater=2)
    for expected_done in range(2):
        t = client.get("/api/ab/next", params={"session": "pilot", "rater": "cy"}).json()
        assert t["mode"] == "rating" and t["progress"]["done"] == expected_done
        bad = client.post("/api/ab/judgement", json={"trial_id": t["trial_id"], "rater": "cy", "rating_a": 6,
                                                     "rating_b": 1})
        assert bad.status_code == 422
        half = client.post("/api/ab/judgement", json={"trial_id": t["trial_id"], "rater": "cy", "rating_a": 4})
        assert half.status_code == 422
        ok = client.post("/api/ab/judgement", json={"trial_id": t["trial_id"], "rater": "cy", "rating_a": 2,
                                                    "rating_b": 5})
        assert ok.status_code == 200
    assert client.get("/api/ab/next", params={"session": "pilot", "rater": "cy"}).json()["done"] is True
    rows = client.app_state.store.rows("ab")
    assert all(r["winner"] == r["right_model"] and r["choice"] is None for r in rows)


def test_unknown_session_and_bad_rater_are_refused(client):
    r = client.get("/api/ab/next", params={"session": "nope", "rater": "ann"})
    assert r.status_code == 404 and "available" in r.json()["detail"]
    assert client.get("/api/ab/next", params={"session": "nope", "rater": "../x"}).status_code == 422


# ---------------------------------------------------------------- triplets


def test_triplet_flow_records_versions(client):
    t = client.get("/api/triplet/next", params={"rater": "ann"}).json()
    assert len({t["anchor"]["id"], t["b"]["id"], t["c"]["id"]}) == 3
    j = {"session": "open", "rater": "ann", "anchor": t["anchor"]["id"], "b": t["b"]["id"], "c": t["c"]["id"],
         "choice": "c"}
    assert client.post("/api/triplet/judgement", json=j).status_code == 200
    row = client.app_state.store.rows("triplets")[0]
    assert row["positive"] == t["c"]["id"] and row["negative"] == t["b"]["id"]
    assert row["model_version"] == "model-v1" and row["index_version"].startswith("memory-")
    assert client.post("/api/triplet/judgement", json=dict(j, b="no-such-track")).status_code == 404
    assert client.post("/api/triplet/judgement", json=dict(j, c=j["b"])).status_code == 409
    assert client.post("/api/triplet/judgement", json=dict(j, session="ghost")).status_code == 404


def test_active_triplet_asks_the_most_uncertain_pair(client, engines):
    model, baseline = engines
    for _ in range(5):
        t = client.get("/api/triplet/next", params={"rater": "ann", "strategy": "active"}).json()
        assert t["source"] == "active"
        anchor = t["anchor"]["id"]
        path = model.track(anchor)["audio_path"]
        scores = {h.track_id: h.score for h in model.search(audio=path, k=8, exclude={anchor})}
        other = {h.track_id: h.score for h in baseline.search(audio=path, k=50, exclude={anchor})}
        best = rank_pairs(anchor, scores, other_scores=other, n=1)[0]
        assert {t["b"]["id"], t["c"]["id"]} == {best.b, best.c}


def test_triplet_session_limits_and_anchors(client):
    spec = {"name": "trip", "kind": "triplet", "trials_per_rater": 1, "queries": [{"track": "g-organ"}]}
    assert client.post("/api/admin/sessions", json=spec, headers=admin()).status_code == 200
    t = client.get("/api/triplet/next", params={"rater": "dee", "session": "trip"}).json()
    assert t["anchor"]["id"] == "g-organ" and t["progress"] == {"done": 0, "total": 1}
    j = {"session": "trip", "rater": "dee", "anchor": "g-organ", "b": t["b"]["id"], "c": t["c"]["id"], "choice": "b"}
    assert client.post("/api/triplet/judgement", json=j).status_code == 200
    assert client.get("/api/triplet/next", params={"rater": "dee", "session": "trip"}).json()["done"] is True
    extra = client.post("/api/triplet/judgement", json=dict(j, b=t["c"]["id"], c=t["b"]["id"]))
    assert extra.status_code == 409 and "finished" in extra.json()["detail"]


# ---------------------------------------------------------------- export


def test_export_csv_and_jsonl(client):
    for choice in ("b", "c"):
        j = {"rater": "ann", "anchor": "c-piano", "b": "e-piano", "c": "g-piano", "choice": choice}
        client.post("/api/triplet/judgement", json=j)
    csv_text = client.get("/api/admin/export", params={"table": "triplets", "format": "csv"}, headers=admin()).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,session,rater,created,anchor,b,c,choice,positive,negative,model_version")
    assert len(lines) == 3
    jsonl = client.get("/api/admin/export", params={"table": "triplets", "format": "jsonl"}, headers=admin()).text
    rows = [json.loads(x) for x in jsonl.splitlines()]
    assert [r["positive"] for r in rows] == ["e-piano", "g-piano"]
    assert client.get("/api/admin/export", params={"table": "users"}, headers=admin()).status_code == 422


# ---------------------------------------------------------------- sessions file and helpers


def test_sessions_yaml(tmp_path):
    path = tmp_path / "sessions.yaml"
    path.write_text("sessions:\n  - name: a\n    kind: ab\n    queries: [{track: t1}, {text: calm}]\n"
                    "  - {name: t, kind: triplet, strategy: active}\n")
    specs = load_sessions(path)
    assert [s.name for s in specs] == ["a", "t"] and specs[0].models == ["model", "baseline"]
    assert specs[0].queries[1].kind == "text"
    with pytest.raises(ConfigError, match=r"session 0: trials_per_rater.*Valid keys"):
        parse_sessions({"name": "x", "queries": [{"track": "t"}], "trials_per_rater": 0}, source="f.yaml")
    with pytest.raises(ConfigError, match="colour"):
        parse_sessions({"name": "x", "queries": [{"track": "t"}], "colour": "red"})
    with pytest.raises(ConfigError, match="exactly one of track, text, lyrics"):
        parse_sessions({"name": "x", "queries": [{"track": "t", "text": "u"}]})
    with pytest.raises(ConfigError, match="two different models"):
        parse_sessions({"name": "x", "models": ["model", "model"], "queries": [{"track": "t"}]})
    with pytest.raises(ConfigError, match="repeat"):
        parse_sessions([{"name": "x", "kind": "triplet"}, {"name": "x", "kind": "triplet"}])
    with pytest.raises(ConfigError, match="not found"):
        load_sessions(tmp_path / "missing.yaml")


def test_shipped_example_sessions_file_is_valid():
    from pathlib import Path

    import sapphire_core.feedback

    specs = load_sessions(Path(sapphire_core.feedback.__file__).with_name("example_sessions.yaml"))
    assert [(s.name, s.kind) for s in specs] == [("pilot-ab", "ab"), ("pilot-triplets", "triplet")]
    assert [q.kind for q in specs[0].queries] == ["track", "text", "lyrics"] and specs[1].strategy == "active"


def test_create_app_checks_session_models(engines, tmp_path):
    spec = SessionSpec(name="s", models=["model", "baseline"], queries=[{"track": "c-piano"}])
    with pytest.raises(ConfigError, match="baseline"):
        create_app(engines[0], db_path=tmp_path / "x.db", admin_token=TOKEN, sessions=[spec])


def test_public_metadata_drops_paths_and_bulk():
    from sapphire_core.webapp.engine import public_metadata

    meta = {"title": "x", "audio": "a.wav", "audio_path": "/abs/a.wav", "lyrics_path": "l.txt",
            "source_path": "bach/x.mxl", "melody": [[0.0, 0.5, 60]] * 40, "instrumentation": ["Choir Aahs"],
            "extra": {"nested": 1}, "tempo_bpm": 76.0}
    assert public_metadata(meta) == {"title": "x", "instrumentation": ["Choir Aahs"], "tempo_bpm": 76.0}


def test_memory_engine_features_are_analytic():
    # A C-major triad's chroma has its energy on C, E and G (pitch classes 0, 4, 7).
    v = audio_features(signals.chord([60, 64, 67], sr=22050, seconds=1.0, harmonics=1), 22050)
    assert set(np.argsort(v[:12])[-3:]) == {0, 4, 7}
    assert np.isclose(np.linalg.norm(v[:12]), 1.0) and np.isclose(np.linalg.norm(v[12:]), 1.0)


def test_serve_binds_to_loopback_by_default():
    import typer

    from sapphire_core.cli import app

    command = typer.main.get_command(app).commands["serve"]
    params = {p.name: p.default for p in command.params}
    assert params["host"] == "127.0.0.1"
