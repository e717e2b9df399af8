"""What every page of the web app shares: the engines, the judgement store, uploads, and their helpers.

One :class:`WebState` per app, kept in ``app.state.web``; routers reach it with ``Depends(web_state)``.
"""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from sapphire_core.errors import ConfigError
from sapphire_core.feedback.sessions import SessionSpec
from sapphire_core.feedback.store import FeedbackStore
from sapphire_core.webapp.engine import query_modes, subspace_names, track_record
from sapphire_core.webapp.limits import clip, declared_query_params

ADMIN_HEADER = "X-Admin-Token"
#: The always-available triplet session of the triplet page.
OPEN_SESSION = "open"
MAX_K = 50


@dataclass
class WebState:
    """The app's engines (``"model"`` first), store and limits.

    Attributes
    ----------
    engines : dict of str to engine
        ``"model"`` serves the search page; the others are compared in A/B sessions.
    store : FeedbackStore
    upload_dir : Path
        Private temporary folder of uploaded audio queries (deleted at shutdown).
    """

    engines: dict[str, Any]
    store: FeedbackStore
    upload_dir: Path
    admin_token: str
    title: str
    max_upload_bytes: int
    max_upload_seconds: float
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    #: List order must not be predictable by the listener.
    blind: random.Random = field(default_factory=random.SystemRandom)

    def __post_init__(self) -> None:
        self.locks = {name: threading.Lock() for name in self.engines}
        self.subspaces = subspace_names(self.engine)
        self.modes = query_modes(self.engine)

    @property
    def engine(self) -> Any:
        return self.engines["model"]

    def search(self, name: str, **kwargs: Any) -> list[Any]:
        """Search engine ``name``; one query at a time per engine (models are not thread-safe)."""
        with self.locks[name]:
            return self.engines[name].search(**kwargs)

    def add_session(self, spec: SessionSpec) -> None:
        """Store a listening-test session.

        Raises
        ------
        ConfigError
            When an A/B session names a model this server does not have.
        """
        missing = [m for m in spec.models if m not in self.engines] if spec.kind == "ab" else []
        if missing:
            raise ConfigError(f"session {spec.name!r} names model(s) {', '.join(missing)}; this server has "
                              f"{', '.join(self.engines)}")
        self.store.put_session(spec.model_dump(mode="json"))

    def lookup(self, track_id: str) -> dict[str, Any] | None:
        """A track's record from the first engine that holds it."""
        for eng in self.engines.values():
            rec = track_record(eng, track_id)
            if rec is not None:
                return rec
        return None

    def card(self, track_id: str) -> dict[str, Any]:
        """What a page shows of a track: title, subtitle and the URL of its audio."""
        rec = self.lookup(track_id) or {"metadata": {}}
        meta = rec["metadata"]
        subtitle = " · ".join(str(meta[k]) for k in ("composer", "artist", "instrument", "key") if meta.get(k))
        return {"id": track_id, "title": str(meta.get("title") or track_id), "subtitle": subtitle,
                "audio_url": f"/api/audio?id={quote(track_id, safe='')}"}

    def need_track(self, track_id: str) -> dict[str, Any]:
        """The model engine's record of a track, or 404."""
        rec = track_record(self.engine, track_id)
        if rec is None:
            raise HTTPException(404, f"unknown track id {clip(track_id)}; it is not in this index")
        return rec

    def session(self, name: str, kind: str) -> dict[str, Any] | None:
        """A stored session of ``kind`` (None for the open triplet session), or 404 listing the others."""
        if kind == "triplet" and name == OPEN_SESSION:
            return None
        spec = self.store.session(name)
        if spec is None or spec["kind"] != kind:
            have = [s["name"] for s in self.store.sessions() if s["kind"] == kind]
            if kind == "triplet":
                have = [OPEN_SESSION, *have]
            raise HTTPException(404, f"no {kind} session {name!r}; available: {', '.join(have) or '(none)'}")
        return spec


def web_state(request: Request) -> WebState:
    """FastAPI dependency: the app's :class:`WebState`."""
    return request.app.state.web


def require_admin(request: Request, token: str | None = Header(None, alias=ADMIN_HEADER)) -> None:
    """FastAPI dependency of the admin endpoints: the server's admin token in the header."""
    expected = web_state(request).admin_token
    if token is None or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, f"admin endpoint: send the server's admin token in the {ADMIN_HEADER} header")


def forbid_unknown_query(request: Request) -> None:
    """App-wide dependency: refuse query parameters the matched ``/api/`` route does not declare.

    A typo (``?limt=5``) must not be silently ignored. The 422 names the parameter, in the same
    shape as pydantic's ``extra="forbid"`` errors. Pages (``/``, ``/ab``, ...) ignore query strings,
    as browsers and links add their own.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/api/"):
        return
    allowed = getattr(route, _ALLOWED_ATTR, None)
    if allowed is None:  # worked out once per route, and kept on the route (routes are not hashable)
        allowed = declared_query_params(dependant)
        setattr(route, _ALLOWED_ATTR, allowed)
    extra = [name for name in request.query_params if name not in allowed]
    if extra:
        valid = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "input": request.query_params[name],
             "msg": f"unknown query parameter {clip(name)}; valid: {valid}"} for name in extra])


_ALLOWED_ATTR = "_sapphire_query_params"


def check_weights(weights: dict[str, float] | None, names: list[str], what: str) -> dict[str, float] | None:
    """Weights by name, each in 0-10, every name one of ``names``; 422 otherwise."""
    if weights is None:
        return None
    unknown = sorted(set(weights) - set(names))
    if unknown:
        shown = ", ".join(clip(u) for u in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        raise HTTPException(422, f"unknown {what} {shown}; valid: {', '.join(names) or '(none)'}")
    bad = [k for k, v in weights.items() if not (0.0 <= v <= 10.0)]
    if bad:
        raise HTTPException(422, f"{what} must lie in 0-10; check {', '.join(clip(b) for b in bad[:3])}")
    return dict(weights)
