"""The ``openai`` description backend: any OpenAI-compatible ``/v1/chat/completions`` endpoint
(vLLM, llama.cpp server, Ollama, a hosted API).

- Endpoint, model and key come from the config or from ``SAPPHIRE_LLM_URL``, ``SAPPHIRE_LLM_MODEL``
  and ``SAPPHIRE_LLM_API_KEY`` (the key is never part of a cache key or a log line).
- Prompts are files under ``sapphire_core/describe/prompts/`` (``few_shot``, ``chain_of_thought``),
  filled with the track's facts (:func:`sapphire_core.describe.facts.track_facts`).
- Requests time out, are retried with exponential backoff on 429, 5xx, timeouts and connection
  errors (honouring ``Retry-After``), and are spaced by a rate limit.
- The answer must be JSON ``{"descriptions": [...]}``; it is validated with pydantic and a bad answer
  is asked again. Validated answers are cached on disk by a hash of the request, so a rerun sends
  nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator

from sapphire_core.component import ComponentConfig
from sapphire_core.data import Track
from sapphire_core.describe.facts import track_facts
from sapphire_core.describer import DescriptionBackend
from sapphire_core.errors import SapphireError

PROMPTS_DIR = Path(__file__).parent / "prompts"
PROMPTS = ("few_shot", "chain_of_thought")
ENV_URL, ENV_MODEL, ENV_KEY, ENV_CACHE = ("SAPPHIRE_LLM_URL", "SAPPHIRE_LLM_MODEL", "SAPPHIRE_LLM_API_KEY",
                                          "SAPPHIRE_LLM_CACHE")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class DescriptionError(SapphireError):
    """A description backend could not produce valid descriptions (unreachable server, bad answers)."""


class LLMAnswer(BaseModel):
    """The JSON the model must answer with."""

    reasoning: str | None = None
    descriptions: list[str] = Field(..., min_length=1)

    @field_validator("descriptions")
    @classmethod
    def _fluent(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in value]
        for text in cleaned:
            if not 10 <= len(text) <= 1200:
                raise ValueError(f"each description must be 10-1200 characters; got {len(text)}: {text[:60]!r}")
        return cleaned


def load_prompt(name: str) -> Template:
    """The prompt template ``prompts/<name>.txt`` (``$facts`` and ``$n`` are filled in).

    Raises
    ------
    DescriptionError
        For an unknown name, listing the available prompts.
    """
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise DescriptionError(f"{path}: no prompt {name!r}; available: {', '.join(PROMPTS)}")
    return Template(path.read_text(encoding="utf-8"))


def parse_answer(content: str, *, n: int) -> list[str]:
    """Validate a model answer and return exactly ``n`` descriptions.

    Raises
    ------
    ValueError
        When the answer is not the expected JSON, or has fewer than ``n`` valid descriptions.
    """
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    elif not text.startswith("{") and "{" in text:
        text = text[text.index("{"): text.rindex("}") + 1]
    try:
        answer = LLMAnswer.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"answer is not the expected JSON ({exc.errors()[0]['msg']}): {content[:120]!r}") from None
    unique = list(dict.fromkeys(answer.descriptions))
    if len(unique) < n:
        raise ValueError(f"answer has {len(unique)} distinct descriptions, {n} were asked for")
    return unique[:n]


class RateLimiter:
    """Spaces calls at least ``60 / per_minute`` seconds apart (thread-safe)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


class OpenAIDescriber(DescriptionBackend):
    """Descriptions from an LLM behind an OpenAI-compatible chat-completions endpoint."""

    name = "openai"

    class Config(ComponentConfig):
        url: str | None = Field(None, description=f"base URL (.../v1) or the full endpoint; default ${ENV_URL}")
        model: str | None = Field(None, description=f"model name; default ${ENV_MODEL}")
        api_key: str | None = Field(None, description=f"bearer token; default ${ENV_KEY}", repr=False)
        prompt: str = Field("few_shot", pattern="^(few_shot|chain_of_thought)$")
        temperature: float = Field(0.8, ge=0, le=2)
        max_tokens: int = Field(700, ge=16)
        timeout_s: float = Field(60.0, gt=0)
        max_retries: int = Field(4, ge=0)
        backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry")
        max_backoff_s: float = Field(30.0, ge=0)
        requests_per_minute: float = Field(60.0, ge=0, description="0 = no limit")
        cache_dir: str | None = Field(None, description=f"answer cache; default ${ENV_CACHE} or ~/.cache/sapphire/llm")

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config
        self.url = self._endpoint(c.url or os.environ.get(ENV_URL))
        self.model = c.model or os.environ.get(ENV_MODEL)
        if not self.model:
            raise DescriptionError(f"openai describer: no model; set {ENV_MODEL} or the backend's 'model' setting")
        self._key = c.api_key or os.environ.get(ENV_KEY)
        self.cache_dir = Path(c.cache_dir or os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "sapphire" / "llm")
        self.prompt = load_prompt(c.prompt)
        self.system = (PROMPTS_DIR / "system.txt").read_text(encoding="utf-8").strip()
        self.limiter = RateLimiter(c.requests_per_minute)
        self.requests_sent = 0
        self._client = None

    @staticmethod
    def _endpoint(url: str | None) -> str:
        if not url:
            raise DescriptionError(f"openai describer: no endpoint; set {ENV_URL} (e.g. http://localhost:8000/v1) "
                                   "or the backend's 'url' setting")
        url = url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    # ------------------------------------------------------------ request building and cache
    def messages(self, track: Track, features: dict[str, np.ndarray] | None, n: int) -> list[dict[str, str]]:
        """The chat messages for one track (system prompt + the filled template)."""
        facts = json.dumps(track_facts(track, features), ensure_ascii=False, sort_keys=True)
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.prompt.substitute(facts=facts, n=n)}]

    def cache_key(self, payload: dict[str, Any]) -> str:
        """Hash of everything that shapes the answer (endpoint, model, messages, sampling); never the key."""
        blob = json.dumps({"url": self.url, **payload}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, key: str, n: int) -> list[str] | None:
        path = self._cache_path(key)
        if not path.is_file():
            return None
        try:
            found = json.loads(path.read_text(encoding="utf-8"))["descriptions"]
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is simply asked again
        return found[:n] if len(found) >= n else None

    def _store(self, key: str, descriptions: list[str]) -> None:
        from sapphire_core.io import atomic_write_bytes

        atomic_write_bytes(self._cache_path(key), json.dumps(
            {"model": self.model, "descriptions": descriptions}, ensure_ascii=False).encode())

    # ------------------------------------------------------------ HTTP
    def _http(self):
        if self._client is None:
            import httpx

            headers = {"Content-Type": "application/json"}
            if self._key:
                headers["Authorization"] = f"Bearer {self._key}"
            self._client = httpx.Client(timeout=self.config.timeout_s, headers=headers)
        return self._client

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.config.max_backoff_s)
            except ValueError:
                pass
        return min(self.config.backoff_s * (2 ** attempt), self.config.max_backoff_s)

    def complete(self, payload: dict[str, Any], *, n: int) -> list[str]:
        """POST the request, retrying transient failures and invalid answers; return ``n`` descriptions.

        Raises
        ------
        DescriptionError
            After ``max_retries`` retries, or at once on a non-retryable HTTP error (401, 404, ...).
        """
        import httpx

        last = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt - 1, retry_after))
            retry_after = None
            self.limiter.wait()
            self.requests_sent += 1
            try:
                resp = self._http().post(self.url, json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code in RETRY_STATUS:
                retry_after = resp.headers.get("Retry-After")
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code >= 400:
                hint = f" (check {ENV_KEY})" if resp.status_code in (401, 403) else (
                    f" (check {ENV_URL} and {ENV_MODEL})" if resp.status_code == 404 else "")
                raise DescriptionError(f"{self.url}: HTTP {resp.status_code}{hint}: {resp.text[:300]}")
            try:
                content = resp.json()["choices"][0]["message"]["content"]
                return parse_answer(content or "", n=n)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"invalid answer: {exc}"
                continue
        raise DescriptionError(f"{self.url} (model {self.model}): no valid descriptions after "
                               f"{self.config.max_retries + 1} attempts; last problem: {last}")

    def describe(self, track: Track, features: dict[str, np.ndarray] | None = None, *, n: int = 1,
                 seed: int = 0) -> list[str]:
        payload = {"model": self.model, "messages": self.messages(track, features, n),
                   "temperature": self.config.temperature, "max_tokens": self.config.max_tokens, "seed": seed,
                   "response_format": {"type": "json_object"}}
        key = self.cache_key(payload)
        hit = self._cached(key, n)
        if hit is not None:
            return hit
        found = self.complete(payload, n=n)
        self._store(key, found)
        return found

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
