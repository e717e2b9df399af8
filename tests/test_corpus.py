"""The rendered demo corpus (``demo_corpus`` fixture): audio agrees with its metadata.

Tempo is checked with librosa's beat tracker and key with a chroma + Krumhansl-Kessler key
estimator, both scored with mir_eval, on a fixed sample of the small corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sapphire_core.corpus.works import heldout_path, load_heldout, normalize_work_path

FAMILIES = {"keyboard", "strings", "organ", "voice", "woodwind", "brass", "guitar", "mixed"}
ERAS = {"medieval", "renaissance", "baroque", "classical", "romantic", "modern", "folk"}
PACKAGED_HELDOUT = Path(__file__).resolve().parents[1] / "sapphire_core" / "corpus" / "heldout_music21.txt"
SHARED_HELDOUT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "heldout_music21.txt"

# Krumhansl & Kessler (1982) probe-tone profiles, C major / C minor.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PC = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tracks(demo_corpus):
    return _rows(demo_corpus / "tracks.jsonl")


def estimate_key(y: np.ndarray, sr: int) -> str:
    """Key of an audio signal: CQT chroma summed over time, correlated with the 24 rotated KK profiles."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=2048).sum(axis=1)
    best, name = -2.0, "C major"
    for tonic in range(12):
        for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
            r = np.corrcoef(chroma, np.roll(prof, tonic))[0, 1]
            if r > best:
                best, name = r, f"{PC[tonic]} {mode}"
    return name


def _sample(rows: list[dict], n: int, pred=lambda t: True) -> list[dict]:
    pool = [t for t in rows if pred(t)]
    step = max(1, len(pool) // n)
    return pool[::step][:n]


def test_demo_corpus_loads_with_core_reader(demo_corpus, tracks):
    from sapphire_core.data import Corpus

    corpus = Corpus(demo_corpus)
    assert len(corpus) == len(tracks) >= 120
    work_ids = {t.work_id for t in corpus}
    assert len(work_ids) >= 60
    for t in corpus:
        assert t.audio.is_file(), t.audio
        assert t.variant_id in {"v0", "v1"}


def test_track_fields_follow_the_contract(demo_corpus, tracks):
    import mir_eval
    import soundfile as sf

    for t in tracks:
        assert t["id"] == f"{t['work_id']}__{t['variant_id']}"
        assert t["era"] in ERAS and t["instrument_family"] in FAMILIES
        mir_eval.key.validate_key(t["key"])
        assert t["key"] == f"{t['tonic']} {t['mode']}"
        assert t["instrumentation"] and all(isinstance(x, str) for x in t["instrumentation"])
        info = sf.info(str(demo_corpus / t["audio"]))
        assert info.samplerate == 22050
        assert abs(info.frames / info.samplerate - t["duration"]) < 0.01
        assert 6.0 <= t["duration"] <= 33.0  # <= 25 s of score at tempo scale >= 0.8, plus a 1 s tail
        mel = np.asarray(t["melody"], dtype=float)
        assert mel.ndim == 2 and mel.shape[1] == 3 and len(mel) >= 4
        assert mel[:, 0].min() >= 0 and (mel[:, 0] + mel[:, 1]).max() <= t["duration"] + 1e-3
    # Diversity the small corpus promises.
    assert len({t["era"] for t in tracks}) >= 6
    assert len({t["instrument_family"] for t in tracks}) >= 6
    assert {t["mode"] for t in tracks} == {"major", "minor"}
    assert len({t["form"] for t in tracks}) >= 10


def test_variants_differ_as_covers(tracks):
    by_work: dict[str, list[dict]] = {}
    for t in tracks:
        by_work.setdefault(t["work_id"], []).append(t)
    for work, ts in by_work.items():
        v0, v1 = sorted(ts, key=lambda t: t["variant_id"])
        assert v0["transpose"] == 0 and v0["tempo_scale"] == 1.0
        assert v1["transpose"] != 0 and v1["tempo_scale"] != 1.0
        assert v0["instrument_plan"] != v1["instrument_plan"], work
        # Melody as rendered: the same notes, shifted by the transposition and scaled in time.
        p0 = np.asarray(v0["melody"])[:, 2]
        p1 = np.asarray(v1["melody"])[:, 2]
        if len(p0) == len(p1):
            assert np.all((p1 - p0) % 12 == v1["transpose"] % 12)
        assert v1["tempo_bpm"] == pytest.approx(v0["tempo_bpm"] * v1["tempo_scale"], rel=1e-3)


def test_vocal_works_have_lyrics_and_language(tracks):
    vocal = [t for t in tracks if t["vocal"]]
    assert len({t["work_id"] for t in vocal}) >= 25
    for t in vocal:
        assert t.get("lyrics") and len(t["lyrics"]) >= 8, t["id"]
        assert t.get("language") in {"de", "la", "it", "en", "haw", "fr"}, t["id"]
    languages = {t["language"] for t in vocal}
    assert {"de", "la", "it"} <= languages
    # At least one rendering of every vocal work is sung (choir / voice).
    by_work: dict[str, set] = {}
    for t in vocal:
        by_work.setdefault(t["work_id"], set()).add(t["instrument_family"])
    assert all("voice" in fams for fams in by_work.values())
    assert all(t.get("lyrics") is None for t in tracks if not t["vocal"])


@pytest.mark.parametrize("heldout_file", [PACKAGED_HELDOUT, SHARED_HELDOUT], ids=["packaged", "shared"])
def test_no_heldout_work_in_demo_corpus(demo_corpus, tracks, heldout_file):
    if not heldout_file.is_file():
        assert heldout_file == SHARED_HELDOUT
        heldout_file = PACKAGED_HELDOUT  # a checkout without the shared folder: the packaged copy rules
    listed = [ln.strip() for ln in heldout_file.read_text().splitlines() if ln.strip()]
    assert len(listed) > 400
    exact = set(listed)
    keys = {normalize_work_path(p) for p in listed}
    for t in tracks:
        assert t["source_path"] not in exact, t["id"]
        assert normalize_work_path(t["source_path"]) not in keys, t["id"]
    for q in _rows(demo_corpus / "queries.jsonl"):
        assert q["work_id"] in {t["work_id"] for t in tracks}


def test_packaged_heldout_copy_matches_shared_list():
    assert PACKAGED_HELDOUT.is_file()
    if SHARED_HELDOUT.is_file():
        assert PACKAGED_HELDOUT.read_text().split() == SHARED_HELDOUT.read_text().split()
        assert heldout_path() == SHARED_HELDOUT
    assert "bach/bwv190.7" in load_heldout(PACKAGED_HELDOUT)


def test_queries_and_relations(demo_corpus, tracks):
    import soundfile as sf

    ids = {t["id"] for t in tracks}
    by_work = {}
    for t in tracks:
        by_work.setdefault(t["work_id"], []).append(t["id"])
    queries = _rows(demo_corpus / "queries.jsonl")
    hums = [q for q in queries if q["kind"] == "hum"]
    excerpts = [q for q in queries if q["kind"] == "excerpt"]
    assert len(hums) >= 60 and len(excerpts) >= 40
    for q in queries:
        info = sf.info(str(demo_corpus / q["audio"]))
        assert abs(info.frames / info.samplerate - q["duration"]) < 0.01
        if q["kind"] == "hum":
            assert q["audio"].startswith("hums/") and q["source_track"] is None
            assert 5.0 <= q["duration"] <= 15.0 and isinstance(q["transpose"], int)
        else:
            assert q["audio"].startswith("excerpts/") and q["source_track"] in ids
            assert q["seconds"] in (5, 10, 20) and abs(q["duration"] - q["seconds"]) < 0.01
            assert len(by_work[q["work_id"]]) >= 2  # there is another variant to find
    relations = _rows(demo_corpus / "relations.jsonl")
    assert {r["work_id"] for r in relations} == set(by_work)
    for r in relations:
        assert sorted(r["tracks"]) == sorted(by_work[r["work_id"]])
        assert set(r["labels"]) == {"era", "composer", "form", "mode", "key", "meter", "instrument_family",
                                    "tempo_class", "collection"}
        assert r["labels"]["tempo_class"] in {"slow", "medium", "fast"}


def test_rendered_key_agrees_with_metadata(demo_corpus, tracks):
    """mir_eval weighted key score of an audio key estimate vs the metadata key, over a sample."""
    import mir_eval

    from sapphire_core.audio import load_audio

    sample = _sample(tracks, 24)
    scores = []
    for t in sample:
        y = load_audio(demo_corpus / t["audio"], sr=22050)
        scores.append(mir_eval.key.weighted_score(t["key"], estimate_key(y, 22050)))
    assert np.mean(scores) >= 0.7, list(zip([t["id"] for t in sample], scores))


def test_rendered_tempo_agrees_with_metadata(demo_corpus, tracks):
    """Beat-tracker tempo vs metadata (mir_eval.tempo.detection, 8% tolerance, octave errors allowed).

    The sample is the renderings with clear note attacks in simple meters: a beat tracker follows
    onsets, and choir/woodwind renderings (soft legato attacks) give it too little to lock on to.
    """
    import librosa
    import mir_eval

    from sapphire_core.audio import load_audio

    def simple_meter(t):
        num, _, den = t["meter"].partition("/")
        return (den in {"2", "4"} and num in {"2", "3", "4"}
                and t["instrument_family"] not in {"voice", "woodwind"})

    sample = _sample(tracks, 16, simple_meter)
    assert len(sample) >= 12
    hits = []
    for t in sample:
        y = load_audio(demo_corpus / t["audio"], sr=22050)
        est, _ = librosa.beat.beat_track(y=y, sr=22050)  # default prior (120 BPM), not the answer
        est = float(np.atleast_1d(est)[0])
        bpm = t["tempo_bpm"]
        # Reference pair: the quarter-note tempo and its half (the felt beat of fast pieces).
        _, one, _ = mir_eval.tempo.detection(np.array([bpm / 2, bpm]), 0.5, np.array([est / 2, est]), tol=0.08)
        hits.append(one)
    assert np.mean(hits) >= 0.7, list(zip([t["id"] for t in sample], [t["tempo_bpm"] for t in sample], hits))
