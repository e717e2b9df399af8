"""Reading tracks.jsonl (``sapphire_core.data``): strict by default, or skipping bad lines with a reason."""

from __future__ import annotations

import pytest

from sapphire_core.data import MAX_LYRICS_BYTES, Corpus, LineProblem, check_record, read_tracks
from sapphire_core.errors import CorpusError


def _write(tmp_path, raw: bytes):
    (tmp_path / "tracks.jsonl").write_bytes(raw)
    return tmp_path / "tracks.jsonl"


def test_lenient_reading_keeps_good_lines_and_lists_the_bad_ones(tmp_path):
    path = _write(tmp_path, b'{"id": "a", "audio": "a.wav"}\r\n'
                            b'{"id": "b", "audio": 5}\n'
                            b'\xef\xbb\xbf{"id": "c", "audio": "c.wav"}\n'  # a BOM mid-file (concatenated files)
                            b'{"id": "a", "audio": "again.wav"}\n')
    problems: list[LineProblem] = []
    tracks = list(read_tracks(path, problems=problems))
    assert [t.id for t in tracks] == ["a", "c"] and tracks[0].audio == tmp_path / "a.wav"
    assert [(p.line, p.field, p.track_id) for p in problems] == [(2, "audio", "b"), (4, "id", "a")]
    assert str(problems[1]) == f"{path}:4: field 'id': 'a' is already used on line 1; ids must be unique"
    assert problems[0].to_json() == {"id": "b", "file": str(path), "line": 2, "field": "audio",
                                     "error_type": "CorpusError",
                                     "error": f"{path}:2: field 'audio': must be a file path string, got 5 (a number)"}


def test_strict_corpus_raises_at_the_first_bad_line(tmp_path):
    _write(tmp_path, b'{"id": "a"}\n{"id": "b", "language": 123}\n')
    with pytest.raises(CorpusError, match=r"tracks\.jsonl:2: field 'language': must be a string, got 123"):
        Corpus(tmp_path)
    lenient = Corpus(tmp_path, strict=False)
    assert len(lenient) == 1 and len(lenient.problems) == 1


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "the corpus has no tracks"),
    (b"null\n", "no usable tracks: all 1 lines were skipped"),
])
def test_require_tracks(tmp_path, raw, message):
    _write(tmp_path, raw)
    with pytest.raises(CorpusError, match=message):
        Corpus(tmp_path, strict=False).require_tracks()


def test_inline_lyrics_cap():
    fits = {"id": "a", "lyrics": "x" * MAX_LYRICS_BYTES}
    assert check_record(fits) is None
    over = check_record({"id": "a", "lyrics": "é" * (MAX_LYRICS_BYTES // 2 + 1)})  # bytes, not characters
    assert over[0] == "lyrics" and "65,538 bytes, over the 65,536-byte limit" in over[1]
    assert check_record([1]) == (None, check_record([1])[1]) and "got an array" in check_record([1])[1]
    assert check_record({"id": 3}) is None  # integer ids are fine (read as "3")


def test_a_utf16_file_is_one_clear_error_not_a_problem_per_line(tmp_path):
    _write(tmp_path, '{"id": "a", "audio": "a.wav"}\n'.encode("utf-16"))
    with pytest.raises(CorpusError, match=r"tracks\.jsonl: the file is UTF-16 text; save tracks\.jsonl as UTF-8"):
        Corpus(tmp_path, strict=False)
