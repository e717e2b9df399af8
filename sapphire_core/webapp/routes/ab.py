"""The A/B listening-test page: blinded trials of two models' result lists, and the listener's verdict."""

from __future__ import annotations

import random
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sapphire_core.feedback.sessions import NAME_PATTERN, SessionSpec
from sapphire_core.webapp.engine import result_json
from sapphire_core.webapp.pages import page_response
from sapphire_core.webapp.state import WebState, no_extra_params, web_state


router = APIRouter()


class ABJudgement(BaseModel):
    """The listener's verdict on a served trial: list A (left) or B (right) more similar, or 1-5 ratings."""

    model_config = ConfigDict(extra="forbid")

    trial_id: str = Field(..., pattern=r"^[0-9a-f]{32}$")
    rater: str = Field(..., pattern=NAME_PATTERN)
    choice: Literal["A", "B", "tie"] | None = None
    rating_a: int | None = Field(None, ge=1, le=5)
    rating_b: int | None = Field(None, ge=1, le=5)
    response_ms: int | None = Field(None, ge=0, le=86_400_000)


@router.get("/ab", include_in_schema=False)
def page():
    return page_response("ab")


@router.get("/api/ab/next")
def ab_next(request: Request, session: str = Query(..., pattern=NAME_PATTERN),
            rater: str = Query(..., pattern=NAME_PATTERN), web: WebState = Depends(web_state)) -> dict[str, Any]:
    no_extra_params(request, {"session", "rater"})
    spec = SessionSpec.model_validate(web.session(session, "ab"))
    done = web.store.count_ab(session=session, rater=rater)
    progress = {"done": done, "total": spec.trials_per_rater}
    if done >= spec.trials_per_rater:
        return {"done": True, "progress": progress}
    order = list(range(len(spec.queries)))
    random.Random(f"{session}/{rater}").shuffle(order)  # a fixed, per-rater query order
    query = spec.queries[order[done % len(order)]]
    kwargs: dict[str, Any] = {"k": spec.list_length}
    shown_query: dict[str, Any] = {"kind": query.kind}
    if query.kind == "track":
        rec = web.need_track(query.value)
        kwargs.update(audio=rec["audio_path"], exclude={query.value})
        shown_query["track"] = web.card(query.value)
    else:
        kwargs[query.kind] = query.value
        shown_query["text"] = query.value
    sides = list(spec.models)
    web.blind.shuffle(sides)
    lists = {}
    for side, name in zip(("left", "right"), sides):
        ids = [str(result_json(r)["track_id"]) for r in web.search(name, **kwargs)]
        lists[side] = {"model": name, "model_version": str(web.engines[name].model_version),
                       "index_version": str(web.engines[name].index_version), "ids": ids}
    trial_id = web.store.add_ab_trial(session=session, rater=rater, query_kind=query.kind, query=query.value,
                                      left=lists["left"], right=lists["right"])
    return {"done": False, "trial_id": trial_id, "mode": spec.mode, "query": shown_query, "progress": progress,
            "lists": {"A": [web.card(i) for i in lists["left"]["ids"]],
                      "B": [web.card(i) for i in lists["right"]["ids"]]}}


@router.post("/api/ab/judgement")
def ab_judgement(j: ABJudgement, web: WebState = Depends(web_state)) -> dict[str, Any]:
    if j.choice is None and (j.rating_a is None or j.rating_b is None):
        raise HTTPException(422, "send a choice (A, B or tie) or both ratings (rating_a, rating_b)")
    choice = {"A": "left", "B": "right", "tie": "tie", None: None}[j.choice]
    row = web.store.add_ab(j.trial_id, rater=j.rater, choice=choice, left_rating=j.rating_a,
                           right_rating=j.rating_b, response_ms=j.response_ms)
    return {"ok": True, "id": row}
