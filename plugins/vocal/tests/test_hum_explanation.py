"""A hum result explains itself: the aligned segment of the track, the hum's transposition, the match cost.

Known answers: a frame melody hummed from a known note range and key (the alignment traced back by
:func:`sapphire_vocal.matching.align`), then a real hum (CREPE) of a synthetic track's melody a
known number of semitones up, through the ``hum`` query mode, the search engine, ``sapphire
search``'s table and the web API's JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sapphire_core.testing import signals

from sapphire_vocal import matching, melody, qbh
from sapphire_vocal.hum import HumMode, hum_summary

#: 16 notes, no pitch class repeated back to back: every note boundary is visible to the alignment.
TUNE = [60, 62, 64, 67, 65, 64, 62, 67, 69, 71, 72, 69, 65, 64, 62, 60]
DECOY = [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60]
NOTE = 0.4  # seconds per note of the track
REPO = Path(__file__).resolve().parents[3]


def _frames(pitches, seconds_per_note=NOTE):
    return np.repeat(np.asarray(pitches, float), int(round(seconds_per_note / melody.FRAME_SECONDS)))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The part of ``b`` that ``a`` covers."""
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / (b[1] - b[0])


def test_align_traces_back_the_segment_transposition_and_cost():
    ref = melody.melody_affinity(_frames(TUNE))
    # Notes 5-11, 5 semitones up and a little flat, 25% faster.
    hum = _frames(np.asarray(TUNE[5:12]) + 5 - 0.3, NOTE * 0.75)
    a = matching.align(hum, ref)
    assert a.transposition == pytest.approx(4.7, abs=0.05)
    # held first and last notes fit anywhere inside the track's same notes: exact to within a note
    frames = NOTE / melody.FRAME_SECONDS
    assert 5 * frames <= a.start < 6 * frames and 11 * frames < a.end <= 12 * frames
    assert a.cost == pytest.approx(matching.dtw_costs(hum, [ref])[0], abs=1e-5)  # what the ranking scored
    # an octave lower reads as the same key; a fifth down as -7 folded to +5
    assert matching.align(_frames(TUNE[2:9]) - 12, ref).transposition == pytest.approx(0.0, abs=0.05)
    assert matching.align(_frames(TUNE[2:9]) - 7, ref).transposition == pytest.approx(5.0, abs=0.05)
    assert matching.align(hum[:1], ref) is None  # too short to align


def test_hum_summary_in_words():
    assert hum_summary(2.1, 4.9, 3.01, 0.1195) == "hum follows 2.1-4.9 s of the track, 3 semitones higher " \
                                                  "(match cost 0.12)"
    assert hum_summary(0.0, 3.0, -1.0, 0.3) == "hum follows 0.0-3.0 s of the track, 1 semitone lower (match cost 0.30)"
    assert "2.5 semitones higher" in hum_summary(0.0, 3.0, 2.5, 0.3)


@pytest.fixture(scope="module")
def hum():
    """A real hum (a sung-like synthetic line) of notes 5-11 of TUNE, 3 semitones up, a little slower."""
    return signals.melody(TUNE[5:12], durations=NOTE * 1.1, sr=16000, transpose=3), 16000


def test_hum_mode_explains_its_results_from_audio(hum):
    index = qbh.QbhIndex(shortlist=0)
    index.add_audio("tune", signals.melody(TUNE, durations=NOTE, sr=22050), 22050, work_id="tune")
    index.add_audio("decoy", signals.melody(DECOY, durations=NOTE, sr=22050), 22050, work_id="decoy")
    mode = HumMode()
    ranked = mode.rank(hum, index, k=2)
    assert ranked[0][0] == "tune"
    said = mode.explain(hum, index, [t for t, _ in ranked])
    e = said["tune"]
    assert abs(e["transposition"] - 3) <= 1.0
    seconds = len(index.entries["tune"].melody) * melody.FRAME_SECONDS
    assert 0.0 <= e["start"] < e["end"] <= seconds
    assert _overlap((e["start"], e["end"]), (5 * NOTE, 12 * NOTE)) >= 0.8
    assert e["cost"] == pytest.approx(1.0 - ranked[0][1], abs=1e-3)
    assert e["summary"] == hum_summary(e["start"], e["end"], e["transposition"], e["cost"])
    assert set(said) == {"tune", "decoy"} and said["decoy"]["cost"] > e["cost"]


def test_hum_explanation_through_engine_cli_and_web_api(tmp_path, hum):
    """The toy index (tests/_trained.py) with its melodies: the engine puts the mode's explanation under
    ``explanation["hum"]`` and leads the summary with it; ``sapphire search``'s table and the JSON the
    search page renders carry it."""
    sys.path.insert(0, str(REPO / "tests"))
    import _trained as T

    import sapphire_vocal.plugin
    from fastapi.testclient import TestClient

    from sapphire_core.testing.signals import write_wav
    from sapphire_core.webapp import create_app

    eng = T.toy_engine_with_extra(tmp_path / "index", sapphire_vocal.plugin, "melody")
    # w3's tune (8 notes of 0.3 s in the toy corpus' v0), notes 1-6 hummed 2 semitones up; w1 and w5
    # are the same tune in other keys, so each result's transposition is known from its work's first note
    toy = signals.melody([p + 2 for p in T.TOY_WORKS["w3"][0][1:7]], durations=0.33, sr=16000)
    res = eng.search(hum=(toy, 16000), k=3)
    for r in res:
        work = r.metadata["work_id"]
        assert work in {"w1", "w3", "w5"}
        e = r.explanation["hum"]
        expected = T.TOY_WORKS["w3"][0][0] + 2 - T.TOY_WORKS[work][0][0]
        assert abs((e["transposition"] - expected + 6) % 12 - 6) <= 1.0, (work, e)
        seconds = 8 * 0.3 * (1.25 if r.track_id.endswith("v1") else 1.0)
        assert 0.0 <= e["start"] < e["end"] <= seconds + 0.1
        assert r.explanation["summary"].startswith(e["summary"])
    table = T.search_table(res)
    for r in res:
        assert r.explanation["hum"]["summary"] in table

    write_wav(tmp_path / "hum.wav", toy, 16000)
    app = create_app(eng, db_path=tmp_path / "fb.db", admin_token="hum-test-token")
    with TestClient(app) as client:
        reply = client.post("/api/search/audio?kind=hum&k=3", content=(tmp_path / "hum.wav").read_bytes())
    assert reply.status_code == 200, reply.text
    first = reply.json()["results"][0]["explanation"]
    assert first["summary"].startswith("hum follows") and set(first["hum"]) >= {"start", "end", "transposition",
                                                                                 "cost"}
