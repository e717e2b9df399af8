"""Admin endpoints (the ``X-Admin-Token`` header): session set-up, export of judgements, counts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse

from sapphire_core.errors import ConfigError
from sapphire_core.feedback.sessions import SessionSpec, parse_sessions
from sapphire_core.feedback.store import export_text
from sapphire_core.webapp.state import WebState, no_extra_params, require_admin, web_state

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
    import yaml

    body = await request.body()
    if len(body) > 1_000_000:
        raise HTTPException(413, "sessions YAML larger than 1 MB")
    try:
        specs = parse_sessions(yaml.safe_load(body.decode("utf-8")), source="uploaded YAML")
        for spec in specs:
            web.add_session(spec)
    except (ConfigError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise HTTPException(422, str(exc)) from None
    return {"ok": True, "sessions": [s.name for s in specs]}


@router.get("/export")
def admin_export(request: Request, table: Literal["ab", "triplets", "ab_trials", "sessions"] = Query("ab"),
                 format: Literal["csv", "jsonl"] = Query("csv"),  # noqa: A002
                 web: WebState = Depends(web_state)):
    no_extra_params(request, {"table", "format"})
    text = export_text(web.store.rows(table), fmt=format)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return PlainTextResponse(text, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{table}.{format}"'})


@router.get("/counts")
def admin_counts(web: WebState = Depends(web_state)) -> dict[str, Any]:
    store = web.store
    return {"counts": store.counts(), "integrity": store.integrity_check(), "journal_mode": store.journal_mode}
