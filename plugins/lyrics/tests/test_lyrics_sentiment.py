"""Sentiment arcs: VADER on English, the seed lexicon on other languages, hand-computed summaries."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.data import Track
from sapphire_lyrics.extractors import VALENCE_SOURCES, SentimentArc
from sapphire_lyrics.seed_lexicon import seed_valence
from sapphire_lyrics.sentiment import EMOTION_NAMES, SUMMARY_NAMES, arc_summary, resample_arc, vader_valence


def test_sad_line_negative_joyful_line_positive():
    sad, joyful = vader_valence(["I am so sad and lonely", "what a joyful sunny day"])
    assert sad < -0.5
    assert joyful > 0.5


def test_arc_of_a_song_that_brightens():
    lines = ["I am so sad and lonely", "the night is cold and dark", "the river runs", "what a joyful sunny day"]
    out = SentimentArc(emotions=False).extract(None, Track(id="t", lyrics="\n".join(lines), language="en"))
    summary = dict(zip(SUMMARY_NAMES, out["summary"]))
    valence = vader_valence(lines)
    assert summary["start"] == pytest.approx(valence[0]) and summary["start"] < 0
    assert summary["end"] == pytest.approx(valence[-1]) and summary["end"] > 0
    assert summary["slope"] > 0
    assert summary["mean"] == pytest.approx(valence.mean(), abs=1e-6)
    assert out["arc"][0] < 0 < out["arc"][-1]
    assert out["valence_source"] == VALENCE_SOURCES["vader"]
    assert out["present"] == 1.0


def test_summary_hand_values():
    # start/end = first/last quarter (1 line each of 4), slope of [-1,-1,1,1] over x=[0,1/3,2/3,1].
    s = arc_summary([-1.0, -1.0, 1.0, 1.0])
    x = np.array([0, 1 / 3, 2 / 3, 1])
    y = np.array([-1.0, -1.0, 1.0, 1.0])
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    np.testing.assert_allclose(s, [-1.0, 1.0, 0.0, slope, 1.0], rtol=1e-6)
    np.testing.assert_allclose(arc_summary([0.5]), [0.5, 0.5, 0.5, 0.0, 0.0])


def test_resample_arc_linear_and_constant():
    np.testing.assert_allclose(resample_arc([0.3], length=4), [0.3] * 4)
    # Lines at 0.25 and 0.75; output points at 1/8, 3/8, 5/8, 7/8 -> clamped ends, linear middle.
    np.testing.assert_allclose(resample_arc([0.0, 1.0], length=4), [0.0, 0.25, 0.75, 1.0], atol=1e-7)


def test_german_uses_seed_lexicon():
    sad, joyful, negated = seed_valence(["Ich bin so traurig und allein", "Freude, schöner Götterfunken",
                                         "nicht traurig"], language="de")
    assert sad < -0.3 and joyful > 0.3 and negated > 0
    out = SentimentArc(emotions=False).extract(
        None, Track(id="t", lyrics="O Traurigkeit, o Herzeleid\nnun freue dich", language="de"))
    assert out["valence_source"] == VALENCE_SOURCES["seed_lexicon"]
    assert out["summary"][0] < 0 < out["summary"][1]


def test_italian_and_latin_seed_lexicon():
    morire, amore = seed_valence(["Lasciatemi morire", "Amor mio dolce"], language="it")
    assert morire < 0 < amore
    dolorosa, gaudete = seed_valence(["Stabat mater dolorosa", "Gaudete in Domino"], language="la")
    assert dolorosa < 0 < gaudete


def test_non_english_zeros_option_says_so():
    track = Track(id="t", lyrics="Ich bin traurig", language="de")
    out = SentimentArc(non_english="zeros", emotions=False).extract(None, track)
    assert out["valence_source"] == VALENCE_SOURCES["none"]
    assert not out["arc"].any()


def test_emotion_profile_points_the_right_way():
    ex = SentimentArc()
    sad = ex.extract(None, Track(id="s", lyrics="tears fall and I grieve alone\nmy heart is broken", language="en"))
    happy = ex.extract(None, Track(id="h", lyrics="we laugh and dance with joy\nhappy glad celebration", language="en"))
    i_sad, i_joy = EMOTION_NAMES.index("sadness"), EMOTION_NAMES.index("joy")
    assert sad["emotion"][i_sad] > sad["emotion"][i_joy]
    assert happy["emotion"][i_joy] > happy["emotion"][i_sad]
    assert sad["emotion"].sum() == pytest.approx(0.0, abs=1e-5)  # centred across emotions


def test_instrumental_is_absent_not_neutral():
    out = SentimentArc().extract(None, Track(id="inst"))
    assert out["present"] == 0.0
    assert all(not np.asarray(v).any() for v in out.values())


def test_language_without_seed_lexicon_falls_back_to_vader_flagged():
    track = Track(id="t", lyrics="Aloha oe, aloha oe\nA fond embrace, until we meet again", language="haw")
    out = SentimentArc(emotions=False).extract(None, track)
    assert out["valence_source"] == VALENCE_SOURCES["vader_other_language"]
    assert out["summary"][1] > 0  # "fond embrace" is positive to VADER
