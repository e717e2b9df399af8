"""Hand-written text queries: metadata relevance, precision@k by hand, and the runner's query->audio task."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.data import Corpus
from sapphire_core.errors import ConfigError
from sapphire_core.evaluation.runner import EvalData, System, evaluate_system
from sapphire_core.evaluation.text_queries import TextQuery, load_text_queries, precision_at_k
from sapphire_core.testing import signals


def test_the_shipped_queries_are_thirty_and_each_names_known_fields():
    queries = load_text_queries()
    assert len(queries) == 30 and len({q.text for q in queries}) == 30
    known = {"instrument_family", "form", "composer_has", "era", "mode", "tempo_class", "meter", "collection"}
    assert all(set(q.match) <= known for q in queries)


def test_relevance_needs_every_condition_and_composer_matches_a_substring():
    q = TextQuery("a gloomy Bach chorale", {"form": ("chorale",), "composer_has": ("bach",), "mode": ("minor",)})
    assert q.relevant({"form": "chorale", "composer": "Johann Sebastian Bach", "mode": "minor"})
    assert not q.relevant({"form": "chorale", "composer": "Johann Sebastian Bach", "mode": "major"})
    assert not q.relevant({"form": "chorale", "mode": "minor"})


def test_precision_at_k_by_hand():
    scores = np.array([[0.9, 0.8, 0.1, 0.7], [0.1, 0.2, 0.3, 0.4]])
    relevant = np.array([[True, False, True, False], [True, True, False, False]])
    # Query 1 top-2: items 0 (relevant), 1 (not) -> 0.5; query 2 top-2: items 3, 2 -> 0.
    np.testing.assert_allclose(precision_at_k(scores, relevant, 2), [0.5, 0.0])
    np.testing.assert_allclose(precision_at_k(scores, relevant, 10), [0.5, 0.5])  # k capped at N


def test_a_malformed_entry_is_named(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("- text: fine\n  match: {mode: [minor]}\n- text: 3\n")
    with pytest.raises(ConfigError, match=r"q.yaml: entry 2 needs 'text'"):
        load_text_queries(path)


def test_the_runner_scores_hand_written_queries_against_chance(write_corpus):
    modes = {"t0": "minor", "t1": "minor", "t2": "major", "t3": "major", "t4": "major", "t5": "major"}
    root = write_corpus({t: (signals.sine(440.0, seconds=0.2), 22050, {"work_id": t, "mode": m})
                         for t, m in modes.items()})
    corpus = Corpus(root)
    ids = list(modes)
    minor, major = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    tracks = {t: (minor if m == "minor" else major) + 0.01 * k for k, (t, m) in enumerate(modes.items())}

    def texts(sign: float):
        # A text tower that hears "minor" in the query (sign 1) or gets it backwards (sign -1).
        return lambda batch: np.stack([minor if ("minor" in q) == (sign > 0) else major for q in batch])

    data = EvalData.build(corpus, ids)
    good = evaluate_system(System("good", "", tracks, texts=texts(1.0), only=("query->audio",)), data)["query->audio"]
    bad = evaluate_system(System("bad", "", tracks, texts=texts(-1.0), only=("query->audio",)), data)["query->audio"]
    # Only the two mode queries have relevant tracks here (the others need fields these tracks lack).
    assert good["queries"] == 2
    assert good["chance P@10"] == pytest.approx((2 / 6 + 4 / 6) / 2)
    assert good["MRR"] == 1.0 and bad["MRR"] < 0.5
