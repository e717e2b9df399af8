"""Description backends: the offline grammar, and the openai backend against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sapphire_core.data import Track
from sapphire_core.describe import BACKENDS, DescriptionError, OpenAIDescriber, TemplateDescriber
from sapphire_core.describe.corpus import describe_corpus, load_descriptions
from sapphire_core.describe.facts import tempo_class, track_facts

BACH = Track(id="bach_bwv227__v1", lyrics="Jesu, meine Freude, meines Herzens Weide, Jesu, meine Zier. Freude!",
             language="de", metadata=dict(era="baroque", composer="J. S. Bach", form="chorale", key="G major",
                                          mode="major", meter="4/4", tempo_bpm=70.0, instrumentation=["Church Organ"],
                                          instrument_family="organ", effects=["reverb"]))
REEL = Track(id="reel__v0", metadata=dict(era="folk", form="reel", key="E minor", mode="minor", meter="6/8",
                                          tempo_bpm=150.0, instrumentation=["Violin"], instrument_family="strings"))


def test_backends_registered():
    assert [b.name for b in BACKENDS] == ["template", "openai"]


def test_facts_and_tempo_classes():
    assert (tempo_class(60), tempo_class(100), tempo_class(150), tempo_class(None)) == ("slow", "medium", "fast", None)
    f = track_facts(BACH)
    assert f["tempo_class"] == "slow" and f["instruments"] == ["Church Organ"] and f["language"] == "de"
    assert "freude" in f["lyric_themes"] and "jesu" in f["lyric_themes"]
    assert track_facts(REEL)["has_lyrics"] is False


def test_template_is_varied_faithful_and_seeded():
    d = TemplateDescriber()
    texts = d.describe(BACH, {}, n=5, seed=0)
    assert len(set(texts)) == 5
    assert all("Bach" in t for t in texts)  # the opening always names the composer
    joined = " ".join(texts)
    assert "G major" in joined and ("organ" in joined.lower())
    assert d.describe(BACH, {}, n=5, seed=0) == texts
    assert d.describe(BACH, {}, n=5, seed=1) != texts
    reel = " ".join(d.describe(REEL, {}, n=6))
    assert "instrumental" in reel.lower() or "no lyrics" in reel.lower()
    assert "E minor" in reel and "reel" in reel.lower()
    # minor + fast -> one of the restless/dramatic/urgent moods, never a major-key mood
    assert not any(w in reel for w in ("joyful", "serene", "cheerful"))


def test_describe_corpus_writes_and_reads(write_corpus, sine_wave):
    root = write_corpus({"a__v0": (sine_wave(440.0, sr=8000, seconds=0.5), 8000, {"era": "romantic", "form": "song",
                                                                                  "work_id": "a", "mode": "minor"})})
    path = describe_corpus(root, backend="template", per_track=2)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["id"] == "a__v0" and lines[0]["backend"] == "template" and len(lines[0]["descriptions"]) == 2
    assert load_descriptions(root) == {"a__v0": lines[0]["descriptions"]}


# ---------------------------------------------------------------- a real OpenAI-protocol server


class FakeLLM:
    """A stdlib HTTP server speaking /v1/chat/completions; replies follow a script, then a default."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[tuple[int, object]] = []
        self.default: tuple[int, object] = (200, None)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, content = owner.script.pop(0) if owner.script else owner.default
                if status != 200:
                    data = json.dumps({"error": {"message": "busy"}}).encode()
                else:
                    if content is None:
                        n = int(body["messages"][1]["content"].split(" different")[0].split()[-1])
                        content = json.dumps({"descriptions": [f"A calm organ chorale, take {i}." for i in range(n)]})
                    data = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                                       "choices": [{"index": 0, "finish_reason": "stop",
                                                    "message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.close()


def make(llm, tmp_path, **kw):
    settings = dict(url=llm.url, model="tiny", api_key="sk-test", cache_dir=str(tmp_path / "llm"), backoff_s=0.01,
                    requests_per_minute=0)
    settings.update(kw)
    return OpenAIDescriber(**settings)


def test_openai_protocol_and_cache_hit(llm, tmp_path):
    d = make(llm, tmp_path)
    out = d.describe(BACH, {}, n=2, seed=3)
    assert out == ["A calm organ chorale, take 0.", "A calm organ chorale, take 1."]
    req = llm.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny" and req["body"]["seed"] == 3
    assert req["body"]["messages"][0]["role"] == "system" and "J. S. Bach" in req["body"]["messages"][1]["content"]
    # A rerun, even from a new backend object, is answered from the disk cache: the server sees nothing.
    again = make(llm, tmp_path).describe(BACH, {}, n=2, seed=3)
    assert again == out and len(llm.requests) == 1
    assert "sk-test" not in "".join(p.read_text() for p in (tmp_path / "llm").rglob("*.json"))


def test_openai_retries_after_500_and_429(llm, tmp_path):
    llm.script = [(500, None), (429, None)]
    d = make(llm, tmp_path)
    assert len(d.describe(REEL, {}, n=2)) == 2
    assert len(llm.requests) == 3 and d.requests_sent == 3


def test_openai_rejects_bad_output_then_accepts_good(llm, tmp_path):
    llm.script = [(200, "Sure! Here are some descriptions: a calm piece."),
                  (200, json.dumps({"descriptions": ["only one description here"]}))]
    d = make(llm, tmp_path)
    assert len(d.describe(REEL, {}, n=2)) == 2
    assert len(llm.requests) == 3


def test_openai_gives_up_on_persistent_bad_output(llm, tmp_path):
    llm.default = (200, json.dumps({"descriptions": ["short"]}))
    d = make(llm, tmp_path, max_retries=2)
    with pytest.raises(DescriptionError, match="no valid descriptions after 3 attempts.*10-1200 characters"):
        d.describe(REEL, {}, n=1)
    assert len(llm.requests) == 3
    assert not list((tmp_path / "llm").rglob("*.json"))  # nothing invalid is cached


def test_openai_non_retryable_and_config_errors(llm, tmp_path, monkeypatch):
    llm.default = (401, None)
    with pytest.raises(DescriptionError, match="HTTP 401.*SAPPHIRE_LLM_API_KEY"):
        make(llm, tmp_path).describe(REEL, {}, n=1)
    assert len(llm.requests) == 1
    monkeypatch.delenv("SAPPHIRE_LLM_URL", raising=False)
    with pytest.raises(DescriptionError, match="SAPPHIRE_LLM_URL"):
        OpenAIDescriber(model="m")
    monkeypatch.setenv("SAPPHIRE_LLM_URL", llm.url)
    monkeypatch.setenv("SAPPHIRE_LLM_MODEL", "from-env")
    assert OpenAIDescriber(cache_dir=str(tmp_path)).model == "from-env"


def test_openai_chain_of_thought_prompt_and_unreachable(tmp_path):
    d = OpenAIDescriber(url="http://127.0.0.1:9/v1", model="m", prompt="chain_of_thought", cache_dir=str(tmp_path),
                        max_retries=1, backoff_s=0.0, timeout_s=2)
    assert "reasoning" in d.messages(REEL, {}, 2)[1]["content"]
    with pytest.raises(DescriptionError, match="ConnectError"):
        d.describe(REEL, {}, n=1)


def test_rate_limit_spaces_requests(llm, tmp_path):
    import time

    d = make(llm, tmp_path, requests_per_minute=600)  # 0.1 s apart
    start = time.monotonic()
    d.describe(BACH, {}, n=1, seed=0)
    d.describe(BACH, {}, n=1, seed=1)
    d.describe(BACH, {}, n=1, seed=2)
    assert time.monotonic() - start >= 0.2 and len(llm.requests) == 3


def test_describe_corpus_with_openai_resumes_from_cache(llm, tmp_path, write_corpus, sine_wave, monkeypatch):
    root = write_corpus({f"w{i}__v0": (sine_wave(440.0, sr=8000, seconds=0.3), 8000, {"form": f"song {i}"})
                         for i in range(3)})
    monkeypatch.setenv("SAPPHIRE_LLM_URL", llm.url)
    monkeypatch.setenv("SAPPHIRE_LLM_MODEL", "tiny")
    describe_corpus(root, backend="openai", per_track=2, settings={"requests_per_minute": 0})
    assert len(llm.requests) == 3
    (root / "descriptions.jsonl").unlink()
    describe_corpus(root, backend="openai", per_track=2, settings={"requests_per_minute": 0})
    assert len(llm.requests) == 3 and len(load_descriptions(root)) == 3
