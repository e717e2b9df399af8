"""``sapphire corpus scan DIR``: a user's folder of audio files becomes a valid tracks.jsonl."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from sapphire_core.corpus.scan import lrc_to_text, scan_folder
from sapphire_core.data import Corpus
from sapphire_core.errors import CorpusError
from sapphire_core.testing import signals

LRC = "[ar:Test Singer]\n[ti:Morning]\n[00:01.00]Hello morning light\n[00:03.50]Sing along with me\n"


@pytest.fixture
def music_folder(tmp_path):
    from mutagen.flac import FLAC
    from mutagen.id3 import TBPM, TIT2, TLAN, TPE1, USLT
    from mutagen.wave import WAVE

    root = tmp_path / "music"
    (root / "album").mkdir(parents=True)
    (root / ".hidden").mkdir()
    sr = 22050
    signals.write_wav(root / "morning.wav", signals.melody([60, 64, 67, 72], sr=sr), sr)
    (root / "morning.lrc").write_text(LRC, encoding="utf-8")
    sf.write(root / "album" / "02 Night Song.flac", signals.sine(330.0, sr=sr, seconds=3.0), sr, format="FLAC")
    flac = FLAC(str(root / "album" / "02 Night Song.flac"))
    flac["title"] = "Night Song"
    flac["artist"] = "The Testers"
    flac["genre"] = "Folk"
    flac["lyrics"] = "Stars above the quiet sea"
    flac["language"] = "en"
    flac.save()
    signals.write_wav(root / "album" / "tagged.wav", signals.sine(440.0, sr=sr, seconds=2.0), sr)
    wav = WAVE(str(root / "album" / "tagged.wav"))
    wav.add_tags()
    wav.tags.add(TIT2(encoding=3, text="Tagged Wave"))
    wav.tags.add(TPE1(encoding=3, text="ID3 Artist"))
    wav.tags.add(TBPM(encoding=3, text="96"))
    wav.tags.add(TLAN(encoding=3, text="deu"))
    wav.tags.add(USLT(encoding=3, lang="deu", desc="", text="Guten Abend, gut Nacht"))
    wav.save()
    (root / "album" / "instrumental.txt").write_text("not a sidecar: no audio with this stem")
    signals.write_wav(root / ".hidden" / "skip.wav", signals.sine(220.0, sr=sr, seconds=1.0), sr)
    return root


def test_scan_writes_a_corpus_the_core_reads(music_folder):
    path = scan_folder(music_folder)
    assert path == music_folder / "tracks.jsonl"
    corpus = Corpus(music_folder)
    assert sorted(t.id for t in corpus) == ["album_02_Night_Song", "album_tagged", "morning"]
    morning = corpus["morning"]
    assert morning.lyrics == "Hello morning light\nSing along with me"
    assert morning.lyrics_path == music_folder / "morning.lrc"
    assert morning.audio == music_folder / "morning.wav" and morning.audio.is_file()
    night = corpus["album_02_Night_Song"]
    assert night.lyrics == "Stars above the quiet sea" and night.language == "en"
    assert night.metadata["title"] == "Night Song" and night.metadata["artist"] == "The Testers"
    assert night.metadata["genre"] == "Folk"
    assert night.metadata["duration"] == pytest.approx(3.0, abs=0.01)
    tagged = corpus["album_tagged"]
    assert tagged.metadata["title"] == "Tagged Wave" and tagged.metadata["tempo_bpm"] == 96.0
    assert tagged.language == "de" and tagged.lyrics == "Guten Abend, gut Nacht"
    # Relative paths: the folder can move.
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert all(not r["audio"].startswith("/") for r in rows)


def test_scan_cli(music_folder, tmp_path):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    out = tmp_path / "index" / "tracks.jsonl"
    out.parent.mkdir()
    result = CliRunner().invoke(app, ["corpus", "scan", str(music_folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 tracks, 3 with lyrics" in result.output
    corpus = Corpus(out.parent)
    assert all(t.audio.is_file() for t in corpus)


def test_scan_errors(tmp_path):
    with pytest.raises(CorpusError, match="not a folder"):
        scan_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no audio files"):
        scan_folder(tmp_path / "empty")


def test_lrc_to_text():
    assert lrc_to_text("[offset:+100]\n[00:00.50][00:10.00]La la\n\n[01:02.3]Fin") == "La la\nFin"
