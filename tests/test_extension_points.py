"""The extension points a plugin reaches through hooks: query modes, explanations, index extras,
loss label fields and feature targets."""

from __future__ import annotations

import types

import numpy as np
import pytest

from sapphire_core import hookimpl
from sapphire_core.data import Track
from sapphire_core.errors import PluginError, UnknownComponentError
from sapphire_core.explanation import Explanation
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.index.extras import selected_extras
from sapphire_core.interpret import interpretations
from sapphire_core.losses import ConditionalTripletLoss, VersionContrastiveLoss
from sapphire_core.plugins import build_registry, get_plugin_manager
from sapphire_core.query_mode import QueryMode
from sapphire_core.training.labels import LabelEncoder, label_fields


class Brightness(FeatureExtractor):
    name, modality = "brightness", "toy"
    interpretable = {"levels": ("brightness", "warmth")}

    def output_shapes(self):
        return {"levels": (2,)}

    def extract(self, audio, track):
        return {"levels": np.array([0.9, 0.1], np.float32)}


class BrightnessExplanation(Explanation):
    name, extractor, output = "brightness", "brightness", "levels"
    adjectives = {"brightness": "bright"}


def registry_of(**hooks):
    plugin = types.SimpleNamespace(**{k: hookimpl(v) for k, v in hooks.items()})
    return build_registry(get_plugin_manager(load_entrypoints=False, plugins=[plugin]))


def test_registrar_is_typed_and_returns_the_class():
    seen = {}

    def register_explanations(register):
        seen["repr"] = repr(register)
        seen["returned"] = register(BrightnessExplanation)

    registry_of(register_extractors=lambda register: register(Brightness),
                register_explanations=register_explanations)
    assert seen["returned"] is BrightnessExplanation and seen["repr"].startswith("<Registrar explanation for")


def test_explanation_reads_an_interpretable_output():
    registry = registry_of(register_extractors=lambda register: register(Brightness),
                           register_explanations=lambda register: register(BrightnessExplanation))
    [spec] = interpretations(registry)
    assert spec.names == ("brightness", "warmth") and spec.feature_key == "brightness.levels"
    assert spec.words(np.array([0.9, 0.1])) == {"brightness": "high", "warmth": "low"}
    # without its extractor (plugin disabled) an explanation is simply not used
    assert interpretations(registry_of(register_explanations=lambda register: register(BrightnessExplanation))) == []


def test_explanation_of_an_undeclared_output_is_rejected():
    class Wrong(BrightnessExplanation):
        name, output = "wrong", "nothing"

    registry = registry_of(register_extractors=lambda register: register(Brightness),
                           register_explanations=lambda register: register(Wrong))
    with pytest.raises(PluginError, match=r"brightness.nothing.*interpretable.*\['levels'\]"):
        interpretations(registry)


def test_query_mode_checks():
    class NoExtra(QueryMode):
        name = "melody"

        def rank(self, query, data, *, k):
            return []

    class Shadow(NoExtra):
        name, extra = "text", "x"

    with pytest.raises(PluginError, match="query_mode 'melody' has no 'extra'"):
        registry_of(register_query_modes=lambda register: register(NoExtra))
    with pytest.raises(PluginError, match="'text' is built into the core"):
        registry_of(register_query_modes=lambda register: register(Shadow))


def test_index_extras_selection():
    registry = registry_of()
    assert selected_extras(registry, False) == {} and selected_extras(registry, None) == {}
    with pytest.raises(UnknownComponentError, match="unknown index_extra 'melody'"):
        selected_extras(registry, ["melody"])


def test_labels_are_the_fields_the_losses_ask_for():
    """A user's own ``genre`` field trains a sub-space; fields nobody asks for are not encoded."""
    tracks = [Track(id=f"t{i}", work_id=f"w{i // 2}", metadata={"genre": g, "era": "x"})
              for i, g in enumerate(["folk", "folk", "jazz", "jazz"])]
    triplet = ConditionalTripletLoss(subspaces={"style": "genre"}, include_whole=False)
    fields = label_fields([triplet, VersionContrastiveLoss()], {"style": slice(0, 4)})
    assert fields == ("work", "genre")
    labels = LabelEncoder(tracks, names=fields).encode_all(tracks)
    np.testing.assert_array_equal(labels["genre"], [0, 0, 1, 1])
    assert set(labels) == {"work", "genre"}
    # by default a sub-space trains on the label of its own name (with the demo corpus' aliases)
    assert ConditionalTripletLoss().label_fields({"mood": slice(0, 2), "tempo": slice(2, 4)}) == \
        {"mood", "tempo_class", "work"}


def test_collator_passes_the_feature_targets_losses_declare():
    from sapphire_core.embedding import TrackFeatures
    from sapphire_core.training.data import Collator, TrainingData

    tracks = [Track(id="a"), Track(id="b")]
    feats = [TrackFeatures("a", {"toy": {"brightness.levels": np.array([0.9, 0.1], np.float32)}}, {"toy": True}),
             TrackFeatures("b", {"toy": {"brightness.levels": np.array([0.2, 0.7], np.float32)}}, {"toy": True})]
    data = TrainingData(tracks=tracks, features=feats, labels={"work": np.array([0, 1])}, descriptions=[[], []],
                        time_keys=set(), durations=np.zeros(2), works=["a", "b"],
                        feature_targets={"bright": "brightness.levels"})
    samples = [{"index": i, "view1": f, "text_index": -1} for i, f in enumerate(feats)]
    target = Collator(data)(samples)["labels"]["bright"]
    np.testing.assert_allclose(target.numpy(), [[0.9, 0.1], [0.2, 0.7]])


def test_evaluation_adds_one_row_per_plugin_audio_mode(tmp_path):
    """queries.jsonl queries of a mode's kind are ranked by the mode against the whole corpus."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import _trained as T

    from sapphire_core.data import Corpus
    from sapphire_core.evaluation.runner import EvalData, query_mode_rows
    class FirstVariant(QueryMode):
        """Ranks the variant 1 of the query's own work first (read from the file name)."""

        name, extra, title, description = "whistle", "counting", "whistle (test)", "file-name matcher"

        def rank(self, query, data, *, k):
            work = Path(query).stem.split("__")[0]
            return [(t, 1.0 if t == f"{work}__v1" else 0.0) for t in data][:k]

    corpus = Corpus(T.write_toy_corpus(tmp_path / "corpus"))
    data = EvalData(corpus, [t.id for t in corpus], [], [], {}, [], [], [],
                    mode_queries={"whistle": [{"audio": "audio/w5__v0.wav", "work_id": "w5"}]})
    registry = registry_of(register_query_modes=lambda register: register(FirstVariant),
                           register_index_extras=lambda register: register(T.CountingExtra))
    [row] = query_mode_rows(data, registry, tmp_path / "eval")
    assert row["name"] == "whistle (test)" and row["whistle->audio"]["MRR"] == 1.0
    assert (tmp_path / "eval" / "extras" / "counting" / "ids.txt").is_file()


def test_a_mode_that_evaluates_core_tasks_gets_them_measured(tmp_path):
    """``evaluates``: the mode also answers every evaluation track (itself excluded) and the
    excerpt queries, with one more entry per excerpt length."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import _trained as T

    from sapphire_core.data import Corpus
    from sapphire_core.evaluation.runner import EvalData, query_mode_rows

    class SameWork(QueryMode):
        """The query's own file first (the evaluation must skip it), then its work's other variant."""

        name, extra, evaluates = "version", "counting", ("audio->audio", "excerpt->audio", "copy->audio")

        def rank(self, query, data, *, k):
            stem = Path(query).stem
            work = stem.split("__")[0]
            score = {t: (2.0 if t == stem else 1.0 if t.startswith(work + "__") else 0.0) for t in data}
            return sorted(score.items(), key=lambda x: -x[1])[:k]

    corpus = Corpus(T.write_toy_corpus(tmp_path / "corpus"))
    excerpts = [{"audio": "audio/w5__v0.wav", "work_id": "w5", "source_track": "w5__v0", "seconds": 5},
                {"audio": "audio/w2__v1.wav", "work_id": "w2", "source_track": "w2__v1", "seconds": 10}]
    copies = [{"audio": "audio/w5__v0.wav", "work_id": "w5", "source_track": "w5__v0", "degradation": "mp3"},
              {"audio": "audio/w2__v0.wav", "work_id": "w2", "source_track": "w2__v1", "degradation": "clean"}]
    data = EvalData(corpus, [t.id for t in corpus], excerpts, [], {}, [], [], [], copies=copies)
    registry = registry_of(register_query_modes=lambda register: register(SameWork),
                           register_index_extras=lambda register: register(T.CountingExtra))
    [row] = query_mode_rows(data, registry, tmp_path / "eval")
    assert row["audio->audio"]["top1"] == 1.0 and row["audio->audio"]["queries"] == len(corpus.tracks)
    assert row["excerpt->audio"]["top1"] == 1.0
    assert row["excerpt 5s->audio"]["queries"] == 1 and row["excerpt 10s->audio"]["top1"] == 1.0
    assert "version->audio" not in row  # no queries.jsonl queries of its own kind
    # a copy's one relevant track is its source, which stays in the ranking: w2__v0 ranks itself
    # first, before its source w2__v1 (rank 2)
    assert row["copy mp3->audio"]["top1"] == 1.0 and row["copy clean->audio"]["MRR"] == 0.5


class FavourOne(QueryMode):
    """Refines audio queries: ``favoured`` aligns perfectly (1.0), every other track weakly (0.3);
    tracks it leaves out (``ignored``) get no score."""

    name, extra, refines, refine_threshold, refine_weight = "favour", "counting", ("audio",), 0.5, 2.0
    favoured, ignored = "", ""

    def rank(self, query, data, *, k):
        scores = [(t, 1.0 if t == self.favoured else 0.3) for t in data if t != self.ignored]
        return sorted(scores, key=lambda x: -x[1])[:k]

    def explain(self, query, data, track_ids):
        return {t: {"summary": "favoured track"} for t in track_ids}


def test_a_refining_mode_lifts_only_what_it_matches_strongly(tmp_path):
    """``refines``: an audio query is ranked by the model's cosine plus ``refine_weight * (score -
    refine_threshold)`` where the mode scores above its threshold; below it (or unscored) the model's
    order and scores stand, and ``refine=False`` gives the model's ranking alone."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import _trained as T

    plugin = types.SimpleNamespace(register_query_modes=hookimpl(lambda register: register(FavourOne)),
                                   register_index_extras=hookimpl(lambda register: register(T.CountingExtra)))
    eng = T.toy_engine_with_extra(tmp_path / "index", plugin, "counting")
    query = eng.folder.metadata["w1__v0"]["audio_path"]
    plain = eng.search(audio=query, k=12, refine=False, explain=False)
    assert "favour" not in plain[0].explanation["modes"]
    FavourOne.favoured, FavourOne.ignored = plain[-1].track_id, plain[1].track_id  # the model's last and second
    try:
        refined = eng.search(audio=query, k=12, explain=True)
    finally:
        FavourOne.favoured = FavourOne.ignored = ""
    assert refined[0].track_id == plain[-1].track_id
    assert refined[0].score == pytest.approx(plain[-1].score + 2.0 * (1.0 - 0.5), abs=1e-5)
    assert refined[0].explanation["modes"]["favour"] == 1.0
    assert refined[0].explanation["summary"].startswith("favoured track")
    # the rest: the model's order and scores (0.3 is below the threshold; the ignored track is unscored)
    assert [r.track_id for r in refined[1:]] == [r.track_id for r in plain[:-1]]
    assert [r.score for r in refined[1:]] == pytest.approx([r.score for r in plain[:-1]], abs=1e-5)
    assert "favour" not in refined[2].explanation["modes"] and "favour" not in refined[2].explanation


def test_evaluation_adds_a_refined_row_per_fused_model(tmp_path):
    """The row the search engine's default audio ranking earns: the model's cosines refined by the mode's
    scores (task queries) and pair scores (triplets), beside the model's own figures."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import _trained as T

    from sapphire_core.data import Corpus
    from sapphire_core.evaluation.runner import EvalData, ModeScores, System, evaluate_system, refined_rows
    from sapphire_core.evaluation.triplets import Triplet

    class SameWork(QueryMode):
        """0.9 for the query's work, 0.6 (below the threshold) for the rest."""

        name, extra, evaluates, refines, refine_threshold, refine_weight = (
            "version", "counting", ("audio->audio",), ("audio",), 0.8, 1.0)

        def rank(self, query, data, *, k):
            work = Path(query).stem.split("__")[0]
            return sorted(((t, 0.9 if t.startswith(work + "__") else 0.6) for t in data), key=lambda x: -x[1])[:k]

        def pair_scores(self, data, pairs):
            return np.array([0.9 if a.split("__")[0] == b.split("__")[0] else 0.6 for a, b in pairs])

    corpus = Corpus(T.write_toy_corpus(tmp_path / "corpus"))
    ids = [t.id for t in corpus]
    # a model that finds no version: each track's nearest other track is of the next work
    angle = {t: 2 * np.pi * (int(t[1]) + 0.55 * int(t[-1])) / 6 for t in ids}
    vectors = {t: np.array([np.cos(a), np.sin(a)]) for t, a in angle.items()}
    triplets = [Triplet("w0__v0", "w0__v1", "w5__v1", "work"), Triplet("w2__v0", "w3__v0", "w2__v1", "mode")]
    data = EvalData(corpus, ids, [], [], {}, [], triplets, [])
    system = System("toy fused", "toy", vectors)
    registry = registry_of(register_query_modes=lambda register: register(SameWork),
                           register_index_extras=lambda register: register(T.CountingExtra))
    own = evaluate_system(system, data)
    [row] = refined_rows(system, data, ModeScores(data, registry, tmp_path / "eval"))
    assert row["name"] == "toy fused + version refinement"
    assert own["audio->audio"]["top1"] == 0.0 and row["audio->audio"]["top1"] == 1.0
    # work: lifted from wrong to right; mode: the version lift only confirms the model's wrong call
    assert own["triplets"]["work"] == 0.0 and row["triplets"]["work"] == 1.0
    assert own["triplets"]["mode"] == row["triplets"]["mode"] == 0.0
