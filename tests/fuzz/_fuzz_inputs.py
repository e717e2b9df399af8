"""Generators of bad and odd corpus inputs for the fuzz suite (issue 19): each *kind* writes its files
and returns its ``tracks.jsonl`` lines, each with what ``extract`` and ``index`` must do with it.

Expectations:

``ok``    the track is processed (odd but valid input, e.g. a BOM, CRLF line ends, an integer id);
``warn``  the track is processed and gets a warning (extract's ``warnings.jsonl``) containing ``needle``;
``fail``  the track fails: its ``failures.jsonl`` entry names the file and contains ``needle``;
``skip``  the line is skipped: its ``failures.jsonl`` entry names tracks.jsonl, the line and ``field``;
``none``  a line that is no track at all (blank lines).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


@dataclass
class Line:
    """One ``tracks.jsonl`` line and what must happen to it."""

    raw: bytes
    expect: str
    track_id: str | None = None
    needle: str = ""  # failures: a piece of the reason; warnings: the warning's first word
    field: str | None = None  # skipped lines: the field named (None: the whole line)
    file: str | None = None  # failures: the file named in the reason
    lineno: int = 0  # set when the corpus is assembled
    kind: str = ""


@dataclass
class Kind:
    name: str
    make: Callable[[Context], list[Line]]
    needs: str | None = None  # an executable the kind needs (ffmpeg)


@dataclass
class Context:
    root: Path

    @property
    def audio(self) -> Path:
        (self.root / "audio").mkdir(parents=True, exist_ok=True)
        return self.root / "audio"

    def wav(self, name: str, y: np.ndarray | None = None, *, sr: int = SR, subtype: str | None = None) -> str:
        """Write ``audio/NAME`` (a 1 s sine by default); returns the path relative to the corpus."""
        if y is None:
            y = sine(seconds=1.0)
        sf.write(self.audio / name, y, sr, subtype=subtype)
        return f"audio/{name}"


def sine(freq: float = 440.0, *, seconds: float = 1.0, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def rec(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def good(ctx: Context, tid: str, *, freq: float = 220.0) -> Line:
    return Line(rec(id=tid, audio=ctx.wav(f"{tid}.wav", sine(freq))), "ok", tid)


def ok(tid: str, raw: bytes) -> Line:
    return Line(raw, "ok", tid)


def skip(field_name: str | None, raw: bytes, needle: str = "", tid: str | None = None) -> Line:
    return Line(raw, "skip", tid, needle=needle, field=field_name)


def fail(tid: str, audio: str, needle: str, *, named: str | None = None, **extra) -> Line:
    """A track that must fail with ``needle`` in its reason, naming ``named`` [default: the audio file]."""
    return Line(rec(id=tid, audio=audio, **extra), "fail", tid, needle=needle, file=named or Path(audio).name)


def warn(tid: str, audio: str, needle: str) -> Line:
    return Line(rec(id=tid, audio=audio), "warn", tid, needle=needle, file=Path(audio).name)


# ---------------------------------------------------------------- tracks.jsonl lines

def _dup(ctx):
    first = good(ctx, "dup")
    return [first, skip("id", rec(id="dup", audio=ctx.wav("dup2.wav")), "already used on line", "dup")]


def _too_long_inline_lyrics(ctx):
    return [skip("lyrics", rec(id="biglyr", audio=ctx.wav("biglyr.wav"), lyrics="la " * 25_000), "limit", "biglyr")]


LINE_KINDS = [
    Kind("duplicate id", _dup),
    Kind("missing id", lambda c: [skip("id", rec(audio=c.wav("noid.wav")), "missing")]),
    Kind("empty id", lambda c: [skip("id", rec(id="", audio=c.wav("emptyid.wav")), "empty")]),
    Kind("whitespace id", lambda c: [skip("id", rec(id="   ", audio=c.wav("wsid.wav")), "empty")]),
    Kind("id is an array", lambda c: [skip("id", rec(id=[1], audio=c.wav("arrid.wav")), "must be a string")]),
    Kind("id is null", lambda c: [skip("id", rec(id=None, audio=c.wav("nullid.wav")), "must be a string")]),
    Kind("id is a boolean", lambda c: [skip("id", rec(id=True, audio=c.wav("boolid.wav")), "must be a string")]),
    Kind("malformed JSON", lambda c: [skip(None, b'{"id": "mal", "audio": ', "not valid JSON")]),
    Kind("single quotes JSON", lambda c: [skip(None, b"{'id': 'sq'}", "not valid JSON")]),
    Kind("line is an array", lambda c: [skip(None, b'["a", "audio/a.wav"]', "got an array")]),
    Kind("line is null", lambda c: [skip(None, b"null", "got null")]),
    Kind("line is a number", lambda c: [skip(None, b"42", "got 42")]),
    Kind("deeply nested JSON", lambda c: [skip(None, b"[" * 100_000 + b"]" * 100_000, "nested too deeply")]),
    Kind("id with spaces kept as is", lambda c: [ok(" padded ", rec(id=" padded ", audio=c.wav("padded.wav")))]),
    Kind("line is a string", lambda c: [skip(None, b'"audio/x.wav"', "JSON object")]),
    Kind('"audio": 123', lambda c: [skip("audio", rec(id="a123", audio=123), "must be a file path string", "a123")]),
    Kind('"audio": a list', lambda c: [skip("audio", rec(id="alist", audio=["x.wav"]), "got an array", "alist")]),
    Kind('"audio": an object', lambda c: [skip("audio", rec(id="aobj", audio={"p": 1}), "got an object", "aobj")]),
    Kind('"audio" with a NUL byte', lambda c: [skip("audio", rec(id="anul", audio="a\x00b.wav"), "NUL", "anul")]),
    Kind('"language": 123', lambda c: [skip("language", rec(id="l123", audio=c.wav("l123.wav"), language=123),
                                            "must be a string", "l123")]),
    Kind('"lyrics": 5', lambda c: [skip("lyrics", rec(id="lyr5", audio=c.wav("lyr5.wav"), lyrics=5),
                                        "must be a string", "lyr5")]),
    Kind('"lyrics_path": 7', lambda c: [skip("lyrics_path", rec(id="lp7", audio=c.wav("lp7.wav"), lyrics_path=7),
                                             "must be a file path string", "lp7")]),
    Kind('"work_id": an object', lambda c: [skip("work_id", rec(id="wobj", audio=c.wav("wobj.wav"), work_id={}),
                                                 "must be a string", "wobj")]),
    Kind("non-UTF-8 line (0xff)", lambda c: [skip(None, b'{"id": "bad\xff", "audio": "x.wav"}', "not UTF-8")]),
    Kind("Latin-1 encoded line", lambda c: [skip(None, '{"id": "caf\u00e9"}'.encode("latin-1"), "not UTF-8")]),
    Kind("inline lyrics over 64 KB", _too_long_inline_lyrics),
    # odd but valid: these must keep passing
    Kind("CRLF line end", lambda c: [ok("crlf", rec(id="crlf", audio=c.wav("crlf.wav")) + b"\r")]),
    Kind("blank and whitespace lines", lambda c: [Line(b"", "none"), Line(b"   \t", "none")]),
    Kind("integer id", lambda c: [ok("7", rec(id=7, audio=c.wav("int7.wav")))]),
    Kind("unicode id and file name", lambda c: [ok("ñandú 🎵", rec(id="ñandú 🎵", audio=c.wav("ñandú 🎵.wav")))]),
    Kind("extra nested metadata", lambda c: [ok("meta", rec(id="meta", audio=c.wav("meta.wav"),
                                                            tags={"a": [1, {"b": None}]}, year=1999))]),
    Kind("absolute audio path", lambda c: [ok("abs", rec(id="abs", audio=str((c.root / c.wav("abs.wav")).resolve())))]),
    Kind('empty "lyrics" and "language"', lambda c: [ok("emptylyr", rec(id="emptylyr", audio=c.wav("el.wav"),
                                                                         lyrics="", language=""))]),
]

# ---------------------------------------------------------------- audio files


def _dir(ctx):
    (ctx.audio / "folder.wav").mkdir()
    return [fail("dir", "audio/folder.wav", "is a folder")]


def _loop(ctx):
    os.symlink("loop_b.wav", ctx.audio / "loop_a.wav")
    os.symlink("loop_a.wav", ctx.audio / "loop_b.wav")
    return [fail("loop", "audio/loop_a.wav", "symbolic link loop")]


def _dangling(ctx):
    os.symlink("gone.wav", ctx.audio / "dangling.wav")
    return [fail("dangling", "audio/dangling.wav", "symbolic link to a missing file")]


def _fifo(ctx):
    os.mkfifo(ctx.audio / "pipe.wav")
    return [fail("fifo", "audio/pipe.wav", "not a regular file")]


def _text(name):
    def make(ctx):
        (ctx.audio / name).write_text("this is a text file, not audio\n")
        return [fail(f"text{Path(name).suffix}", f"audio/{name}", "it holds text, not audio")]
    return make


def _bytes(ctx):
    (ctx.audio / "noise.wav").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return [fail("randbytes", "audio/noise.wav", "unrecognised format")]


def _empty(ctx):
    (ctx.audio / "empty.wav").write_bytes(b"")
    return [fail("empty", "audio/empty.wav", "empty (0 bytes)")]


def _header_only(ctx):
    ctx.wav("hdr.wav", sine(seconds=0.5))
    data = (ctx.audio / "hdr.wav").read_bytes()
    (ctx.audio / "hdr.wav").write_bytes(data[:44])
    return [fail("hdronly", "audio/hdr.wav", "holds no audio samples")]


def _one_sample(ctx):
    return [fail("onesample", ctx.wav("one.wav", np.array([0.5], np.float32)), "under the 50 ms")]


def _nan(ctx):
    y = sine()
    y[100:200] = np.nan
    return [fail("nan", ctx.wav("nan.wav", y, subtype="FLOAT"), "NaN or infinite")]


def _silence(ctx):
    return [fail("silence", ctx.wav("silence.wav", np.zeros(SR, np.float32)), "digital silence")]


def _low_rate(ctx):
    return [fail("lowrate", ctx.wav("lowrate.wav", sine(100, sr=1000), sr=1000), "sample rate of 1000 Hz")]


def _three_hours(ctx):
    # A FLAC whose STREAMINFO declares 3 h 1 min: the cap is checked on the header, before decoding.
    path = ctx.audio / "long.flac"
    sf.write(path, sine(seconds=0.5), SR, format="FLAC")
    data = bytearray(path.read_bytes())
    total = int(SR * (3 * 3600 + 60))
    # STREAMINFO starts at byte 8 (after "fLaC" and the block header); total samples: 36 bits from byte 8+13.
    off = 8 + 13
    data[off] = (data[off] & 0xF0) | ((total >> 32) & 0x0F)
    data[off + 1:off + 5] = struct.pack(">I", total & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return [fail("long3h", "audio/long.flac", "over the 3 h limit")]


def _long_path(ctx):
    ctx.audio.mkdir(exist_ok=True)  # the folder exists, so the lookup trips on the name (over NAME_MAX)
    return [fail("longpath", "audio/" + "x" * 300 + ".wav", "path is too long")]


def _missing(ctx):
    return [fail("missing", "audio/not_there.wav", "file not found")]


def _missing_lyrics(ctx):
    # Another lyrics-less track ("good0") shares the text cache key; the missing file must still be named.
    return [fail("nolyrfile", ctx.wav("nolyr.wav"), "lyrics file not found", named="gone.txt",
                 lyrics_path="lyrics/gone.txt")]


def _lyrics_dir(ctx):
    (ctx.root / "lyrics_dir.txt").mkdir()
    return [fail("lyrdir", ctx.wav("lyrdir.wav"), "is a folder", named="lyrics_dir.txt", lyrics_path="lyrics_dir.txt")]


def _lyrics_big(ctx):
    (ctx.root / "big.txt").write_text("la la la\n" * 8000)
    return [fail("lyrbig", ctx.wav("lyrbig.wav"), "over the 65,536-byte limit", named="big.txt",
                 lyrics_path="big.txt")]


def _truncated_wav(ctx):
    ctx.wav("trunc.wav", sine(seconds=2.0))
    data = (ctx.audio / "trunc.wav").read_bytes()
    (ctx.audio / "trunc.wav").write_bytes(data[: len(data) // 2])
    return [warn("truncwav", "audio/trunc.wav", "truncated")]


def _mp3(ctx, name, seconds=2.0):
    ctx.wav(f"{name}.wav", sine(330, seconds=seconds))
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(ctx.audio / f"{name}.wav"),
                    str(ctx.audio / f"{name}.mp3")], check=True)
    (ctx.audio / f"{name}.wav").unlink()
    return ctx.audio / f"{name}.mp3"


def _cut(ctx, name: str, fmt: str, keep: float | int) -> str:
    """A 2 s sine written as ``fmt``, then cut to ``keep`` (a share of the bytes, or a byte count)."""
    path = ctx.audio / name
    sf.write(path, sine(seconds=2.0), SR, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    return f"audio/{name}"


def _truncated_mp3(ctx):
    path = _mp3(ctx, "truncmp3")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return [warn("truncmp3", "audio/truncmp3.mp3", "truncated")]


def _good_mp3(ctx):
    _mp3(ctx, "goodmp3", seconds=1.0)
    return [ok("goodmp3", rec(id="goodmp3", audio="audio/goodmp3.mp3"))]


def _short(ctx):
    return [warn("short", ctx.wav("short.wav", sine(seconds=0.2)), "short")]


def _clipped(ctx):
    return [warn("clipped", ctx.wav("clipped.wav", np.clip(sine(amplitude=3.0), -1, 1)), "clipped")]


def _quiet(ctx):
    return [warn("quiet", ctx.wav("quiet.wav", sine(amplitude=10 ** (-70 / 20)), subtype="FLOAT"), "near silent")]


def _flac_stereo(ctx):
    y = sine(seconds=1.0, sr=44100)
    sf.write(ctx.audio / "stereo.flac", np.stack([y, 0.5 * y], axis=1), 44100)
    return [ok("stereoflac", rec(id="stereoflac", audio="audio/stereo.flac"))]


AUDIO_KINDS = [
    Kind("directory named x.wav", _dir),
    Kind("symlink loop", _loop),
    Kind("dangling symlink", _dangling),
    Kind("named pipe as .wav", _fifo),
    Kind("text file named .mp3", _text("notes.mp3")),
    Kind("text file named .wav", _text("notes.wav")),
    Kind("random bytes as .wav", _bytes),
    Kind("empty file (0 bytes)", _empty),
    Kind("WAV header, no samples", _header_only),
    Kind("1-sample file", _one_sample),
    Kind("NaN samples", _nan),
    Kind("digital silence", _silence),
    Kind("1 kHz sample rate", _low_rate),
    Kind("over 3 hours (FLAC header)", _three_hours),
    Kind("missing audio file", _missing),
    Kind("audio path too long", _long_path),
    Kind("audio path through a file", lambda c: [fail("notdir", c.wav("plain.wav") + "/inner.wav", "file not found")]),
    Kind("missing lyrics_path file", _missing_lyrics),
    Kind("lyrics_path is a folder", _lyrics_dir),
    Kind("lyrics file over 64 KB", _lyrics_big),
    Kind("lyrics_path is an audio file", lambda c: [fail("lyrwav", c.wav("lyrwav.wav"), "binary data, not text",
                                                         named="lyrwav.wav", lyrics_path="audio/lyrwav.wav")]),
    Kind("truncated WAV body", _truncated_wav),
    Kind("truncated MP3 body", _truncated_mp3, needs="ffmpeg"),
    Kind("truncated FLAC body", lambda c: [warn("truncflac", _cut(c, "trunc.flac", "FLAC", 0.5), "truncated")]),
    Kind("FLAC header, body cut", lambda c: [fail("flachead", _cut(c, "head.flac", "FLAC", 200), "decoding failed")]),
    Kind("truncated Ogg", lambda c: [fail("truncogg", _cut(c, "trunc.ogg", "OGG", 0.5),
                                          "damaged or truncated Ogg file")]),
    Kind("under 0.5 s", _short),
    Kind("clipped", _clipped),
    Kind("near silent (-70 dBFS)", _quiet),
    Kind("stereo 44.1 kHz FLAC", _flac_stereo),
    Kind("MP3", _good_mp3, needs="ffmpeg"),
]

ALL_KINDS = LINE_KINDS + AUDIO_KINDS
GOOD_TRACKS = 3


def available(kind: Kind) -> bool:
    return kind.needs is None or shutil.which(kind.needs) is not None


def build_corpus(root: Path, kinds: list[Kind], *, bom: bool = True, good_tracks: int = GOOD_TRACKS) -> list[Line]:
    """Write a corpus of ``good_tracks`` plain tracks mixed with ``kinds``; returns every line, numbered.

    The first line is a good track behind a UTF-8 BOM (when ``bom``), as editors on Windows save it.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    ctx = Context(root)
    lines = [good(ctx, f"good{i}", freq=220.0 * (i + 1)) for i in range(good_tracks)]
    for kind in kinds:
        if available(kind):
            made = kind.make(ctx)
            for line in made:
                line.kind = kind.name
            lines.extend(made)
    raw = b"\n".join(line.raw for line in lines) + b"\n"
    if bom:
        raw = b"\xef\xbb\xbf" + raw
    (root / "tracks.jsonl").write_bytes(raw)
    for i, line in enumerate(lines, 1):
        line.lineno = i
    return lines
