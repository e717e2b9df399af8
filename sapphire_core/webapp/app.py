"""The FastAPI app: search, blinded A/B listening tests and triplet judgements over a SearchEngine.

Safety, by construction:

- uploads are streamed into a private temp folder under a server-chosen name, capped in bytes
  and seconds, sniffed, decoded and deleted (:mod:`sapphire_core.webapp.uploads`);
- audio is served by *track id*, looked up in the index: no request value is ever a path;
- every JSON body is a pydantic model with ``extra="forbid"``; unknown query parameters are refused;
- admin endpoints (session set-up, export) need the ``X-Admin-Token`` header;
- ``sapphire serve`` binds to 127.0.0.1 unless told otherwise.

Endpoints
---------
``GET /``, ``/ab``, ``/triplet``                 the three pages (``static/``)
``GET /api/info``                                versions, sub-space names, sessions, limits
``POST /api/search``                             ``{text | lyrics | track, weights, mode_weights, k}``
``POST /api/search/audio?kind=MODE&k&weights``   raw wav/flac/ogg/mp3 body (``audio`` or a plugin's audio mode)
``GET /api/audio?id=TRACK``                      the indexed track's audio (range requests)
``GET /api/ab/next?session&rater``               a blinded trial (lists "A" and "B")
``POST /api/ab/judgement``                       ``{trial_id, rater, choice | rating_a + rating_b}``
``GET /api/triplet/next?rater[&session&strategy]``  anchor, B, C (``strategy=active``: most uncertain)
``POST /api/triplet/judgement``                  ``{session, rater, anchor, b, c, choice}``
``POST /api/admin/sessions`` (JSON), ``/api/admin/sessions/yaml``, ``GET /api/admin/export?table&format``,
``GET /api/admin/counts``                        need ``X-Admin-Token``
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import tempfile
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from sapphire_core.errors import ConfigError, SapphireError
from sapphire_core.feedback.active import rank_pairs
from sapphire_core.feedback.sessions import NAME_PATTERN, SessionSpec, load_sessions, parse_sessions
from sapphire_core.feedback.store import FeedbackError, FeedbackStore, export_text
from sapphire_core.webapp.engine import query_modes, result_json, subspace_names, track_ids, track_record
from sapphire_core.webapp.uploads import UploadError, decode_upload, receive_upload

STATIC_DIR = Path(__file__).with_name("static")
ADMIN_HEADER = "X-Admin-Token"
#: The always-available triplet session of the triplet page.
OPEN_SESSION = "open"
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_UPLOAD_SECONDS = 60.0
MAX_K = 50
#: How many neighbours of an anchor are candidates for B and C.
TRIPLET_CANDIDATES = 8
_AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
                ".mp3": "audio/mpeg", ".aif": "audio/aiff", ".aiff": "audio/aiff"}
_PAGES = {"/": "search.html", "/ab": "ab.html", "/triplet": "triplet.html"}
_CSP = ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

TrackId = Field(..., min_length=1, max_length=256)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Strict):
    """A text, lyrics or indexed-track query (audio uploads go to ``/api/search/audio``)."""

    text: str | None = Field(None, max_length=500)
    lyrics: str | None = Field(None, max_length=2000)
    track: str | None = Field(None, max_length=256)
    weights: dict[str, float] | None = None
    mode_weights: dict[str, float] | None = None
    k: int = Field(10, ge=1, le=MAX_K)


class ABJudgement(_Strict):
    """The listener's verdict on a served trial: list A (left) or B (right) more similar, or 1-5 ratings."""

    trial_id: str = Field(..., pattern=r"^[0-9a-f]{32}$")
    rater: str = Field(..., pattern=NAME_PATTERN)
    choice: Literal["A", "B", "tie"] | None = None
    rating_a: int | None = Field(None, ge=1, le=5)
    rating_b: int | None = Field(None, ge=1, le=5)
    response_ms: int | None = Field(None, ge=0, le=86_400_000)


class TripletJudgement(_Strict):
    """"Which of B or C sounds more like A?"."""

    session: str = Field(OPEN_SESSION, pattern=NAME_PATTERN)
    rater: str = Field(..., pattern=NAME_PATTERN)
    anchor: str = TrackId
    b: str = TrackId
    c: str = TrackId
    choice: Literal["b", "c"]
    source: Literal["random", "active"] = "random"
    response_ms: int | None = Field(None, ge=0, le=86_400_000)


def _check_weights(weights: dict[str, float] | None, names: list[str], what: str) -> dict[str, float] | None:
    if weights is None:
        return None
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise HTTPException(422, f"unknown {what} {', '.join(unknown)}; valid: {', '.join(names) or '(none)'}")
    bad = [k for k, v in weights.items() if not (0.0 <= v <= 10.0)]
    if bad:
        raise HTTPException(422, f"{what} must lie in 0-10; check {', '.join(bad)}")
    return dict(weights)


def create_app(engine: Any, *, db_path: str | Path, admin_token: str,
               sessions: list[SessionSpec] | str | Path | None = None, baseline_engine: Any = None,
               engines: dict[str, Any] | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_upload_seconds: float = DEFAULT_MAX_UPLOAD_SECONDS, title: str = "SAPPHIRE"):
    """Build the web app.

    Parameters
    ----------
    engine : SearchEngine
        The model under test (named ``"model"`` in sessions); serves the search page.
    db_path : path
        The SQLite judgement store (created if missing).
    admin_token : str
        Secret for the ``X-Admin-Token`` header of the admin endpoints (at least 8 characters).
    sessions : list of SessionSpec, or a YAML path, optional
        Listening-test sessions to create at start-up.
    baseline_engine : SearchEngine, optional
        The comparison model of A/B tests (named ``"baseline"``).
    engines : dict of str to SearchEngine, optional
        Further named engines that sessions may compare.
    max_upload_bytes, max_upload_seconds : int, float
        Caps on uploaded audio queries.
    title : str
        Shown in the page header.

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    ConfigError
        A short admin token, or a session naming a model the app does not have.
    """
    if not isinstance(admin_token, str) or len(admin_token) < 8:
        raise ConfigError("admin_token must be a string of at least 8 characters (sapphire serve makes one)")
    named: dict[str, Any] = {"model": engine}
    if baseline_engine is not None:
        named["baseline"] = baseline_engine
    named.update(engines or {})
    locks = {name: threading.Lock() for name in named}
    store = FeedbackStore(db_path)
    tmp_dir = Path(tempfile.mkdtemp(prefix="sapphire-uploads-"))  # mode 0700: private to this user
    subspaces = subspace_names(engine)
    modes = query_modes(engine)
    blind = random.SystemRandom()  # list order must not be predictable by the listener

    def add_session(spec: SessionSpec) -> None:
        missing = [m for m in spec.models if m not in named] if spec.kind == "ab" else []
        if missing:
            raise ConfigError(f"session {spec.name!r} names model(s) {', '.join(missing)}; this server has "
                              f"{', '.join(named)}")
        store.put_session(spec.model_dump(mode="json"))

    if sessions is not None:
        specs = sessions if isinstance(sessions, list) else load_sessions(sessions)
        for spec in specs:
            add_session(spec)

    def search(name: str, **kwargs: Any) -> list[Any]:
        with locks[name]:
            return named[name].search(**kwargs)

    def lookup(track_id: str) -> dict[str, Any] | None:
        for eng in named.values():
            rec = track_record(eng, track_id)
            if rec is not None:
                return rec
        return None

    def card(track_id: str) -> dict[str, Any]:
        rec = lookup(track_id) or {"metadata": {}}
        meta = rec["metadata"]
        subtitle = " · ".join(str(meta[k]) for k in ("composer", "artist", "instrument", "key") if meta.get(k))
        return {"id": track_id, "title": str(meta.get("title") or track_id), "subtitle": subtitle,
                "audio_url": f"/api/audio?id={_quote(track_id)}"}

    def need_track(track_id: str) -> dict[str, Any]:
        rec = track_record(engine, track_id)
        if rec is None:
            raise HTTPException(404, f"unknown track id {track_id!r}; it is not in this index")
        return rec

    def get_session(name: str, kind: str) -> dict[str, Any] | None:
        if kind == "triplet" and name == OPEN_SESSION:
            return None
        spec = store.session(name)
        if spec is None or spec["kind"] != kind:
            have = [s["name"] for s in store.sessions() if s["kind"] == kind]
            if kind == "triplet":
                have = [OPEN_SESSION, *have]
            raise HTTPException(404, f"no {kind} session {name!r}; available: {', '.join(have) or '(none)'}")
        return spec

    def no_extra_params(request: Request, allowed: set[str]) -> None:
        extra = sorted(set(request.query_params) - allowed)
        if extra:
            raise HTTPException(422, f"unknown query parameter(s) {', '.join(extra)}; valid: {', '.join(sorted(allowed))}")

    def require_admin(token: str | None = Header(None, alias=ADMIN_HEADER)) -> None:
        if token is None or not secrets.compare_digest(token.encode(), admin_token.encode()):
            raise HTTPException(401, f"admin endpoint: send the server's admin token in the {ADMIN_HEADER} header")

    @asynccontextmanager
    async def lifespan(_app):
        yield
        shutil.rmtree(tmp_dir, ignore_errors=True)  # uploads never outlive the server

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.engines = named
    app.state.upload_dir = tmp_dir

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.exception_handler(FeedbackError)
    async def _feedback_error(request: Request, exc: FeedbackError):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(SapphireError)
    async def _sapphire_error(request: Request, exc: SapphireError):
        # e.g. a text query to a model without a text tower: the engine's message says what to do
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(UploadError)
    async def _upload_error(request: Request, exc: UploadError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def page_route(filename: str):
        # A closure without parameters: a default argument would become a query parameter.
        def page():
            return FileResponse(STATIC_DIR / filename, media_type="text/html")

        return page

    for route, filename in _PAGES.items():
        app.add_api_route(route, page_route(filename), methods=["GET"], include_in_schema=False)

    # ------------------------------------------------------------------ search
    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {
            "title": title, "model_version": str(engine.model_version), "index_version": str(engine.index_version),
            "subspaces": subspaces, "modes": modes, "models": list(named),
            "sessions": [{k: s[k] for k in ("name", "kind", "mode", "trials_per_rater", "description")}
                         for s in store.sessions()],
            "limits": {"max_upload_bytes": max_upload_bytes, "max_upload_seconds": max_upload_seconds, "max_k": MAX_K},
        }

    def results_payload(results: list[Any]) -> dict[str, Any]:
        out = []
        for r in results:
            item = result_json(r)
            item.update(card(item["track_id"]))
            out.append(item)
        return {"model_version": str(engine.model_version), "index_version": str(engine.index_version),
                "results": out}

    @app.post("/api/search")
    def search_json(req: SearchRequest) -> dict[str, Any]:
        given = [k for k in ("text", "lyrics", "track") if getattr(req, k)]
        if not given:
            raise HTTPException(422, "give a text, lyrics or track query (or upload audio to /api/search/audio)")
        kwargs: dict[str, Any] = {"k": req.k, "weights": _check_weights(req.weights, subspaces, "sub-space"),
                                  "mode_weights": _check_weights(req.mode_weights, list(modes), "query mode")}
        if req.text:
            kwargs["text"] = req.text
        if req.lyrics:
            kwargs["lyrics"] = req.lyrics
        if req.track:
            rec = need_track(req.track)
            kwargs["audio"] = rec["audio_path"]
            kwargs["exclude"] = {req.track}
        return results_payload(search("model", **kwargs))

    @app.post("/api/search/audio")
    async def search_audio(request: Request, kind: str = Query("audio", max_length=64),
                           k: int = Query(10, ge=1, le=MAX_K), weights: str | None = Query(None, max_length=2000)):
        no_extra_params(request, {"kind", "k", "weights"})
        if modes.get(kind) != "audio":
            audio_modes = [m for m, how in modes.items() if how == "audio"]
            raise HTTPException(422, f"unknown audio query kind {kind!r}; valid: {', '.join(audio_modes)}")
        parsed = None
        if weights:
            try:
                parsed = json.loads(weights)
            except json.JSONDecodeError:
                raise HTTPException(422, "weights must be a JSON object of sub-space name to number") from None
            if not isinstance(parsed, dict) or not all(isinstance(v, (int, float)) for v in parsed.values()):
                raise HTTPException(422, "weights must be a JSON object of sub-space name to number")
            parsed = _check_weights({str(a): float(b) for a, b in parsed.items()}, subspaces, "sub-space")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_upload_bytes:
            raise UploadError(f"upload is larger than the {max_upload_bytes} byte limit; send a shorter excerpt", 413)
        path = await receive_upload(request.stream(), tmp_dir=tmp_dir, max_bytes=max_upload_bytes)
        from starlette.concurrency import run_in_threadpool

        y, sr = await run_in_threadpool(decode_upload, path, max_seconds=max_upload_seconds)
        results = await run_in_threadpool(lambda: search("model", **{kind: (y, sr)}, k=k, weights=parsed))
        return results_payload(results)

    @app.get("/api/audio")
    def audio(request: Request, id: str = Query(..., min_length=1, max_length=256)):  # noqa: A002
        no_extra_params(request, {"id"})
        rec = lookup(id)
        if rec is None:
            raise HTTPException(404, f"unknown track id {id!r}")
        path = rec["audio_path"]
        if path is None or not Path(path).is_file():
            raise HTTPException(404, f"track {id!r} has no audio file on this server")
        media = _AUDIO_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=media)

    # ------------------------------------------------------------------ A/B listening test
    @app.get("/api/ab/next")
    def ab_next(request: Request, session: str = Query(..., pattern=NAME_PATTERN),
                rater: str = Query(..., pattern=NAME_PATTERN)) -> dict[str, Any]:
        no_extra_params(request, {"session", "rater"})
        spec = SessionSpec.model_validate(get_session(session, "ab"))
        done = store.count_ab(session=session, rater=rater)
        progress = {"done": done, "total": spec.trials_per_rater}
        if done >= spec.trials_per_rater:
            return {"done": True, "progress": progress}
        order = list(range(len(spec.queries)))
        random.Random(f"{session}/{rater}").shuffle(order)  # a fixed, per-rater query order
        query = spec.queries[order[done % len(order)]]
        kwargs: dict[str, Any] = {"k": spec.list_length}
        shown_query: dict[str, Any] = {"kind": query.kind}
        if query.kind == "track":
            rec = need_track(query.value)
            kwargs.update(audio=rec["audio_path"], exclude={query.value})
            shown_query["track"] = card(query.value)
        else:
            kwargs[query.kind] = query.value
            shown_query["text"] = query.value
        sides = list(spec.models)
        blind.shuffle(sides)
        lists = {}
        for side, name in zip(("left", "right"), sides):
            ids = [str(result_json(r)["track_id"]) for r in search(name, **kwargs)]
            lists[side] = {"model": name, "model_version": str(named[name].model_version),
                           "index_version": str(named[name].index_version), "ids": ids}
        trial_id = store.add_ab_trial(session=session, rater=rater, query_kind=query.kind, query=query.value,
                                      left=lists["left"], right=lists["right"])
        return {"done": False, "trial_id": trial_id, "mode": spec.mode, "query": shown_query, "progress": progress,
                "lists": {"A": [card(i) for i in lists["left"]["ids"]],
                          "B": [card(i) for i in lists["right"]["ids"]]}}

    @app.post("/api/ab/judgement")
    def ab_judgement(j: ABJudgement) -> dict[str, Any]:
        if j.choice is None and (j.rating_a is None or j.rating_b is None):
            raise HTTPException(422, "send a choice (A, B or tie) or both ratings (rating_a, rating_b)")
        choice = {"A": "left", "B": "right", "tie": "tie", None: None}[j.choice]
        row = store.add_ab(j.trial_id, rater=j.rater, choice=choice, left_rating=j.rating_a,
                           right_rating=j.rating_b, response_ms=j.response_ms)
        return {"ok": True, "id": row}

    # ------------------------------------------------------------------ triplets
    @app.get("/api/triplet/next")
    def triplet_next(request: Request, rater: str = Query(..., pattern=NAME_PATTERN),
                     session: str = Query(OPEN_SESSION, pattern=NAME_PATTERN),
                     strategy: Literal["random", "active"] | None = Query(None)) -> dict[str, Any]:
        no_extra_params(request, {"session", "rater", "strategy"})
        spec = get_session(session, "triplet")
        done = store.count_triplets(session=session, rater=rater)
        total = spec["trials_per_rater"] if spec else None
        progress = {"done": done, "total": total}
        if total is not None and done >= total:
            return {"done": True, "progress": progress}
        strategy = strategy or (spec["strategy"] if spec else "random")
        anchors = [q["track"] for q in (spec or {}).get("queries", []) if q.get("track")] or track_ids(engine)
        if not anchors:
            raise HTTPException(409, "the engine does not list its tracks; define a triplet session with track queries")
        rng = random.Random(secrets.randbits(64))
        anchor = rng.choice(anchors)
        rec = need_track(anchor)
        scores = scores_of(search("model", audio=rec["audio_path"], k=TRIPLET_CANDIDATES, exclude={anchor}))
        scores.pop(anchor, None)
        if len(scores) < 2:
            raise HTTPException(409, "the index has too few tracks for a triplet (need 3)")
        if strategy == "active":
            other = None
            other_name = next((n for n in named if n != "model"), None)
            if other_name is not None:
                other = scores_of(search(other_name, audio=rec["audio_path"], k=MAX_K, exclude={anchor}))
            best = rank_pairs(anchor, scores, other_scores=other, n=1)[0]
            pair = [best.b, best.c]
        else:
            pair = rng.sample(sorted(scores), 2)
        blind.shuffle(pair)
        return {"done": False, "session": session, "source": strategy, "progress": progress,
                "anchor": card(anchor), "b": card(pair[0]), "c": card(pair[1])}

    @app.post("/api/triplet/judgement")
    def triplet_judgement(j: TripletJudgement) -> dict[str, Any]:
        spec = get_session(j.session, "triplet")
        if spec and store.count_triplets(session=j.session, rater=j.rater) >= spec["trials_per_rater"]:
            raise HTTPException(409, f"rater {j.rater!r} has finished the {spec['trials_per_rater']} triplets of "
                                     f"session {j.session!r}")
        for tid in (j.anchor, j.b, j.c):
            need_track(tid)
        row = store.add_triplet(session=j.session, rater=j.rater, anchor=j.anchor, b=j.b, c=j.c, choice=j.choice,
                                model_version=str(engine.model_version), index_version=str(engine.index_version),
                                source=j.source, response_ms=j.response_ms)
        return {"ok": True, "id": row}

    # ------------------------------------------------------------------ admin
    @app.post("/api/admin/sessions", dependencies=[Depends(require_admin)])
    def admin_sessions(spec: SessionSpec) -> dict[str, Any]:
        try:
            add_session(spec)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"ok": True, "session": spec.name}

    @app.post("/api/admin/sessions/yaml", dependencies=[Depends(require_admin)])
    async def admin_sessions_yaml(request: Request) -> dict[str, Any]:
        import yaml

        body = await request.body()
        if len(body) > 1_000_000:
            raise HTTPException(413, "sessions YAML larger than 1 MB")
        try:
            specs = parse_sessions(yaml.safe_load(body.decode("utf-8")), source="uploaded YAML")
            for spec in specs:
                add_session(spec)
        except (ConfigError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise HTTPException(422, str(exc)) from None
        return {"ok": True, "sessions": [s.name for s in specs]}

    @app.get("/api/admin/export", dependencies=[Depends(require_admin)])
    def admin_export(request: Request, table: Literal["ab", "triplets", "ab_trials", "sessions"] = Query("ab"),
                     format: Literal["csv", "jsonl"] = Query("csv")):  # noqa: A002
        no_extra_params(request, {"table", "format"})
        text = export_text(store.rows(table), fmt=format)
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        return PlainTextResponse(text, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="{table}.{format}"'})

    @app.get("/api/admin/counts", dependencies=[Depends(require_admin)])
    def admin_counts() -> dict[str, Any]:
        return {"counts": store.counts(), "integrity": store.integrity_check(), "journal_mode": store.journal_mode}

    return app


def scores_of(results: list[Any]) -> dict[str, float]:
    """``{track_id: score}`` of search results."""
    out = {}
    for r in results:
        item = result_json(r)
        out[item["track_id"]] = float(item["score"] or 0.0)
    return out


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
