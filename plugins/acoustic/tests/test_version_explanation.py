"""A version result explains itself: the aligned part of the track, the transposition, the tempo ratio.

Known answers: chroma sequences rolled by k semitones, cut at a known offset and stretched by a known
factor (:func:`sapphire_acoustic.alignment.align_sequences`), then rendered chord progressions through
the ``version`` query mode, the search engine, ``sapphire search``'s table and the web API's JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sapphire_core.testing import signals

from sapphire_acoustic.alignment import FRAMES_PER_SECOND, align_sequences, alignment_score, unit_frames
from sapphire_acoustic.versions import VersionIndex, VersionMode, version_summary

REPO = Path(__file__).resolve().parents[3]


def _harmony(rng, n_frames):
    """Distinct unit chroma frames: any alignment but the true one costs something."""
    return unit_frames(rng.random((n_frames, 12)) ** 4)


def _stretch(seq, factor):
    """Resample a sequence in time (nearest frame): ``factor`` > 1 plays slower."""
    idx = np.minimum((np.arange(int(round(len(seq) * factor))) / factor).astype(int), len(seq) - 1)
    return seq[idx]


@pytest.mark.parametrize("k", [3, -5, 6])
def test_an_excerpt_rolled_by_k_and_cut_at_an_offset_is_explained_exactly(k):
    track = _harmony(np.random.default_rng(k % 12), 300)
    excerpt = np.roll(track[80:160], k, axis=1)  # frames 80-159, k semitones up
    a = align_sequences(excerpt, track)
    assert (a.reference_start, a.reference_end) == (80, 160)
    assert (a.query_start, a.query_end) == (0, 80)
    assert a.transposition == (k + 6) % 12 - 6  # a tritone reads -6: chroma has no octaves
    assert a.tempo == 1.0 and a.score == pytest.approx(1.0, abs=1e-6)
    assert a.score == pytest.approx(alignment_score(excerpt, track))  # what the ranking scored


def test_tempo_ratio_and_a_longer_query_against_a_shorter_track():
    track = _harmony(np.random.default_rng(7), 300)
    slow = np.roll(_stretch(track[100:160], 1.5), -2, axis=1)  # 60 frames played over 90: 2/3 the tempo
    a = align_sequences(slow, track)
    assert a.transposition == -2
    assert abs(a.reference_start - 100) <= 1 and abs(a.reference_end - 160) <= 1
    assert a.tempo == pytest.approx(2 / 3, abs=0.03)
    # the query holds the whole track (a short clip of it, indexed) 4 semitones down, at frame 50
    clip = track[:70]
    query = np.concatenate([_harmony(np.random.default_rng(8), 50), np.roll(clip, -4, axis=1),
                            _harmony(np.random.default_rng(9), 80)])
    b = align_sequences(query, clip)
    assert (b.query_start, b.query_end) == (50, 120) and (b.reference_start, b.reference_end) == (0, 70)
    assert b.transposition == -4 and b.tempo == 1.0
    assert align_sequences(query[:1], clip) is None


def test_long_pieces_are_explained_in_unpooled_frames():
    track = _harmony(np.random.default_rng(3), 1000)
    version = np.roll(_stretch(track, 0.9), 1, axis=1)  # whole piece, 10 % faster: pooled 3 to 1
    a = align_sequences(version, track)
    assert (a.reference_start, a.query_start) == (0, 0)
    assert a.reference_end >= 997 and a.query_end >= len(version) - 3
    assert a.transposition == 1 and a.tempo == pytest.approx(1 / 0.9, abs=0.02)


def test_version_summary_in_words():
    assert version_summary(12.0, 41.55, -2, 0.8, 0.9051) == \
        "query follows 12.0-41.5 s of the track, 2 semitones lower, at 0.80x its tempo (alignment score 0.91)"
    assert "1 semitone higher, at its tempo" in version_summary(0.0, 9.0, 1, 0.97, 0.5)


PROGRESSION = [48, 53, 55, 57, 52, 50, 55, 48]  # roots of eight major triads
OTHER = [45, 45, 52, 52, 50, 50, 45, 45]


def _render(roots, *, transpose=0, seconds=1.5, sr=22050):
    return np.concatenate([signals.chord([r + transpose, r + 4 + transpose, r + 7 + transpose], sr=sr,
                                         seconds=seconds) for r in roots])


@pytest.mark.parametrize("seconds, tempo", [(1.2, 1.25), (1.875, 0.8)])
def test_version_mode_explains_a_rendered_excerpt(seconds, tempo):
    """Chords 2-7 of a rendered progression (1.5 s each), 3 semitones up, each chord ``seconds`` long:
    found in the track at 3-12 s (or 15-24 s: the progression repeats), 3 semitones higher, at
    1.5 / ``seconds`` of its tempo."""
    sr = 22050
    index = VersionIndex(shortlist=0)
    index.add_audio("tune", _render(PROGRESSION * 2), sr)
    index.add_audio("other", _render(OTHER * 2), sr)
    query = (_render(PROGRESSION[2:8], transpose=3, seconds=seconds), sr)
    mode = VersionMode()
    ranked = mode.rank(query, index, k=2)
    assert ranked[0][0] == "tune"
    said = mode.explain(query, index, [t for t, _ in ranked])
    e = said["tune"]
    assert e["transposition"] == 3
    assert e["tempo"] == pytest.approx(tempo, abs=0.06)
    # CENS smooths over ~1 s, so the ends are good to about half a chord
    assert min(abs(e["start"] - 3.0), abs(e["start"] - 15.0)) <= 0.75
    assert e["end"] - e["start"] == pytest.approx(9.0, abs=1.0)
    assert e["query_start"] == 0.0 and e["query_end"] == pytest.approx(6 * seconds, abs=0.5)
    assert e["score"] == pytest.approx(ranked[0][1], abs=1e-4)
    assert e["summary"] == version_summary(e["start"], e["end"], 3, e["tempo"], e["score"])
    assert set(said) == {"tune", "other"} and said["other"]["score"] < e["score"]
    assert 0 <= e["start"] < e["end"] <= len(index.sequence("tune")) / FRAMES_PER_SECOND + 0.01


def test_version_explanation_through_engine_cli_and_web_api(tmp_path):
    """The toy index (tests/_trained.py) with its chroma sequences: the engine puts the mode's
    explanation under ``explanation["version"]`` and leads the summary with it; ``sapphire search``'s
    table and the JSON the search page renders carry it."""
    sys.path.insert(0, str(REPO / "tests"))
    import _trained as T

    import sapphire_acoustic.plugin
    from fastapi.testclient import TestClient

    from sapphire_core.audio import load_audio
    from sapphire_core.testing.signals import write_wav
    from sapphire_core.webapp import create_app

    eng = T.toy_engine_with_extra(tmp_path / "index", sapphire_acoustic.plugin, "chroma_sequence")
    query = eng.folder.metadata[sorted(eng.folder.metadata)[0]]["audio_path"]  # an indexed track
    res = eng.search(version=query, k=3)
    for r in res:
        e = r.explanation["version"]
        assert set(e) >= {"start", "end", "transposition", "tempo", "score", "summary"}
        assert r.explanation["summary"].startswith(e["summary"])
    assert res[0].explanation["version"]["transposition"] == 0 and res[0].explanation["version"]["score"] > 0.99
    table = T.search_table(res)
    for r in res:
        assert r.explanation["version"]["summary"] in table

    write_wav(tmp_path / "q.wav", load_audio(query, sr=22050), 22050)
    app = create_app(eng, db_path=tmp_path / "fb.db", admin_token="version-test-token")
    with TestClient(app) as client:
        reply = client.post("/api/search/audio?kind=version&k=3", content=(tmp_path / "q.wav").read_bytes())
    assert reply.status_code == 200, reply.text
    first = reply.json()["results"][0]["explanation"]
    assert first["summary"].startswith("query follows") and set(first["version"]) >= {"start", "end",
                                                                                      "transposition", "tempo"}


def test_audio_search_is_refined_by_version_alignment(tmp_path):
    """With the ``chroma_sequence`` extra in the index, a plain ``search(audio=...)`` lifts what aligns
    above the version mode's threshold (here the query's own recording: score ~1) by the mode's weight,
    says why under ``explanation["version"]``, and ``refine=False`` ranks by the model alone."""
    sys.path.insert(0, str(REPO / "tests"))
    import _trained as T

    import sapphire_acoustic.plugin

    eng = T.toy_engine_with_extra(tmp_path / "index", sapphire_acoustic.plugin, "chroma_sequence")
    tid = sorted(eng.folder.metadata)[3]
    query = eng.folder.metadata[tid]["audio_path"]
    plain = {r.track_id: r.score for r in eng.search(audio=query, k=12, refine=False, explain=False)}
    refined = eng.search(audio=query, k=12)
    first = refined[0]
    assert first.track_id == tid and first.explanation["modes"]["version"] > 0.99
    gain = VersionMode.refine_weight * (first.explanation["modes"]["version"] - VersionMode.refine_threshold)
    assert first.score == pytest.approx(plain[tid] + gain, abs=1e-4)
    assert first.explanation["summary"].startswith("query follows")
    for r in refined[1:]:
        lifted = r.explanation["modes"].get("version", 0.0) > VersionMode.refine_threshold
        assert ("version" in r.explanation) == lifted
        assert r.score == pytest.approx(plain[r.track_id], abs=1e-4) or lifted
