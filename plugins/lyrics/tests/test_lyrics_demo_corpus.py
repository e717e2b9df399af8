"""The lyrics extractors on the rendered demo corpus: German chorales, Latin masses, Italian madrigals."""

from __future__ import annotations

import numpy as np

from sapphire_core.data import Corpus
from sapphire_lyrics.extractors import VALENCE_SOURCES, Phonetics, SentimentArc
from sapphire_lyrics.language import detect_language
from sapphire_lyrics.phonetics import PHONETIC_FEATURES


def one_track_per_work(root):
    works = {}
    for track in Corpus(root):
        works.setdefault(track.work_id or track.id, track)
    return list(works.values())


def test_language_detector_agrees_with_corpus_metadata(demo_corpus):
    sung = [t for t in one_track_per_work(demo_corpus) if t.lyrics and t.language]
    assert len(sung) >= 10
    agree = sum(detect_language(t.lyrics) == t.language for t in sung)
    # Misses on the demo corpus are Greek "Kyrie eleison" texts, Hawaiian and OCR-damaged underlay.
    assert agree / len(sung) >= 0.75, f"{agree}/{len(sung)}"


def test_phonetics_and_sentiment_on_real_lyrics(demo_corpus):
    tracks = one_track_per_work(demo_corpus)
    phonetics, arc = Phonetics(), SentimentArc(emotions=False)
    vowel_share: dict[str, list[float]] = {}
    for track in tracks:
        feats = phonetics.extract(None, track)
        assert feats["present"] == (1.0 if track.has_lyrics else 0.0), track.id
        if not track.has_lyrics:
            continue
        profile = feats["profile"]
        assert np.all(np.isfinite(profile))
        assert profile[PHONETIC_FEATURES.index("syllables_per_line")] > 0, track.id
        if track.metadata.get("duration"):
            assert profile[PHONETIC_FEATURES.index("timed_track")] == 1.0
        vowel_share.setdefault(track.language, []).append(float(profile[PHONETIC_FEATURES.index("frac_vowel")]))
        if track.language in ("de", "la", "it"):
            assert arc.extract(None, track)["valence_source"] == VALENCE_SOURCES["seed_lexicon"], track.id
    # Phonotactics: Latin and Italian are vowel-rich, German clusters consonants ("Sternlein prangen").
    assert {"de", "la", "it"} <= set(vowel_share)
    german = np.mean(vowel_share["de"])
    assert np.mean(vowel_share["la"]) > german + 0.03
    assert np.mean(vowel_share["it"]) > german + 0.03
