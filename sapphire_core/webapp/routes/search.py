"""The search page: text, lyrics, indexed-track and uploaded-audio queries, and the audio of results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from sapphire_core.webapp.engine import result_json
from sapphire_core.webapp.pages import page_response
from sapphire_core.webapp.state import MAX_K, WebState, check_weights, web_state
from sapphire_core.webapp.limits import clip
from sapphire_core.webapp.uploads import decode_upload, receive_upload

_AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
                ".mp3": "audio/mpeg", ".aif": "audio/aiff", ".aiff": "audio/aiff"}

router = APIRouter()


class SearchRequest(BaseModel):
    """A text, lyrics or indexed-track query (audio uploads go to ``/api/search/audio``)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=500)
    lyrics: str | None = Field(None, max_length=2000)
    track: str | None = Field(None, max_length=256)
    weights: dict[str, float] | None = None
    mode_weights: dict[str, float] | None = None
    k: int = Field(10, ge=1, le=MAX_K)


@router.get("/", include_in_schema=False)
def page():
    return page_response("search")


@router.get("/api/info")
def info(web: WebState = Depends(web_state)) -> dict[str, Any]:
    engine = web.engine
    return {
        "title": web.title, "model_version": str(engine.model_version), "index_version": str(engine.index_version),
        "subspaces": web.subspaces, "modes": web.modes, "models": list(web.engines),
        "sessions": [{k: s[k] for k in ("name", "kind", "mode", "trials_per_rater", "description")}
                     for s in web.store.sessions()],
        "limits": {"max_upload_bytes": web.max_upload_bytes, "max_upload_seconds": web.max_upload_seconds,
                   "max_k": MAX_K},
    }


def results_payload(web: WebState, results: list[Any]) -> dict[str, Any]:
    out = []
    for r in results:
        item = result_json(r)
        item.update(web.card(item["track_id"]))
        out.append(item)
    return {"model_version": str(web.engine.model_version), "index_version": str(web.engine.index_version),
            "results": out}


@router.post("/api/search")
def search_json(req: SearchRequest, web: WebState = Depends(web_state)) -> dict[str, Any]:
    given = [k for k in ("text", "lyrics", "track") if getattr(req, k)]
    if not given:
        raise HTTPException(422, "give a text, lyrics or track query (or upload audio to /api/search/audio)")
    kwargs: dict[str, Any] = {"k": req.k, "weights": check_weights(req.weights, web.subspaces, "sub-space"),
                              "mode_weights": check_weights(req.mode_weights, list(web.modes), "query mode")}
    if req.text:
        kwargs["text"] = req.text
    if req.lyrics:
        kwargs["lyrics"] = req.lyrics
    if req.track:
        rec = web.need_track(req.track)
        kwargs["audio"] = rec["audio_path"]
        kwargs["exclude"] = {req.track}
    return results_payload(web, web.search("model", **kwargs))


@router.post("/api/search/audio")
async def search_audio(request: Request, kind: str = Query("audio", max_length=64),
                       k: int = Query(10, ge=1, le=MAX_K), weights: str | None = Query(None, max_length=2000),
                       web: WebState = Depends(web_state)):
    if web.modes.get(kind) != "audio":
        audio_modes = [m for m, how in web.modes.items() if how == "audio"]
        raise HTTPException(422, f"unknown audio query kind {clip(kind)}; valid: {', '.join(audio_modes)}")
    parsed = None
    if weights:
        try:
            parsed = json.loads(weights)
        except json.JSONDecodeError:
            raise HTTPException(422, "weights must be a JSON object of sub-space name to number") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, (int, float)) for v in parsed.values()):
            raise HTTPException(422, "weights must be a JSON object of sub-space name to number")
        parsed = check_weights({str(a): float(b) for a, b in parsed.items()}, web.subspaces, "sub-space")
    # The body cap (Content-Length and streamed bytes) is the app's RequestLimits middleware, at
    # web.max_upload_bytes for this path; receive_upload keeps its own count as a second guard.
    path = await receive_upload(request.stream(), tmp_dir=web.upload_dir, max_bytes=web.max_upload_bytes)
    from starlette.concurrency import run_in_threadpool

    y, sr = await run_in_threadpool(decode_upload, path, max_seconds=web.max_upload_seconds)
    results = await run_in_threadpool(lambda: web.search("model", **{kind: (y, sr)}, k=k, weights=parsed))
    return results_payload(web, results)


@router.get("/api/audio")
def audio(id: str = Query(..., min_length=1, max_length=256),  # noqa: A002
          web: WebState = Depends(web_state)):
    rec = web.lookup(id)
    if rec is None:
        raise HTTPException(404, f"unknown track id {clip(id)}")
    path = rec["audio_path"]
    if path is None or not Path(path).is_file():
        raise HTTPException(404, f"track {clip(id)} has no audio file on this server")
    media = _AUDIO_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media)
