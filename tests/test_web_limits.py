"""The web app's limits (issue 19): body, URL and header caps, small error answers, unknown query
parameters, the per-rater limit under concurrent requests, and bounded YAML parsed off the event loop."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from sapphire_core.testing import signals
from sapphire_core.webapp import create_app, limits
from sapphire_core.webapp.app import ADMIN_HEADER
from sapphire_core.webapp.routes import admin as admin_routes
from sapphire_core.webapp.server import serve_in_thread

TOKEN = "test-admin-token"
MB = 1024 * 1024


@pytest.fixture
def web_corpus(write_corpus):
    """Six 0.5 s triads, served by the shared ``engines`` fixture (tests/conftest.py)."""
    return write_corpus({f"t{i}": (signals.chord([60 + i, 64 + i, 67 + i], sr=22050, seconds=0.5), 22050,
                                   {"title": f"chord {i}"}) for i in range(6)})


@pytest.fixture
def app(engines, tmp_path):
    model, baseline = engines
    return create_app(model, db_path=tmp_path / "fb.db", admin_token=TOKEN, baseline_engine=baseline,
                      max_upload_bytes=200_000)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def admin():
    return {ADMIN_HEADER: TOKEN}


# ------------------------------------------------------------------------------------ body caps


def test_json_bodies_are_capped_by_length_and_by_streamed_bytes(client):
    small = client.post("/api/search", json={"text": "a calm chord", "k": 2})
    assert small.status_code == 200
    big = b'{"text": "' + b"x" * (limits.MAX_JSON_BYTES + 10) + b'"}'
    r = client.post("/api/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and str(limits.MAX_JSON_BYTES) in r.json()["detail"]
    assert len(r.content) < 300 and r.headers["x-content-type-options"] == "nosniff"

    def chunked(total: int):  # no Content-Length: the middleware counts the bytes as they arrive
        yield b'{"text": "'
        for _ in range(total // 65536):
            yield b"x" * 65536

    for route in ("/api/search", "/api/similar", "/api/ab/judgement", "/api/admin/sessions"):
        r = client.post(route, content=chunked(20 * MB), headers={"content-type": "application/json", **admin()})
        assert r.status_code == 413, route
        assert len(r.content) < 300
    # the same mechanism caps uploads (at max_upload_bytes) and the sessions YAML (at MAX_YAML_BYTES)
    r = client.post("/api/search/audio", content=b"RIFF" + b"\0" * 300_000)
    assert r.status_code == 413 and "200000 byte limit" in r.json()["detail"]
    r = client.post("/api/admin/sessions/yaml", content=chunked(2 * MB), headers=admin())
    assert r.status_code == 413 and str(limits.MAX_YAML_BYTES) in r.json()["detail"]


def test_body_cap_is_a_create_app_parameter(engines, tmp_path):
    app = create_app(engines[0], db_path=tmp_path / "fb.db", admin_token=TOKEN, max_json_bytes=100)
    with TestClient(app) as c:
        assert c.post("/api/search", json={"text": "c"}).status_code == 200
        assert c.post("/api/search", json={"text": "c" * 200}).status_code == 413


# --------------------------------------------------------------------------- no echo of large input


def test_a_20_mb_invalid_body_gets_a_small_answer(client):
    body = b"[" + b"1," * (10 * MB)  # invalid JSON, 20 MB
    r = client.post("/api/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 300


@pytest.mark.parametrize("route,payload", [
    ("/api/search", {"text": "x" * 900_000}),                      # too long a string
    ("/api/search", {"text": "calm", "k": "y" * 900_000}),         # not an int
    ("/api/similar", {"seeds": ["t0"] * 50_000}),                   # too long a list
    ("/api/similar", {"seeds": [{"z": "w" * 1000}] * 500}),         # many invalid items
    ("/api/ab/judgement", {"trial_id": "0" * 32, "rater": "r", "choice": "A", "q" * 800_000: 1}),  # unknown key
])
def test_validation_errors_echo_at_most_200_bytes_of_input(client, route, payload):
    r = client.post(route, json=payload)
    assert r.status_code == 422
    assert len(r.content) < 8_000, len(r.content)  # FastAPI's default answer repeats the whole input
    echoed = [e for e in r.json()["detail"] if "input" in e]
    assert sum(len(json.dumps(e["input"])) for e in echoed) <= limits.MAX_ECHO_BYTES
    assert all({"type", "loc", "msg"} <= set(e) for e in r.json()["detail"])


def test_invalid_json_and_other_error_messages_are_short(client):
    r = client.post("/api/search", content=b'{"text": ' + b"a" * 900_000,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and len(r.content) < 1000 and r.json()["detail"][0]["type"] == "json_invalid"
    weights = {f"nonsense-{i}-" + "w" * 50: 1.0 for i in range(10_000)}
    r = client.post("/api/search", json={"text": "calm", "weights": weights})
    assert r.status_code == 422 and "and 9997 more" in r.json()["detail"] and len(r.content) < 1000
    r = client.get("/api/audio", params={"id": "n" * 250})
    assert r.status_code == 404 and len(r.content) < 300
    r = client.get("/api/info", params={"p" * 7000: "v" * 1000})
    assert r.status_code == 422 and len(r.content) < 1000


# --------------------------------------------------------------------------------- query params


def test_unknown_query_parameters_are_refused_by_name(client):
    r = client.get("/api/info", params={"foo": "1"})
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["type"] == "extra_forbidden" and err["loc"] == ["query", "foo"] and "foo" in err["msg"]
    assert client.get("/api/info").status_code == 200
    r = client.get("/api/admin/counts", params={"verbose": "1"}, headers=admin())
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "verbose"]
    r = client.post("/api/search", params={"debug": "1"}, json={"text": "calm"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "debug"]
    r = client.get("/api/triplet/next", params={"rater": "r1", "strategy": "random", "strtegy": "active"})
    assert r.status_code == 422 and "strategy" in r.json()["detail"][0]["msg"]  # lists the valid ones
    # declared parameters still work, and pages ignore query strings (links add their own)
    assert client.get("/api/audio", params={"id": "t0"}).status_code == 200
    assert client.get("/api/triplet/next", params={"rater": "r1", "strategy": "random"}).status_code == 200
    assert client.get("/", params={"utm_source": "mail"}).status_code == 200


# ------------------------------------------------------------------------------ URLs and headers


def test_oversized_urls_and_headers_get_414_and_431(client):
    r = client.get("/api/audio", params={"id": "u" * (limits.MAX_URL_BYTES + 1)})
    assert r.status_code == 414 and str(limits.MAX_URL_BYTES) in r.json()["detail"]
    r = client.get("/api/info", headers={"x-big": "h" * (limits.MAX_HEADER_BYTES + 1)})
    assert r.status_code == 431 and str(limits.MAX_HEADER_BYTES) in r.json()["detail"]
    assert client.get("/api/info", headers={"x-ok": "h" * 4000}).status_code == 200


def _raw_request(base_url: str, head: bytes) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.timeout(120)
def test_a_real_server_answers_a_1_mb_url_or_header_instead_of_resetting(app):
    with serve_in_thread(app) as base:
        answer = _raw_request(base, b"GET /api/info HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * MB + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        answer = _raw_request(base, b"GET /api/audio?id=" + b"u" * MB + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 414"), answer[:100]
        answer = _raw_request(base, b"GET /api/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200")


# ------------------------------------------------------------------ the per-rater limit, atomically


def _ab_session(client, limit):
    spec = {"name": "race", "kind": "ab", "models": ["model", "baseline"], "list_length": 2,
            "trials_per_rater": limit, "queries": [{"track": "t0"}, {"text": "calm"}, {"track": "t3"}]}
    assert client.post("/api/admin/sessions", json=spec, headers=admin()).status_code == 200


def test_ab_limit_holds_under_concurrent_requests(client, app):
    _ab_session(client, limit=3)
    start = threading.Barrier(16)

    def rater_tab(_):
        start.wait()  # all "tabs" ask at once: the race that served 8 trials against a limit of 3
        judged = 0
        for _ in range(6):
            t = client.get("/api/ab/next", params={"session": "race", "rater": "ann"}).json()
            if t["done"]:
                break
            r = client.post("/api/ab/judgement", json={"trial_id": t["trial_id"], "rater": "ann", "choice": "A"})
            judged += r.status_code == 200
        return judged

    with ThreadPoolExecutor(16) as pool:
        judged = sum(pool.map(rater_tab, range(16)))
    store = app.state.store
    assert judged == 3
    assert store.count_ab(session="race", rater="ann") == 3
    assert store.count_ab_trials(session="race", rater="ann") == 3
    assert client.get("/api/ab/next", params={"session": "race", "rater": "ann"}).json()["done"] is True
    # another rater is unaffected
    assert client.get("/api/ab/next", params={"session": "race", "rater": "bob"}).json()["done"] is False


def test_a_reload_gets_the_same_unjudged_trial(client):
    _ab_session(client, limit=2)
    first = client.get("/api/ab/next", params={"session": "race", "rater": "cy"}).json()
    again = client.get("/api/ab/next", params={"session": "race", "rater": "cy"}).json()
    assert again["trial_id"] == first["trial_id"] and again["lists"] == first["lists"]
    assert again["query"] == first["query"]


def test_triplet_limit_holds_under_concurrent_posts(client, app):
    spec = {"name": "trip", "kind": "triplet", "trials_per_rater": 3}
    assert client.post("/api/admin/sessions", json=spec, headers=admin()).status_code == 200
    start = threading.Barrier(12)

    def post(i):
        start.wait()
        j = {"session": "trip", "rater": "dee", "anchor": "t0", "b": "t1", "c": "t2", "choice": "bc"[i % 2]}
        return client.post("/api/triplet/judgement", json=j).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(post, range(12)))
    assert sorted(codes) == [200] * 3 + [409] * 9
    assert app.state.store.count_triplets(session="trip", rater="dee") == 3


# ------------------------------------------------------------------------------------ sessions YAML


def test_yaml_with_100000_aliases_gets_a_clear_400(client):
    doc = "v: &a calm\nw: [" + ", ".join(["*a"] * 100_000) + "]\n"
    r = client.post("/api/admin/sessions/yaml", content=doc, headers=admin())
    assert r.status_code == 400
    assert "more than 100 aliases" in r.json()["detail"] and "line 2" in r.json()["detail"]
    r = client.post("/api/admin/sessions/yaml", content="[" * 100 + "]" * 100, headers=admin())
    assert r.status_code == 400 and "deeper than 64" in r.json()["detail"]
    r = client.post("/api/admin/sessions/yaml", content="[" * 5000, headers=admin())  # libyaml's own limit
    assert r.status_code in (400, 422) and any(w in r.json()["detail"] for w in ("deeper", "depth"))
    r = client.post("/api/admin/sessions/yaml", content="- &s {name: y0, queries: [*s]}\n", headers=admin())
    assert r.status_code == 400 and "recursive" in r.json()["detail"]
    r = client.post("/api/admin/sessions/yaml", content=b"- {name: \xff}\n", headers=admin())
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
    ok = "defaults: &d {kind: triplet, trials_per_rater: 4}\n"
    assert client.post("/api/admin/sessions/yaml", content=ok, headers=admin()).status_code == 422  # not a session
    ok = "- &d {name: y1, kind: triplet}\n- {name: y2, kind: ab, queries: [{text: calm}]}\n"
    r = client.post("/api/admin/sessions/yaml", content=ok, headers=admin())
    assert r.status_code == 200 and r.json()["sessions"] == ["y1", "y2"]


def test_bounded_loader_counts_aliases_before_expanding():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(limits.LimitError, match="expands to more than 100000 values"):
        limits.load_untrusted_yaml(laughs)  # 72 aliases, under the alias limit, but 9**9 values
    with pytest.raises(limits.LimitError, match="more than 5 aliases"):
        limits.load_untrusted_yaml(laughs, max_aliases=5)
    assert limits.load_untrusted_yaml("a: &a [1, 2]\nb: *a\nc: *a\n") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    assert limits.load_untrusted_yaml("a: [*x]\n".replace("*x", "1"), max_aliases=0) == {"a": [1]}


def test_yaml_is_parsed_off_the_event_loop(client, monkeypatch):
    """While one upload is being parsed, other requests are answered (no timing: an event orders it)."""
    parsing, release = threading.Event(), threading.Event()
    real = admin_routes.load_untrusted_yaml

    def slow_loader(text):
        parsing.set()
        release.wait(timeout=60)  # stands in for a document that takes long to parse
        return real(text)

    monkeypatch.setattr(admin_routes, "load_untrusted_yaml", slow_loader)
    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(client.post, "/api/admin/sessions/yaml", content="- {name: y9, kind: triplet}\n",
                             headers=admin())
        assert parsing.wait(timeout=60)
        info = client.get("/api/info")  # would wait for the parse if it ran on the event loop
        still_parsing = not release.is_set() and not upload.done()
        release.set()
        assert upload.result().status_code == 200
    assert info.status_code == 200 and still_parsing
