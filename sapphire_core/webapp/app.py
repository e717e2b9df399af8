"""The FastAPI app: search, blinded A/B listening tests and triplet judgements over a SearchEngine.

``create_app`` assembles the shared state (:mod:`.state`), the security headers and error
handlers, and one router per page (:mod:`.routes`).

Safety, by construction:

- uploads are streamed into a private temp folder under a server-chosen name, capped in bytes
  and seconds, sniffed, decoded and deleted (:mod:`sapphire_core.webapp.uploads`);
- audio is served by *track id*, looked up in the index: no request value is ever a path;
- every JSON body is a pydantic model with ``extra="forbid"``; unknown query parameters are refused
  on every ``/api/`` route (:func:`~sapphire_core.webapp.state.forbid_unknown_query`);
- URLs, headers and bodies are capped before any route runs (414, 431, 413), error answers echo at
  most 200 bytes of input, and uploaded YAML is bounded in aliases and depth
  (:mod:`sapphire_core.webapp.limits`, which lists every limit);
- admin endpoints (session set-up, export) need the ``X-Admin-Token`` header;
- ``sapphire serve`` binds to 127.0.0.1 unless told otherwise.

Endpoints
---------
``GET /``, ``/ab``, ``/triplet``                 the three pages (``static/``)
``GET /api/info``                                versions, sub-space names, sessions, limits
``POST /api/search``                             ``{text | lyrics | track, weights, mode_weights, k}``
``POST /api/search/audio?kind=MODE&k&weights``   raw wav/flac/ogg/mp3 body (``audio`` or a plugin's audio mode)
``POST /api/similar``                            ``{seeds, negative, exclude_same, collapse, k}``: like indexed tracks
``POST /api/playlist``                           ``{from, to, length}``: a smooth walk between two indexed tracks
``GET /api/openapi.json``                        the OpenAPI schema of these endpoints
``GET /api/audio?id=TRACK``                      the indexed track's audio (range requests)
``GET /api/ab/next?session&rater``               a blinded trial (lists "A" and "B")
``POST /api/ab/judgement``                       ``{trial_id, rater, choice | rating_a + rating_b}``
``GET /api/triplet/next?rater[&session&strategy]``  anchor, B, C (``strategy=active``: most uncertain)
``POST /api/triplet/judgement``                  ``{session, rater, anchor, b, c, choice}``
``POST /api/admin/sessions`` (JSON), ``/api/admin/sessions/yaml``, ``GET /api/admin/export?table&format``,
``GET /api/admin/counts``                        need ``X-Admin-Token``
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from sapphire_core.errors import ConfigError, SapphireError
from sapphire_core.feedback.sessions import SessionSpec, load_sessions
from sapphire_core.feedback.store import FeedbackError, FeedbackStore
from sapphire_core.webapp.routes import ab, admin, library, search, triplet
from sapphire_core.webapp.limits import MAX_JSON_BYTES, MAX_YAML_BYTES, RequestLimits, safe_errors
from sapphire_core.webapp.state import ADMIN_HEADER, MAX_K, OPEN_SESSION, WebState, forbid_unknown_query
from sapphire_core.webapp.uploads import UploadError

__all__ = ["create_app", "ADMIN_HEADER", "MAX_K", "OPEN_SESSION", "STATIC_DIR"]

STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_UPLOAD_SECONDS = 60.0
_CSP = ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

def create_app(engine: Any, *, db_path: str | Path, admin_token: str,
               sessions: list[SessionSpec] | str | Path | None = None, baseline_engine: Any = None,
               engines: dict[str, Any] | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_upload_seconds: float = DEFAULT_MAX_UPLOAD_SECONDS, max_json_bytes: int = MAX_JSON_BYTES,
               title: str = "SAPPHIRE"):
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
    max_json_bytes : int
        Cap on every other request body (413 beyond it; see :mod:`sapphire_core.webapp.limits`).
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
    tmp_dir = Path(tempfile.mkdtemp(prefix="sapphire-uploads-"))  # mode 0700: private to this user
    web = WebState(named, FeedbackStore(db_path), tmp_dir, admin_token, title, max_upload_bytes, max_upload_seconds)
    if sessions is not None:
        for spec in sessions if isinstance(sessions, list) else load_sessions(sessions):
            web.add_session(spec)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        shutil.rmtree(tmp_dir, ignore_errors=True)  # uploads never outlive the server

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan,
                  dependencies=[Depends(forbid_unknown_query)])
    app.state.web = web
    app.state.store = web.store
    app.state.engines = named
    app.state.upload_dir = tmp_dir

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    # Outermost: refuses oversized URLs, headers and bodies before any route (or other middleware) reads them.
    app.add_middleware(RequestLimits, default_body_bytes=max_json_bytes,
                       body_limits={"/api/search/audio": max_upload_bytes, "/api/admin/sessions/yaml": MAX_YAML_BYTES},
                       headers=[("Content-Security-Policy", _CSP), ("X-Content-Type-Options", "nosniff"),
                                ("Referrer-Policy", "no-referrer")])

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        # FastAPI's own answer repeats every invalid input whole; this one echoes at most 200 bytes.
        return JSONResponse({"detail": safe_errors(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if isinstance(exc.detail, str) and len(exc.detail) > 1000:  # a backstop: messages clip what they quote
            exc = StarletteHTTPException(exc.status_code, exc.detail[:1000] + "...", exc.headers)
        return await http_exception_handler(request, exc)

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
    for page in (search, library, ab, triplet, admin):
        app.include_router(page.router)
    return app
