"""The library API a media-server plugin calls: similar tracks and playlists, by track id.

Seeds are track ids of the index only: no request value is ever a path. The schema is served at
``/api/openapi.json``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from sapphire_core.retrieval.neighbours import DUPLICATE_COSINE
from sapphire_core.webapp.routes.search import results_payload
from sapphire_core.webapp.state import MAX_K, WebState, check_weights, web_state

router = APIRouter(tags=["library"])

_Id = Field(min_length=1, max_length=256)


class SimilarRequest(BaseModel):
    """Tracks like the seeds and unlike the negative seeds (see ``sapphire similar``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"seeds": ["bach-bwv248.9-1__v0"], "exclude_same": ["work"], "k": 5}]})

    seeds: list[str] = Field(min_length=1, max_length=20, description="Track ids: more like these.")
    negative: list[str] = Field([], max_length=20, description="Track ids: less like these.")
    exclude_same: list[Literal["work", "artist", "album"]] = Field(
        [], description="Leave out tracks that share this with a seed.")
    collapse: bool = Field(True, description="Show near-duplicates (one recording in several files) once.")
    duplicate_cosine: float = Field(DUPLICATE_COSINE, ge=0.5, le=1.0,
                                    description="Cosine at which two tracks are one recording.")
    weights: dict[str, float] | None = Field(None, description="Sub-space weights, 0-10 (1 = unchanged).")
    k: int = Field(10, ge=1, le=MAX_K)


class PlaylistRequest(BaseModel):
    """A smooth walk from one track to another (see ``sapphire playlist``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={
        "examples": [{"from": "bach-bwv248.9-1__v0", "to": "haydn-op1-no0__v1", "length": 8}]})

    start: str = Field(alias="from", min_length=1, max_length=256, description="Track id of the first track.")
    end: str = Field(alias="to", min_length=1, max_length=256, description="Track id of the last track.")
    length: int = Field(10, ge=2, le=MAX_K, description="Tracks in the playlist, both ends included.")


class Hit(BaseModel):
    """One track of a result list."""

    track_id: str
    score: float | None
    rank: int
    metadata: dict[str, Any]
    explanation: dict[str, Any]
    id: str
    title: str
    subtitle: str
    audio_url: str


class Results(BaseModel):
    """Tracks, best first (or in playing order), with the model and index versions that made them."""

    model_version: str
    index_version: str
    results: list[Hit]


def _library_engine(web: WebState, ids: list[str]):
    engine = web.engine
    if not callable(getattr(engine, "similar", None)):
        raise HTTPException(422, "this server's engine has no stored track vectors; serve an index (--index INDEX)")
    for tid in ids:
        web.need_track(tid)  # 404 for an unknown id, before any file-path reading of the value
    return engine


@router.post("/api/similar", response_model=Results)
def similar(req: SimilarRequest, web: WebState = Depends(web_state)) -> dict[str, Any]:
    """Tracks like ``seeds`` (indexed track ids), from their stored vectors."""
    engine = _library_engine(web, req.seeds + req.negative)
    weights = check_weights(req.weights, web.subspaces, "sub-space")
    with web.locks["model"]:
        results = engine.similar(req.seeds, negative=req.negative, k=req.k, exclude_same=req.exclude_same,
                                 collapse=req.collapse, duplicate_cosine=req.duplicate_cosine, weights=weights)
    return results_payload(web, results)


@router.post("/api/playlist", response_model=Results)
def playlist(req: PlaylistRequest, web: WebState = Depends(web_state)) -> dict[str, Any]:
    """``length`` tracks from ``from`` to ``to``: no repeats, each nearer ``to`` than the one before."""
    engine = _library_engine(web, [req.start, req.end])
    with web.locks["model"]:
        results = engine.playlist(req.start, req.end, length=req.length)
    return results_payload(web, results)
