"""Rendered tempo and key of the demo corpus are recovered (issue 4, "done means").

Thresholds from the issue: tempo within 4 % or at double/half for >= 85 % of the tracks, and a
mean mir_eval key weighted score >= 0.7. The numbers are printed (pytest -s) for the report.
"""

import json

import pytest

from sapphire_acoustic.evaluate import evaluate_corpus, tempo_hit


def test_tempo_hit_rule():
    assert tempo_hit(123.0, 120.0) and tempo_hit(61.0, 120.0) and tempo_hit(236.0, 120.0)
    assert not tempo_hit(126.0, 120.0) and not tempo_hit(80.0, 120.0) and not tempo_hit(360.0, 120.0)


@pytest.fixture(scope="module")
def scores(demo_corpus):
    res = evaluate_corpus(demo_corpus)
    print("\nacoustic demo-corpus scores:", json.dumps({k: v for k, v in res.items() if k != "per_track"}))
    return res


@pytest.mark.slow
def test_tempo_recovered(scores):
    assert scores["tracks"] >= 20
    assert scores["tempo_acc2"] >= 0.85, scores["tempo_acc2"]


@pytest.mark.slow
def test_key_recovered(scores):
    assert scores["key_weighted_score"] >= 0.7, scores["key_weighted_score"]
