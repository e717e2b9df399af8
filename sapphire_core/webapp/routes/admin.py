"""Admin endpoints (the ``X-Admin-Token`` header): session set-up, export of judgements, counts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from sapphire_core.errors import ConfigError
from sapphire_core.feedback.sessions import SessionSpec, parse_sessions
from sapphire_core.feedback.store import export_text
from sapphire_core.webapp.limits import LimitError, load_untrusted_yaml
from sapphire_core.webapp.state import WebState, require_admin, web_state

router = APIRouter(prefix="/api/admin", dependencies=[Depends(require_admin)])


@router.post("/sessions")
def admin_sessions(spec: SessionSpec, web: WebState = Depends(web_state)) -> dict[str, Any]:
    try:
        web.add_session(spec)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"ok": True, "session": spec.name}


@router.post("/sessions/yaml")
async def admin_sessions_yaml(request: Request, web: WebState = Depends(web_state)) -> dict[str, Any]:
    """Sessions from a YAML body (size-capped by the app's middleware at ``limits.MAX_YAML_BYTES``)."""
    body = await request.body()
    # Parsing and validating a large document takes seconds of CPU: off the event loop, so every
    # other request keeps being served meanwhile.
    return await run_in_threadpool(_add_yaml_sessions, body, web)


def _add_yaml_sessions(body: bytes, web: WebState) -> dict[str, Any]:
    import yaml

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"uploaded YAML: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    try:
        specs = parse_sessions(load_untrusted_yaml(text), source="uploaded YAML")
        for spec in specs:
            web.add_session(spec)
    except LimitError as exc:
        raise HTTPException(exc.status, f"uploaded YAML: {exc}") from None
    except (ConfigError, yaml.YAMLError) as exc:
        raise HTTPException(422, str(exc)[:1000]) from None
    return {"ok": True, "sessions": [s.name for s in specs]}


@router.get("/export")
def admin_export(table: Literal["ab", "triplets", "ab_trials", "sessions"] = Query("ab"),
                 format: Literal["csv", "jsonl"] = Query("csv"),  # noqa: A002
                 web: WebState = Depends(web_state)):
    text = export_text(web.store.rows(table), fmt=format)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return PlainTextResponse(text, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{table}.{format}"'})


@router.get("/counts")
def admin_counts(web: WebState = Depends(web_state)) -> dict[str, Any]:
    store = web.store
    return {"counts": store.counts(), "integrity": store.integrity_check(), "journal_mode": store.journal_mode}
