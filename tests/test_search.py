"""SearchEngine: query modes, combination, sub-space re-weighting, explanations."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core import hookimpl  # noqa: E402
from sapphire_core.data import Track  # noqa: E402
from sapphire_core.index.extras import build_extras, selected_extras  # noqa: E402
from sapphire_core.query_mode import QueryMode  # noqa: E402
from sapphire_core.retrieval import SearchEngine, SearchError, UnknownTrackError, parse_weights  # noqa: E402
from sapphire_core.retrieval import explain as ex  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    s = T.toy_setup()
    return SearchEngine.open(s["index"], registry=s["registry"])


def _audio(name):
    return str(T.toy_setup()["corpus"] / "audio" / f"{name}.wav")


def test_whole_track_finds_itself(engine):
    res = engine.search(audio=_audio("w3__v1"), k=3)
    assert res[0].track_id == "w3__v1" and res[0].score == pytest.approx(1.0, abs=1e-4)
    assert [r.rank for r in res] == [1, 2, 3]
    assert {r.metadata["work_id"] for r in res} <= {"w1", "w3", "w5"} and Path(res[0].audio_path).is_file()
    assert engine.search(audio=_audio("w3__v1"), k=3, exclude={"w3__v1"})[0].track_id != "w3__v1"


def test_audio_array_query_matches_file_query(engine):
    import soundfile as sf

    y, sr = sf.read(T.toy_setup()["corpus"] / "excerpts" / "w2__v0.wav", dtype="float32")
    a = engine.search(audio=(y, sr), k=4)
    b = engine.search(audio=str(T.toy_setup()["corpus"] / "excerpts" / "w2__v0.wav"), k=4)
    assert [r.track_id for r in a] == [r.track_id for r in b]
    np.testing.assert_allclose([r.score for r in a], [r.score for r in b], atol=1e-4)


def test_text_scores_are_inner_products(engine):
    res = engine.search(text="a slow river", k=12)
    q = engine.model.embed_text(["a slow river"])[0].detach().numpy()
    x = engine.folder.store.get_vectors([r.track_id for r in res])
    np.testing.assert_allclose([r.score for r in res], x @ q, atol=1e-5)
    assert all(a.score >= b.score for a, b in zip(res, res[1:]))


def test_subspace_weights_rescale_exactly(engine):
    w = {"pitch": 0.0, "lyrics": 3.0}
    res = engine.search(text="night hills", weights=w, k=12)
    q = engine.model.embed_text(["night hills"])[0].detach().numpy()
    scale = np.ones_like(q)
    scale[0:8], scale[8:16] = 0.0, 3.0
    x = engine.folder.store.get_vectors([r.track_id for r in res])
    np.testing.assert_allclose([r.score for r in res], x @ (q * scale), atol=1e-5)
    for r in res:  # with pitch weighted 0 it contributes nothing
        assert r.explanation["subspaces"]["pitch"] == 0.0
        assert sum(abs(v) for v in r.explanation["subspaces"].values()) == pytest.approx(1.0)


def test_unknown_subspace_lists_choices(engine):
    with pytest.raises(SearchError, match="'tempo'.*pitch, lyrics, rest"):
        engine.search(text="x", weights={"tempo": 0})
    with pytest.raises(SearchError, match="at least one query"):
        engine.search()
    assert parse_weights("tempo=0, key=2") == {"tempo": 0.0, "key": 2.0}
    with pytest.raises(SearchError, match="name=number"):
        parse_weights("tempo")


def test_lyrics_query_goes_through_the_lyrics_modality(engine):
    res = engine.search(lyrics="night falls on the cold hills", k=12)
    model = engine.model
    bow = torch.from_numpy(T._hash_bow("night falls on the cold hills", 32))[None]
    with torch.no_grad():
        emb = {"pitch": torch.zeros(1, 16), "lyrics": model.encoders["lyrics"]({"toy_bow.bow": bow})}
        fused = model.fusion(emb, {"pitch": torch.tensor([False]), "lyrics": torch.tensor([True])}).embedding
        q = torch.nn.functional.normalize(fused, dim=-1)[0].numpy()
    x = engine.folder.store.get_vectors([r.track_id for r in res])
    np.testing.assert_allclose([r.score for r in res], x @ q, atol=1e-5)


def test_combined_modes_are_a_weighted_mean(engine):
    res = engine.search(audio=_audio("w1__v0"), text="cold night", mode_weights={"audio": 3, "text": 1}, k=5)
    for r in res:
        m = r.explanation["modes"]
        assert r.score == pytest.approx((3 * m["audio"] + m["text"]) / 4, abs=1e-5)


def test_explanation_contents(engine):
    res = engine.search(audio=_audio("w1__v0"), k=12)
    by_id = {r.track_id: r for r in res}
    e = by_id["w1__v1"].explanation
    assert set(e["modalities"]) == {"pitch", "lyrics"}
    assert sum(e["modalities"].values()) == pytest.approx(1.0)
    assert "both minor-key" in e["summary"] and "slower" in e["summary"]
    # a result without lyrics gets no lyrics share
    assert by_id["w3__v0"].explanation["modalities"]["lyrics"] == 0.0


def test_text_results_say_which_words_matched_in_which_subspaces(engine):
    text = "a slow river"
    res = engine.search(text=text, k=4)
    q = engine.model.embed_text([text])[0].detach().numpy()
    without_river = engine.model.embed_text(["a slow"])[0].detach().numpy()
    for r in res:
        words = {e["word"]: e for e in r.explanation["words"]}
        assert set(words) == {"a", "slow", "river"}
        x = engine.folder.store.get_vectors([r.track_id])[0]
        # occlusion: the score drop without "river", split exactly over the sub-spaces
        assert words["river"]["score"] == pytest.approx(float(x @ (q - without_river)), abs=1e-5)
        assert words["river"]["subspaces"]["pitch"] == pytest.approx(float(x[:8] @ (q - without_river)[:8]), abs=1e-5)
        assert r.explanation["summary"] != ex.NO_DESCRIPTORS
        best = [e for e in r.explanation["words"] if e["word"] not in ex.STOP_WORDS][0]
        if best["score"] > 0:
            assert r.explanation["summary"].startswith(f'matched "{best["word"]}"')


def test_lyrics_results_show_the_matching_lines(engine):
    res = engine.search(lyrics="cold hills at night", k=12)
    by_id = {r.track_id: r for r in res}
    lines = by_id["w1__v0"].explanation["lyrics_lines"]
    assert lines == [{"line": "night falls on the cold hills", "words": ["night", "cold", "hills"]}]
    assert 'lyrics line "night falls on the cold hills" shares "night", "cold", "hills"' in \
        by_id["w1__v0"].explanation["summary"]
    assert by_id["w3__v0"].explanation["lyrics_lines"] == []  # an instrumental
    assert by_id["w3__v0"].explanation["summary"].startswith("no lyric line shares a word")


def test_matching_lines_by_hand():
    lyrics = "[00:01.00]The river runs\n\non the cold, cold hills\nso slowly the river"
    assert ex.matching_lines("the cold river", lyrics) == [
        {"line": "The river runs", "words": ["river"]}, {"line": "on the cold, cold hills", "words": ["cold"]}]
    assert ex.matching_lines("slowly river", lyrics, n=1) == [{"line": "so slowly the river",
                                                               "words": ["slowly", "river"]}]
    assert ex.matching_lines("the and", lyrics) == []  # stop words match nothing


def test_summary_reads_midlevel_side_by_side():
    names = ["dissonance", "rhythm_stability", "melodiousness"]
    ref = np.array([[0.1, 0.1, 0.5], [0.5, 0.5, 0.5], [0.9, 0.9, 0.5], [0.3, 0.2, 0.5], [0.7, 0.8, 0.5]])
    mid = ex.side_by_side(names, np.array([0.1, 0.15, 0.5]), np.array([0.9, 0.12, 0.5]), ref)
    assert mid["query"]["dissonance"]["level"] == "low" and mid["result"]["dissonance"]["level"] == "high"
    text = ex.summary_text(mid, {"mode": "minor"}, {"mode": "minor"}, adjective={"dissonance": "dissonant"}.get)
    assert text == "both minor-key, low rhythm stability; result more dissonant"
    # without an adjective the value's name is said; a value the metadata says too is left out
    assert ex.summary_text(mid, None, {}) == "both low rhythm stability; result more dissonance"
    assert ex.summary_text(mid, {"k": 1}, {"k": 2}, said_by_metadata={"rhythm_stability": "k"}) == \
        "result more dissonance"
    # contributions: a = 1 + 1 = 2, rest = -1 + 0 = -1; shares divide by |2| + |-1|
    assert ex.subspace_shares(np.array([1.0, 1, 1, 1]), np.array([1.0, 1, -1, 0]), {"a": slice(0, 2)}) == \
        {"a": pytest.approx(2 / 3), "rest": pytest.approx(-1 / 3)}


class FixedMode(QueryMode):
    """A plugin query mode with known scores (the string query is ignored)."""

    name, input, extra, title = "fixed", "text", "counting", "fixed scores"

    def rank(self, query, data, *, k):
        assert len(data) == 12  # the extra holds every indexed track
        return [("w5__v1", 0.9), ("w5__v0", 0.8), ("w0__v0", 0.1)][:k]


def test_plugin_query_mode_ranks_against_its_index_extra(tmp_path):
    import shutil

    from sapphire_core.plugins import build_registry, get_plugin_manager

    s = T.toy_setup()
    index = tmp_path / "index"
    shutil.copytree(s["index"], index)
    plugin = types.SimpleNamespace(register_query_modes=hookimpl(lambda register: register(FixedMode)),
                                   register_index_extras=hookimpl(lambda register: register(T.CountingExtra)))
    registry = build_registry(get_plugin_manager(load_entrypoints=False, plugins=[T.ToyPlugin(), plugin]))
    eng = SearchEngine.open(index, registry=registry)
    T.CountingExtra.builds = 0
    assert eng.modes()["fixed"] == "text"
    # a query never builds an extra: the toy index has none, so a text mode cannot answer
    with pytest.raises(SearchError, match="no 'counting' index extra.*sapphire index"):
        eng.search(fixed="q", k=2)
    assert T.CountingExtra.builds == 0
    tracks = [Track.from_json({**m, "audio": m["audio_path"]}, Path("/")) for m in eng.folder.metadata.values()]
    assert build_extras(selected_extras(registry), tracks, index) == {"counting": 12}
    res = eng.search(fixed="q", k=2)
    assert [r.track_id for r in res] == ["w5__v1", "w5__v0"] and res[0].score == pytest.approx(0.9)
    # combined with text, plugin scores are rescaled to [0, 1] before the weighted mean
    res = eng.search(fixed="q", text="x", mode_weights={"fixed": 1, "text": 0}, k=1)
    assert res[0].track_id == "w5__v1" and res[0].score == pytest.approx(1.0)
    assert T.CountingExtra.builds == 1 and (index / "extras" / "counting" / "ids.txt").is_file()
    with pytest.raises(SearchError, match=r"unknown query modes \['nope'\]; installed: audio, text, lyrics, fixed"):
        eng.search(nope="q")


def test_hum_with_the_real_vocal_plugin(tmp_path):
    """The vocal plugin's QbhIndex on the toy melodies, and no hum query ever writes to the index
    folder: a hummed (sine) rendition of w3, transposed down a fourth and slower, finds works with
    w3's interval pattern (w1, w3 and w5 are transpositions
    of one minor arpeggio, w0, w2 and w4 of a major one; melody matching is transposition-invariant)."""
    import shutil

    from sapphire_core.testing import signals

    import sapphire_vocal.plugin

    from sapphire_core.plugins import build_registry, get_plugin_manager

    s = T.toy_setup()
    index = tmp_path / "index"
    shutil.copytree(s["index"], index)
    registry = build_registry(get_plugin_manager(load_entrypoints=False,
                                                 plugins=[T.ToyPlugin(), sapphire_vocal.plugin]))
    eng = SearchEngine.open(index, registry=registry)
    assert eng.modes()["hum"] == "audio"
    pitches = [p - 5 for p in T.TOY_WORKS["w3"][0]]
    hum = signals.melody(pitches, durations=0.42, sr=16000) * 0.6
    # The toy index was built without melodies: a hum falls back to the audio path and writes nothing.
    before = sorted((p, p.stat().st_mtime_ns) for p in index.rglob("*"))
    res = eng.search(hum=(hum, 16000), k=2)
    assert set(res[0].explanation["modes"]) == {"hum"} and res[0].explanation["modalities"]
    assert sorted((p, p.stat().st_mtime_ns) for p in index.rglob("*")) == before
    # With the melodies indexed, the melody matcher answers, again without writing to the index.
    tracks = [Track.from_json({**m, "audio": m["audio_path"]}, Path("/")) for m in eng.folder.metadata.values()]
    assert build_extras(selected_extras(registry, ["melody"]), tracks, index) == {"melody": 12}
    eng = SearchEngine.open(index, registry=registry)
    before = sorted((p, p.stat().st_mtime_ns) for p in index.rglob("*"))
    res = eng.search(hum=(hum, 16000), k=2)
    assert sorted((p, p.stat().st_mtime_ns) for p in index.rglob("*")) == before
    assert not res[0].explanation["modalities"]  # ranked by melody, not through the model
    assert {r.metadata["work_id"] for r in res} <= {"w1", "w3", "w5"}


def test_track_lookup(engine):
    rec = engine.track("w0__v0")
    assert rec["metadata"]["lyrics"] == "the river runs so slowly" and Path(rec["audio_path"]).is_file()
    with pytest.raises(UnknownTrackError, match="nope"):
        engine.track("nope")
    with pytest.raises(KeyError):
        engine.track("nope")
    assert engine.model_version.startswith("toy@") and engine.index_version


def test_version_search_with_the_real_acoustic_plugin(tmp_path):
    """The acoustic plugin's ``version`` mode through the engine: a rendition of w3 a fourth lower and
    slower finds the works with w3's harmony up to transposition (w1, w3, w5), and rebuilding the
    extra on the same tracks leaves its file byte-identical."""
    import shutil

    import sapphire_acoustic.plugin
    from sapphire_core.plugins import build_registry, get_plugin_manager
    from sapphire_core.testing import signals

    s = T.toy_setup()
    index = tmp_path / "index"
    shutil.copytree(s["index"], index)
    registry = build_registry(get_plugin_manager(load_entrypoints=False,
                                                 plugins=[T.ToyPlugin(), sapphire_acoustic.plugin]))
    tracks = [Track.from_json({**m, "audio": m["audio_path"]}, Path("/")) for m in SearchEngine.open(
        index, registry=registry).folder.metadata.values()]
    assert build_extras(selected_extras(registry, ["chroma_sequence"]), tracks, index) == {"chroma_sequence": 12}
    stored = index / "extras" / "chroma_sequence" / "sequences.npz"
    first = stored.read_bytes()
    build_extras(selected_extras(registry, ["chroma_sequence"]), tracks, index)
    assert stored.read_bytes() == first
    eng = SearchEngine.open(index, registry=registry)
    assert eng.modes()["version"] == "audio"
    query = signals.melody([p - 5 for p in T.TOY_WORKS["w3"][0]], durations=0.5, sr=22050) * 0.6
    res = eng.search(version=(query, 22050), k=3)
    assert {r.metadata["work_id"] for r in res} <= {"w1", "w3", "w5"}, [r.track_id for r in res]
