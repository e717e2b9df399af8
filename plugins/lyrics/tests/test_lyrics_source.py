"""Reading lyrics: plain text, .txt and .lrc files (timestamps kept), instrumentals, language."""

from __future__ import annotations

import math

import pytest

from sapphire_core.data import Track
from sapphire_core.errors import ExtractionError
from sapphire_lyrics.language import detect_language
from sapphire_lyrics.source import parse_lrc, read_lyrics

LRC = """[ar:Someone]
[ti:A song]
[offset:+500]
[00:01.00]the cat sat
[00:03.00][00:09.00]on the <00:03.50>mat
[00:05.50]
"""


def test_lrc_keeps_timestamps_repeats_offset_and_end_marks():
    lines, starts, ends = parse_lrc(LRC, duration=12.0)
    # The offset (+500 ms) moves every line 0.5 s earlier; a line with two tags is sung twice;
    # the empty line at 5.5 s ends "on the mat"; the last line ends at the track's duration.
    assert lines == ["the cat sat", "on the mat", "on the mat"]
    assert starts == [0.5, 2.5, 8.5]
    assert ends == [2.5, 5.0, 12.0]


def test_lrc_file_read_with_times(tmp_path):
    path = tmp_path / "song.lrc"
    path.write_text("[00:10.25]first line\n[01:02.5]second line\n", encoding="utf-8")
    lyrics = read_lyrics(Track(id="t", lyrics_path=path, language="en"))
    assert lyrics.source == "lrc"
    assert lyrics.lines == ("first line", "second line")
    assert lyrics.times == (10.25, 62.5)
    assert lyrics.line_durations()[0] == pytest.approx(52.25)
    assert math.isnan(lyrics.line_durations()[1])  # no duration known for the last line


def test_lrc_text_in_the_record_is_parsed_too():
    lyrics = read_lyrics(Track(id="t", lyrics="[00:01.00]hello there\n[00:02.00]bye", metadata={"duration": 4}))
    assert lyrics.times == (1.0, 2.0) and lyrics.ends == (2.0, 4.0)


def test_txt_file_untimed(tmp_path):
    path = tmp_path / "song.txt"
    path.write_text("Der Mond ist aufgegangen,\n\nDie goldnen Sternlein prangen\n", encoding="utf-8")
    lyrics = read_lyrics(Track(id="t", lyrics_path=path))
    assert lyrics.lines == ("Der Mond ist aufgegangen,", "Die goldnen Sternlein prangen")
    assert lyrics.times is None and lyrics.line_durations() is None
    assert lyrics.language == "de"  # detected, no metadata


def test_metadata_language_wins_over_detection():
    assert read_lyrics(Track(id="t", lyrics="the night is long", language="it")).language == "it"


def test_instrumental_is_none():
    assert read_lyrics(Track(id="t")) is None
    assert read_lyrics(Track(id="t", lyrics=None)) is None


def test_lrc_with_only_empty_lines_is_instrumental(tmp_path):
    path = tmp_path / "x.lrc"
    path.write_text("[ti:Instrumental]\n[00:01.00]\n", encoding="utf-8")
    assert read_lyrics(Track(id="t", lyrics_path=path)) is None


def test_missing_lyrics_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.lrc"
    with pytest.raises(ExtractionError, match="nope.lrc"):
        read_lyrics(Track(id="t", lyrics_path=missing))


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Der Mond ist aufgegangen, die goldnen Sternlein prangen am Himmel hell und klar", "de"),
        ("Ein feste Burg ist unser Gott, ein gute Wehr und Waffen", "de"),
        ("Ave Maria, gratia plena, Dominus tecum", "la"),
        ("Agnus Dei, qui tollis peccata mundi, miserere nobis", "la"),
        ("Lasciatemi morire, e chi volete voi che mi conforte", "it"),
        ("Il bianco e dolce cigno cantando more", "it"),
        ("The river runs so slowly and the night is calm and long", "en"),
        ("Je ne regrette rien, ni le bien qu'on m'a fait", "fr"),
        ("Yo no sé qué me pasa con el amor de mi vida", "es"),
    ],
)
def test_language_detection(text, lang):
    assert detect_language(text) == lang


def test_language_unknown_is_none():
    assert detect_language("Kyrie eleison") is None
    assert detect_language("") is None


def test_scanned_record_keeps_lrc_timing_over_its_plain_copy(tmp_path):
    # The corpus scanner stores the LRC's text without timestamps in 'lyrics' AND the .lrc path.
    path = tmp_path / "song.lrc"
    path.write_text("[00:01.00]the cat sat\n[00:03.00]on the mat\n", encoding="utf-8")
    lyrics = read_lyrics(Track(id="t", lyrics="the cat sat\non the mat", lyrics_path=path))
    assert lyrics.times == (1.0, 3.0)


def test_score_verse_on_one_line_is_split_into_phrases():
    # Demo-corpus lyrics come from a score as one string per verse.
    verse = ("Nun ruhen alle Wälder, Vieh, Menschen, Städt und Felder, es schläft die ganze Welt; "
             "ihr aber, meine Sinnen, auf, auf, ihr sollt beginnen, was eurem Schöpfer wohlgefällt.")
    lyrics = read_lyrics(Track(id="t", lyrics=verse))
    assert lyrics.lines == (
        "Nun ruhen alle Wälder,", "Vieh, Menschen, Städt und Felder,", "es schläft die ganze Welt;",
        "ihr aber, meine Sinnen,", "auf, auf, ihr sollt beginnen,", "was eurem Schöpfer wohlgefällt.",
    )
    assert " ".join(lyrics.lines) == verse
    assert lyrics.language == "de"


def test_score_syllable_hyphens_are_joined():
    lyrics = read_lyrics(Track(id="t", lyrics="pur da me par- ti- te, a- ni-ma du- ra", language="it"))
    assert lyrics.lines == ("pur da me partite, ani-ma dura",)


def test_a_lyrics_file_over_the_cap_is_refused_not_read(tmp_path):
    from sapphire_core.data import MAX_LYRICS_BYTES

    big = tmp_path / "big.txt"
    big.write_text("la la la\n" * (MAX_LYRICS_BYTES // 9 + 1))
    with pytest.raises(ExtractionError, match=r"big\.txt: the lyrics file is over the 65,536-byte limit"):
        read_lyrics(Track(id="t", lyrics_path=big))
    fits = tmp_path / "fits.txt"
    fits.write_text("la la la\n" * (MAX_LYRICS_BYTES // 9 - 1))
    assert read_lyrics(Track(id="t", lyrics_path=fits)).lines[0] == "la la la"
