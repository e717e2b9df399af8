"""The A/B listening-test page: blinded trials of two models' result lists, and the listener's verdict."""

from __future__ import annotations

import random
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from sapphire_core.feedback.sessions import NAME_PATTERN, SessionSpec
from sapphire_core.feedback.store import FeedbackError
from sapphire_core.webapp.engine import result_json
from sapphire_core.webapp.pages import page_response
from sapphire_core.webapp.state import WebState, web_state


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
def ab_next(session: str = Query(..., pattern=NAME_PATTERN), rater: str = Query(..., pattern=NAME_PATTERN),
            web: WebState = Depends(web_state)) -> dict[str, Any]:
    """The rater's next trial: an unjudged one already served (a reload), else a new one.

    The per-rater limit is enforced by the store in the transaction that inserts the trial, so
    concurrent requests cannot exceed it (each trial is judged at most once).
    """
    spec = SessionSpec.model_validate(web.session(session, "ab"))
    store, limit = web.store, spec.trials_per_rater
    done = store.count_ab(session=session, rater=rater)
    if done >= limit:
        return {"done": True, "progress": {"done": done, "total": limit}}
    trial = store.pending_ab_trial(session=session, rater=rater)
    if trial is None:
        served = store.count_ab_trials(session=session, rater=rater)
        order = list(range(len(spec.queries)))
        random.Random(f"{session}/{rater}").shuffle(order)  # a fixed, per-rater query order
        query = spec.queries[order[served % len(order)]]
        kwargs: dict[str, Any] = {"k": spec.list_length}
        if query.kind == "track":
            rec = web.need_track(query.value)
            kwargs.update(audio=rec["audio_path"], exclude={query.value})
        else:
            kwargs[query.kind] = query.value
        sides = list(spec.models)
        web.blind.shuffle(sides)
        lists = {}
        for side, name in zip(("left", "right"), sides):
            ids = [str(result_json(r)["track_id"]) for r in web.search(name, **kwargs)]
            lists[side] = {"model": name, "model_version": str(web.engines[name].model_version),
                           "index_version": str(web.engines[name].index_version), "ids": ids}
        try:
            trial_id = store.add_ab_trial(session=session, rater=rater, query_kind=query.kind, query=query.value,
                                          left=lists["left"], right=lists["right"], limit=limit)
        except FeedbackError:  # a concurrent request served and judged the last trial meanwhile
            done = store.count_ab(session=session, rater=rater)
            return {"done": True, "progress": {"done": done, "total": limit}}
        trial = store.ab_trial(trial_id)
    shown_query: dict[str, Any] = {"kind": trial["query_kind"]}
    if trial["query_kind"] == "track":
        shown_query["track"] = web.card(trial["query"])
    else:
        shown_query["text"] = trial["query"]
    return {"done": False, "trial_id": trial["id"], "mode": spec.mode, "query": shown_query,
            "progress": {"done": done, "total": limit},
            "lists": {"A": [web.card(i) for i in trial["left_ids"]], "B": [web.card(i) for i in trial["right_ids"]]}}


@router.post("/api/ab/judgement")
def ab_judgement(j: ABJudgement, web: WebState = Depends(web_state)) -> dict[str, Any]:
    if j.choice is None and (j.rating_a is None or j.rating_b is None):
        raise HTTPException(422, "send a choice (A, B or tie) or both ratings (rating_a, rating_b)")
    choice = {"A": "left", "B": "right", "tie": "tie", None: None}[j.choice]
    row = web.store.add_ab(j.trial_id, rater=j.rater, choice=choice, left_rating=j.rating_a,
                           right_rating=j.rating_b, response_ms=j.response_ms)
    return {"ok": True, "id": row}
