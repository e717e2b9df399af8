"""Where lyrics come from: a track's text, or its ``.txt`` / ``.lrc`` file, with line timing.

:func:`read_lyrics` is the single entry point of the lyrics extractors. It returns ``None`` for
an instrumental track (the explicit "no lyrics" state): extractors then emit ``present = 0``
and zeros, never an embedding of an empty string passed off as real. Tags embedded in audio
files (ID3 ``USLT``/``SYLT``, Vorbis ``LYRICS``) are read by the corpus scanner into
``tracks.jsonl``, not here.

LRC format (the de-facto standard of lyric players, e.g. https://en.wikipedia.org/wiki/LRC_(file_format)):
``[mm:ss.xx]text`` per line, several time tags on one line for a repeated line, ``[offset:+/-ms]``
and ``[ar:...]``-style ID tags, optional word-level ``<mm:ss.xx>`` tags (stripped here), and an
empty timed line marking where the previous line ends.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sapphire_core.data import MAX_LYRICS_BYTES, Track
from sapphire_core.errors import ExtractionError

from sapphire_lyrics.language import detect_language

_TIME_TAG = re.compile(r"\[(\d{1,3}):(\d{1,2}(?:[.:]\d{1,3})?)\]")
_ID_TAG = re.compile(r"^\[([a-zA-Z#]+):([^\]]*)\]\s*$")
_WORD_TAG = re.compile(r"<\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?>")
# Syllable hyphens of score underlay ("a- ni-ma,- a- ma") that survive text extraction.
_SYLLABLE_BREAK = re.compile(r"(?<=[^\W\d_])[-~]+\s+(?=[^\W\d_])")
_CLAUSE_END = re.compile(r"(?<=[.,;:!?])\s+")

#: Untimed lines with more words than this are split into phrases (:func:`split_long_line`).
MAX_WORDS_PER_LINE = 14


@dataclass(frozen=True)
class Lyrics:
    """The lyrics of one track.

    Attributes
    ----------
    lines : tuple of str
        Non-empty lines in sung order (a repeated ``.lrc`` line appears once per time tag).
    times : tuple of float or None
        Start time (s) of each line, when known (``.lrc``); ``None`` for untimed text.
    ends : tuple of float or None
        End time (s) of each line: the next time tag (an empty timed line counts), the track's
        ``duration`` for the last line, or ``nan`` when unknown. ``None`` when untimed.
    language : str or None
        ISO 639-1 code from the track's metadata, else detected (:func:`detect_language`).
    duration : float or None
        The track's duration (s) from its metadata, when known.
    source : str
        ``"text"``, ``"txt"`` or ``"lrc"``.
    """

    lines: tuple[str, ...]
    times: tuple[float, ...] | None = None
    ends: tuple[float, ...] | None = None
    language: str | None = None
    duration: float | None = None
    source: str = "text"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def line_durations(self) -> list[float] | None:
        """Seconds each line lasts (``nan`` where unknown), or ``None`` when untimed."""
        if self.times is None or self.ends is None:
            return None
        return [e - t for t, e in zip(self.times, self.ends)]


def is_lrc(text: str) -> bool:
    """Whether ``text`` holds LRC time tags at line starts."""
    return any(_TIME_TAG.match(line.strip()) for line in text.splitlines())


def _seconds(minutes: str, seconds: str) -> float:
    return int(minutes) * 60 + float(seconds.replace(":", "."))


def parse_lrc(text: str, *, duration: float | None = None) -> tuple[list[str], list[float], list[float]]:
    """Parse LRC text into ``(lines, starts, ends)``, sorted by start time.

    Parameters
    ----------
    text : str
        LRC content.
    duration : float, optional
        Track duration (s), used as the end of the last line; otherwise that end is ``nan``.

    Returns
    -------
    lines, starts, ends : lists
        Only non-empty lines; ``ends[i]`` is the next time tag of any line (empty ones included).

    Examples
    --------
    >>> parse_lrc("[00:01.00]the cat sat\\n[00:03.00]on the mat\\n[00:05.50]")
    (['the cat sat', 'on the mat'], [1.0, 3.0], [3.0, 5.5])
    """
    offset = 0.0
    events: list[tuple[float, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        tag = _ID_TAG.match(line)
        if tag and not _TIME_TAG.match(line):
            if tag.group(1).lower() == "offset":
                try:
                    # LRC offset is in ms; positive shifts lyrics earlier.
                    offset = float(tag.group(2).strip()) / 1000.0
                except ValueError:
                    pass
            continue
        stamps = []
        pos = 0
        while True:
            m = _TIME_TAG.match(line, pos)
            if not m:
                break
            stamps.append(_seconds(m.group(1), m.group(2)))
            pos = m.end()
        if not stamps:
            continue  # untimed lines in an LRC file carry no position; they are dropped
        words = " ".join(_WORD_TAG.sub(" ", line[pos:]).split())
        for s in stamps:
            events.append((max(0.0, s - offset), words))
    events.sort(key=lambda e: e[0])
    lines, starts, ends = [], [], []
    for i, (start, words) in enumerate(events):
        if not words:
            continue
        end = events[i + 1][0] if i + 1 < len(events) else (float(duration) if duration else float("nan"))
        lines.append(words)
        starts.append(start)
        ends.append(end)
    return lines, starts, ends


def _read_text_file(path: Path) -> str:
    try:
        # At most the cap plus one byte: a huge file is refused without being read into memory.
        with path.open("rb") as fh:
            data = fh.read(MAX_LYRICS_BYTES + 1)
        if len(data) > MAX_LYRICS_BYTES:
            raise ExtractionError(f"{path}: the lyrics file is over the {MAX_LYRICS_BYTES:,}-byte limit for one "
                                  "song's lyrics; is the track's 'lyrics_path' pointing at the right file?")
    except OSError as exc:
        raise ExtractionError(
            f"{path}: cannot read the lyrics file ({exc.strerror or exc}). Fix the track's 'lyrics_path' "
            "in tracks.jsonl or remove it for an instrumental track"
        ) from None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _track_duration(track: Track) -> float | None:
    value = track.metadata.get("duration") if track.metadata else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def split_long_line(line: str, *, max_words: int = MAX_WORDS_PER_LINE) -> list[str]:
    """Split a run-on line into sung lines: at clause punctuation, then into even word chunks.

    Lyrics taken from a score arrive as one line per verse (the demo corpus joins a part's
    syllables into one string); line-level features (arcs, rhymes, syllables per line) need lines.

    Examples
    --------
    >>> split_long_line("one two three, four five six; seven eight", max_words=4)
    ['one two three,', 'four five six;', 'seven eight']
    >>> split_long_line("a b c d e f g h i j k l m n o p")
    ['a b c d e f g h', 'i j k l m n o p']
    """
    words = line.split()
    if len(words) <= max_words:
        return [line]
    pieces = []
    for phrase in (p.strip() for p in _CLAUSE_END.split(line) if p.strip()):
        pw = phrase.split()
        n = math.ceil(len(pw) / max_words)
        size = math.ceil(len(pw) / n)
        pieces.extend(pw[i : i + size] for i in range(0, len(pw), size))
    # A line ends at the first clause end after 3+ words; shorter clauses ("Vieh, Menschen,") lead into the next
    # clause, as in hymn and song lines ("Vieh, Menschen, Städt und Felder,").
    out: list[list[str]] = []
    current: list[str] = []
    for piece in pieces:
        if current and len(current) + len(piece) > max_words:
            out.append(current)
            current = []
        current = current + list(piece)
        if len(current) >= 3:
            out.append(current)
            current = []
    if current:
        if out and len(out[-1]) + len(current) <= max_words:
            out[-1].extend(current)
        else:
            out.append(current)
    return [" ".join(words) for words in out]


def read_lyrics(track: Track) -> Lyrics | None:
    """The lyrics of ``track``, or ``None`` when it has none (instrumental).

    Order: a ``.lrc`` ``lyrics_path`` (it carries line timing, which the plain ``lyrics`` text a
    scanner copies from it has lost), then ``track.lyrics`` (plain or LRC text), then a ``.txt``
    ``lyrics_path``. Content decides the format, so LRC saved as ``.txt`` keeps its timing.
    Syllable hyphens left from a score's underlay are joined ("a- ni- ma" -> "anima"), and untimed
    lines longer than :data:`MAX_WORDS_PER_LINE` words are split (:func:`split_long_line`).

    Parameters
    ----------
    track : Track
        A corpus record.

    Returns
    -------
    Lyrics or None

    Raises
    ------
    ExtractionError
        When the lyrics come from ``lyrics_path`` and that file cannot be read.
    """
    duration = _track_duration(track)
    path = Path(track.lyrics_path) if track.lyrics_path is not None else None
    has_text = bool(track.lyrics and track.lyrics.strip())
    if path is not None and path.suffix.lower() == ".lrc" and (path.is_file() or not has_text):
        text, source = _read_text_file(path), "lrc"
    elif has_text:
        text, source = track.lyrics, "text"
    elif path is not None:
        text, source = _read_text_file(path), "txt"
    else:
        return None
    times = ends = None
    if is_lrc(text):
        lines, starts, stops = parse_lrc(text, duration=duration)
        times, ends = tuple(starts), tuple(stops)
        source = "lrc"
    else:
        lines = [" ".join(_SYLLABLE_BREAK.sub("", line).split()) for line in text.splitlines()]
        lines = [part for line in lines if line for part in split_long_line(line)]
    if not lines:
        return None
    language = track.language or detect_language("\n".join(lines))
    return Lyrics(lines=tuple(lines), times=times, ends=ends, language=language, duration=duration, source=source)
