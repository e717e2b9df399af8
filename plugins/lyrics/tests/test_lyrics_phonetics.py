"""Phonemes (CMUdict / espeak-ng) and the phonetic profile, checked against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.data import Track
from sapphire_lyrics.extractors import Phonetics
from sapphire_lyrics.phonemes import PHONE_CLASSES, espeak_phonemize, ipa_class, phonemize_lines
from sapphire_lyrics.phonetics import (
    PHONETIC_FEATURES,
    alliteration_rate,
    end_rhyme_rate,
    phonetic_profile,
    rhyme_density,
)


def feature(profile: np.ndarray, name: str) -> float:
    return float(profile[PHONETIC_FEATURES.index(name)])


def symbols(line):
    return [[p.symbol for p in word] for word in line]


def test_english_uses_cmudict_arpabet():
    (line,) = phonemize_lines(["the cat sat"], language="en")
    assert symbols(line) == [["DH", "AH"], ["K", "AE", "T"], ["S", "AE", "T"]]
    assert [p.cls for p in line[1]] == ["plosive", "vowel", "plosive"]


def test_phoneme_rate_of_a_timed_line_matches_hand_count(tmp_path):
    # "the cat sat" = DH AH | K AE T | S AE T: 8 phonemes, 3 syllables, sung from 1.0 s to 3.0 s.
    # "on the mat"  = AA N | DH AH | M AE T: 7 phonemes, 3 syllables, from 3.0 s to 5.0 s.
    path = tmp_path / "cat.lrc"
    path.write_text("[00:01.00]the cat sat\n[00:03.00]on the mat\n[00:05.00]\n", encoding="utf-8")
    out = Phonetics().extract(None, Track(id="cat", lyrics_path=path, language="en"))
    profile = out["profile"]
    assert out["present"] == 1.0
    assert feature(profile, "phoneme_rate") == pytest.approx(15 / 4)
    assert feature(profile, "syllable_rate") == pytest.approx(6 / 4)
    assert feature(profile, "timed_lines") == 1.0 and feature(profile, "timed_track") == 0.0
    assert feature(profile, "phonemes_per_line") == pytest.approx(7.5)
    assert feature(profile, "syllables_per_line") == pytest.approx(3.0)
    assert feature(profile, "words_per_line") == pytest.approx(3.0)
    # "sat" / "mat" end in AE T and are different words: one rhyming line pair out of one.
    assert feature(profile, "end_rhyme_rate") == pytest.approx(1.0)
    fracs = {c: feature(profile, f"frac_{c}") for c in PHONE_CLASSES}
    # vowels AH AE AE AA AH AE = 6; plosives K T T T = 4 (+0); fricatives DH S DH = 3; nasals N M = 2.
    assert fracs["vowel"] == pytest.approx(6 / 15)
    assert fracs["plosive"] == pytest.approx(4 / 15)
    assert fracs["fricative"] == pytest.approx(3 / 15)
    assert fracs["nasal"] == pytest.approx(2 / 15)
    assert sum(fracs.values()) == pytest.approx(1.0)


def test_rate_falls_back_to_track_duration_then_zero():
    track = Track(id="x", lyrics="the cat sat", language="en", metadata={"duration": 4.0})
    profile = Phonetics().extract(None, track)["profile"]
    assert feature(profile, "phoneme_rate") == pytest.approx(8 / 4)
    assert feature(profile, "timed_track") == 1.0
    untimed = Phonetics(use_track_duration=False).extract(None, track)["profile"]
    assert feature(untimed, "phoneme_rate") == 0.0 and feature(untimed, "timed_track") == 0.0


def test_german_line_gets_ipa_phonemes_from_espeak():
    (line,) = phonemize_lines(["Der Mond ist aufgegangen,"], language="de")
    assert symbols(line)[:2] == [["d", "ɛ", "ɾ"], ["m", "ɔ", "n", "t"]]
    # Der | Mond | ist | auf-ge-gang-en: 7 vowel nuclei (the diphthong aʊ is one phoneme).
    assert sum(p.is_vowel for word in line for p in word) == 7
    assert any(p.symbol == "aʊ" for p in line[3])


def test_espeak_batches_keep_line_alignment():
    lines = ["Der Mond ist aufgegangen,", "die goldnen Sternlein prangen", "am Himmel hell und klar!", "", "Zwei"]
    batched = espeak_phonemize(lines, language="de")
    one_by_one = [espeak_phonemize([line], language="de")[0] for line in reversed(lines)][::-1]
    assert batched == one_by_one
    assert batched[3] == ()


@pytest.mark.parametrize("lang, line, first", [("it", "Amor che nella mente", ["a", "m", "o", "r"]),
                                                ("la", "Gloria Deo", ["ɡ", "l", "ɔ", "r", "ɪ", "a"])])
def test_italian_and_latin_voices(lang, line, first):
    assert symbols(phonemize_lines([line], language=lang)[0])[0] == first


@pytest.mark.parametrize("symbol, cls", [("aʊ", "vowel"), ("iː", "vowel"), ("ts", "affricate"), ("pf", "affricate"),
                                         ("ʃ", "fricative"), ("ŋ", "nasal"), ("ɾ", "liquid"), ("j", "glide"),
                                         ("kʰ", "plosive"), ("ɡ", "plosive")])
def test_ipa_classes(symbol, cls):
    assert ipa_class(symbol) == cls


def test_rhyme_and_alliteration_hand_examples():
    lines = phonemize_lines(["big bold bear", "my heart is dark", "we walk in the park", "the cat sat"], language="en")
    # Adjacent pairs: 2 + 3 + 4 + 2 = 11; alliterating: big-bold, bold-bear (B) and we-walk (W).
    assert alliteration_rate(lines) == pytest.approx(3 / 11)
    # dark/park rhyme (AA R K); bear/dark and park/sat do not: 1 of 3 line pairs.
    assert end_rhyme_rate(lines) == pytest.approx(1 / 3)
    # A verbatim repeat is not a rhyme.
    same = phonemize_lines(["the cat sat", "the cat sat"], language="en")
    assert end_rhyme_rate(same) == 0.0


def test_rhyme_density_counts_vowel_sequence_matches():
    # "cat sat": sat's single vowel AE matches cat's -> 1; cat has no earlier word -> 0; mean 0.5.
    lines = phonemize_lines(["cat sat"], language="en")
    assert rhyme_density(lines) == pytest.approx(0.5)
    # Two-vowel rhyme across lines: "hammer" (AE ER) ... "grammar" (AE ER) -> 2 for grammar.
    lines = phonemize_lines(["hammer", "grammar"], language="en")
    # hammer: 0 (nothing before); grammar: the match may not cross its own line start, 2 vowels -> 2.
    assert rhyme_density(lines) == pytest.approx(1.0)


def test_profile_shape_and_instrumental():
    assert phonetic_profile([]).shape == (len(PHONETIC_FEATURES),)
    out = Phonetics().extract(None, Track(id="inst"))
    assert out["present"] == 0.0
    assert not out["profile"].any()


def test_cache_key_follows_duration_for_phonetics_only():
    from sapphire_core.cache import content_hash
    from sapphire_lyrics.extractors import LyricsSemantic

    slow = Track(id="a", lyrics="the cat sat", language="en", metadata={"duration": 8.0})
    fast = Track(id="b", lyrics="the cat sat", language="en", metadata={"duration": 4.0})
    assert content_hash(slow, Phonetics()) != content_hash(fast, Phonetics())
    assert content_hash(slow, LyricsSemantic()) == content_hash(fast, LyricsSemantic())


def test_missing_espeak_is_a_clear_error_for_german_but_not_english(monkeypatch):
    import shutil

    from sapphire_core.errors import ExtractionError
    from sapphire_lyrics import phonemes

    monkeypatch.setattr(shutil, "which", lambda name: None)
    phonemes.espeak_binary.cache_clear()
    phonemes.clear_memo()
    try:
        with pytest.raises(ExtractionError, match="apt-get install espeak-ng"):
            phonemize_lines(["Die goldnen Sternlein"], language="de")
        (line,) = phonemize_lines(["the cat zyxqwv"], language="en")  # unknown word dropped
        assert symbols(line) == [["DH", "AH"], ["K", "AE", "T"]]
    finally:
        phonemes.espeak_binary.cache_clear()
