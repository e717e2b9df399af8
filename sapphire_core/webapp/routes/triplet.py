"""The triplet page: "which of B or C sounds more like A?", with random or most-uncertain (active) pairs."""

from __future__ import annotations

import random
import secrets
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from sapphire_core.feedback.active import rank_pairs
from sapphire_core.feedback.sessions import NAME_PATTERN
from sapphire_core.webapp.engine import result_json, track_ids
from sapphire_core.webapp.pages import page_response
from sapphire_core.webapp.state import MAX_K, OPEN_SESSION, WebState, web_state

#: How many neighbours of an anchor are candidates for B and C.
TRIPLET_CANDIDATES = 8
TrackId = Field(..., min_length=1, max_length=256)

router = APIRouter()


class TripletJudgement(BaseModel):
    """"Which of B or C sounds more like A?"."""

    model_config = ConfigDict(extra="forbid")

    session: str = Field(OPEN_SESSION, pattern=NAME_PATTERN)
    rater: str = Field(..., pattern=NAME_PATTERN)
    anchor: str = TrackId
    b: str = TrackId
    c: str = TrackId
    choice: Literal["b", "c"]
    source: Literal["random", "active"] = "random"
    response_ms: int | None = Field(None, ge=0, le=86_400_000)


def scores_of(results: list[Any]) -> dict[str, float]:
    """``{track_id: score}`` of search results."""
    out = {}
    for r in results:
        item = result_json(r)
        out[item["track_id"]] = float(item["score"] or 0.0)
    return out


@router.get("/triplet", include_in_schema=False)
def page():
    return page_response("triplet")


@router.get("/api/triplet/next")
def triplet_next(rater: str = Query(..., pattern=NAME_PATTERN),
                 session: str = Query(OPEN_SESSION, pattern=NAME_PATTERN),
                 strategy: Literal["random", "active"] | None = Query(None),
                 web: WebState = Depends(web_state)) -> dict[str, Any]:
    spec = web.session(session, "triplet")
    done = web.store.count_triplets(session=session, rater=rater)
    total = spec["trials_per_rater"] if spec else None
    progress = {"done": done, "total": total}
    if total is not None and done >= total:
        return {"done": True, "progress": progress}
    strategy = strategy or (spec["strategy"] if spec else "random")
    anchors = [q["track"] for q in (spec or {}).get("queries", []) if q.get("track")] or track_ids(web.engine)
    if not anchors:
        raise HTTPException(409, "the engine does not list its tracks; define a triplet session with track queries")
    rng = random.Random(secrets.randbits(64))
    anchor = rng.choice(anchors)
    rec = web.need_track(anchor)
    scores = scores_of(web.search("model", audio=rec["audio_path"], k=TRIPLET_CANDIDATES, exclude={anchor}))
    scores.pop(anchor, None)
    if len(scores) < 2:
        raise HTTPException(409, "the index has too few tracks for a triplet (need 3)")
    if strategy == "active":
        other = None
        other_name = next((n for n in web.engines if n != "model"), None)
        if other_name is not None:
            other = scores_of(web.search(other_name, audio=rec["audio_path"], k=MAX_K, exclude={anchor}))
        best = rank_pairs(anchor, scores, other_scores=other, n=1)[0]
        pair = [best.b, best.c]
    else:
        pair = rng.sample(sorted(scores), 2)
    web.blind.shuffle(pair)
    return {"done": False, "session": session, "source": strategy, "progress": progress,
            "anchor": web.card(anchor), "b": web.card(pair[0]), "c": web.card(pair[1])}


@router.post("/api/triplet/judgement")
def triplet_judgement(j: TripletJudgement, web: WebState = Depends(web_state)) -> dict[str, Any]:
    spec = web.session(j.session, "triplet")
    for tid in (j.anchor, j.b, j.c):
        web.need_track(tid)
    row = web.store.add_triplet(session=j.session, rater=j.rater, anchor=j.anchor, b=j.b, c=j.c, choice=j.choice,
                                model_version=str(web.engine.model_version),
                                index_version=str(web.engine.index_version), source=j.source,
                                response_ms=j.response_ms,
                                # counted and inserted in one transaction: concurrent posts cannot exceed it
                                limit=spec["trials_per_rater"] if spec else None)
    return {"ok": True, "id": row}
