"""The corpus format: a folder with a ``tracks.jsonl``, one JSON object per track.

Required per line: ``id`` and ``audio`` (a path relative to the corpus folder, or
absolute). Optional: ``lyrics`` (text), ``lyrics_path`` (a ``.txt``/``.lrc`` file),
``language``, ``work_id``, ``variant_id``, and any free metadata, kept in
:attr:`Track.metadata` (e.g. ``composer``, ``era``, ``key``, ``tempo_bpm``,
``melody`` as ``[[onset_s, duration_s, midi_pitch], ...]``).

A bad line (not UTF-8, not JSON, not an object, a missing, empty or repeated ``id``, a field of the
wrong type) is reported with the file, line and field; :class:`Corpus` raises on it, or with
``strict=False`` skips it and lists it in :attr:`Corpus.problems`. A UTF-8 BOM is accepted.

A corpus may also hold ``relations.jsonl`` (which tracks are the same work, and
dimension labels for triplets); it is read by the code that needs it.
"""

from __future__ import annotations

import errno
import json
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sapphire_core.errors import CorpusError
from sapphire_core.io import atomic_write_bytes

TRACKS_FILE = "tracks.jsonl"
#: Lyrics of one song, inline or in a ``lyrics_path`` file, are at most this many bytes (64 KiB, ten
#: times a long song's lyrics): a bigger file is not lyrics, and text features grow with its length.
MAX_LYRICS_BYTES = 64 * 1024
_CORE_KEYS = ("id", "audio", "lyrics", "lyrics_path", "language", "work_id", "variant_id")


@dataclass
class Track:
    """One track of a corpus.

    Attributes
    ----------
    id : str
        Unique id within the corpus.
    audio : Path or None
        Absolute path to the audio file (``None`` for text-only records).
    lyrics : str or None
        Lyrics text; ``None`` means instrumental / unknown (never ``""``).
    lyrics_path : Path or None
        A ``.txt`` or ``.lrc`` file holding the lyrics (timestamps kept by the lyrics plugin).
    language : str or None
        ISO 639-1 code of the lyrics, when known.
    work_id, variant_id : str or None
        Versions of one work share ``work_id`` (covers, re-recordings, rendered variants).
    metadata : dict
        Everything else on the line, unchanged.
    """

    id: str
    audio: Path | None = None
    lyrics: str | None = None
    lyrics_path: Path | None = None
    language: str | None = None
    work_id: str | None = None
    variant_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def has_lyrics(self) -> bool:
        """Whether the track has lyrics text or a lyrics file."""
        return bool(self.lyrics and self.lyrics.strip()) or self.lyrics_path is not None

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        """Serialise to one ``tracks.jsonl`` object; paths relative to ``root`` when inside it."""

        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            if root is not None:
                try:
                    return str(Path(p).resolve().relative_to(Path(root).resolve()))
                except (ValueError, OSError, RuntimeError):  # outside root, or a symlink loop (RuntimeError)
                    pass
            return str(p)

        out: dict[str, Any] = {"id": self.id, "audio": rel(self.audio)}
        for key, value in (
            ("lyrics", self.lyrics),
            ("lyrics_path", rel(self.lyrics_path)),
            ("language", self.language),
            ("work_id", self.work_id),
            ("variant_id", self.variant_id),
        ):
            if value is not None:
                out[key] = value
        out.update(self.metadata)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any], root: Path) -> Track:
        """Build a track from one parsed ``tracks.jsonl`` object, resolving paths against ``root``.

        Raises
        ------
        CorpusError
            Naming the offending field (see :func:`check_record`).
        """
        problem = check_record(obj)
        if problem is not None:
            field_name, message = problem
            raise CorpusError(f"field {field_name!r}: {message}" if field_name else message)

        def path(value: Any) -> Path | None:
            if value in (None, ""):
                return None
            p = Path(value)
            return p if p.is_absolute() else (root / p)

        lyrics = obj.get("lyrics")
        return cls(
            id=str(obj["id"]),
            audio=path(obj.get("audio")),
            lyrics=lyrics if (isinstance(lyrics, str) and lyrics.strip()) else None,
            lyrics_path=path(obj.get("lyrics_path")),
            language=obj.get("language") or None,
            work_id=None if obj.get("work_id") is None else str(obj["work_id"]),
            variant_id=None if obj.get("variant_id") is None else str(obj["variant_id"]),
            metadata={k: v for k, v in obj.items() if k not in _CORE_KEYS},
        )


def _kind(value: Any) -> str:
    """A JSON value's kind as a user reads it: ``123 (a number)``, ``an array``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"{value!r}"[:40]


def check_record(obj: Any) -> tuple[str | None, str] | None:
    """The first problem of one parsed ``tracks.jsonl`` value, as ``(field or None, message)``; ``None`` when fine.

    Checked: the line is an object; ``id`` is a non-empty string or integer; ``audio`` and
    ``lyrics_path`` are non-empty path strings (or absent/null); ``lyrics`` and ``language`` are
    strings; ``lyrics`` holds at most :data:`MAX_LYRICS_BYTES`; ``work_id``/``variant_id`` are
    strings or numbers. Each message says what was found and what is expected.
    """
    if not isinstance(obj, dict):
        return None, f"a line must be one JSON object like {{\"id\": ..., \"audio\": ...}}, got {_kind(obj)}"
    if "id" not in obj:
        return "id", "missing; every track needs a unique \"id\""
    tid = obj["id"]
    if isinstance(tid, bool) or not isinstance(tid, (str, int)):
        return "id", f"must be a string, got {_kind(tid)}"
    if not str(tid).strip():
        return "id", "is empty; every track needs a unique \"id\""
    for key in ("audio", "lyrics_path"):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            return key, f"must be a file path string, got {_kind(value)}"
        if "\x00" in value:
            return key, "holds a NUL character; give a plain file path"
    for key in ("lyrics", "language"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            return key, f"must be a string, got {_kind(value)}" + (
                " (an ISO 639-1 code such as \"en\")" if key == "language" else "")
    lyrics = obj.get("lyrics")
    if isinstance(lyrics, str) and len(lyrics.encode("utf-8", "replace")) > MAX_LYRICS_BYTES:
        return "lyrics", (f"holds {len(lyrics.encode('utf-8', 'replace')):,} bytes, over the "
                          f"{MAX_LYRICS_BYTES:,}-byte limit for one song's lyrics")
    for key in ("work_id", "variant_id"):
        value = obj.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            return key, f"must be a string, got {_kind(value)}"
    return None


@dataclass(frozen=True)
class LineProblem:
    """A ``tracks.jsonl`` line that was skipped: where, which field, and why.

    ``str(problem)`` is the one-line message: ``FILE:LINE: field 'audio': must be ...``.
    """

    file: str
    line: int
    field: str | None
    message: str
    track_id: str | None = None

    def __str__(self) -> str:
        where = f"field {self.field!r}: " if self.field else ""
        return f"{self.file}:{self.line}: {where}{self.message}"

    def to_json(self) -> dict[str, Any]:
        """The failures.jsonl record of this line."""
        return {"id": self.track_id, "file": self.file, "line": self.line, "field": self.field,
                "error_type": "CorpusError", "error": str(self)}


class Corpus:
    """A folder with a ``tracks.jsonl``.

    Parameters
    ----------
    root : path
        The corpus folder.
    strict : bool
        Raise on the first bad line (the default), or skip bad lines and list them in
        :attr:`problems` (``sapphire extract`` and ``sapphire index`` without ``--strict``).

    Attributes
    ----------
    tracks : list of Track
        The usable tracks, in file order.
    problems : list of LineProblem
        The skipped lines (empty when ``strict``).

    Raises
    ------
    CorpusError
        When the folder or its ``tracks.jsonl`` is missing or unreadable, or (``strict``) a line is bad.
    """

    def __init__(self, root: str | Path, *, strict: bool = True) -> None:
        self.root = Path(root)
        self.tracks_file = self.root / TRACKS_FILE
        if not self.tracks_file.is_file():
            raise CorpusError(
                f"{self.tracks_file}: no {TRACKS_FILE} here. Build the demo corpus with "
                "'sapphire corpus build --out DIR' or index your own music with 'sapphire corpus scan DIR'."
            )
        self.problems: list[LineProblem] = []
        self.tracks: list[Track] = list(read_tracks(self.tracks_file, problems=None if strict else self.problems))
        self._by_id = {t.id: t for t in self.tracks}

    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __getitem__(self, track_id: str) -> Track:
        try:
            return self._by_id[track_id]
        except KeyError:
            raise CorpusError(f"{self.tracks_file}: no track with id {track_id!r}") from None

    def require_tracks(self) -> None:
        """Raise when the corpus holds no usable track, so every command says so the same way.

        Raises
        ------
        CorpusError
            ``tracks.jsonl`` is empty, or every line of it was skipped (the first reasons listed).
        """
        if self.tracks:
            return
        if not self.problems:
            raise CorpusError(f"{self.tracks_file}: the corpus has no tracks (the file is empty). Add one JSON "
                              "line per track, or run 'sapphire corpus scan DIR' to write it")
        first = "; ".join(str(p) for p in self.problems[:3])
        raise CorpusError(f"{self.tracks_file}: the corpus has no usable tracks: all {len(self.problems)} "
                          f"lines were skipped ({first})")


def _decode_line(raw: bytes) -> str:
    """One line as text: a UTF-8 BOM is dropped (editors add one at file start; a concatenated file
    can hold one mid-file); bytes that are not UTF-8 raise ``ValueError`` naming the first one."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                         "save tracks.jsonl as UTF-8") from None


def read_tracks(path: str | Path, *, problems: list[LineProblem] | None = None) -> Iterator[Track]:
    """Yield the tracks of a ``tracks.jsonl`` file.

    Parameters
    ----------
    path : path
        The file.
    problems : list, optional
        When given, a bad line (not UTF-8, not JSON, not an object, a missing, empty or repeated
        id, a field of the wrong type) is skipped and appended here as a :class:`LineProblem`;
        when ``None``, it raises.

    Raises
    ------
    CorpusError
        Naming the file, the line number and the field of the first bad line (``problems`` is None),
        or when the file cannot be read at all.
    """
    path = Path(path)
    seen: dict[str, int] = {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # e.g. PowerShell's '>' redirection: no line would parse
        raise CorpusError(f"{path}: the file is UTF-16 text; save tracks.jsonl as UTF-8")
    for lineno, raw in enumerate(data.splitlines(), 1):
        field_name: str | None = None
        track_id: str | None = None
        try:
            line = _decode_line(raw)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise ValueError("not a track record: JSON nested too deeply") from None
            if isinstance(obj, dict) and isinstance(obj.get("id"), (str, int)) and not isinstance(obj["id"], bool):
                track_id = str(obj["id"]) if str(obj["id"]).strip() else None
            problem = check_record(obj)
            if problem is not None:
                field_name = problem[0]
                raise ValueError(problem[1])
            track = Track.from_json(obj, path.parent)
            if track.id in seen:
                field_name = "id"
                raise ValueError(f"{track.id!r} is already used on line {seen[track.id]}; ids must be unique")
        except ValueError as exc:
            bad = LineProblem(str(path), lineno, field_name, str(exc), track_id)
            if problems is None:
                raise CorpusError(str(bad)) from None
            problems.append(bad)
            continue
        seen[track.id] = lineno
        yield track


def write_tracks(path: str | Path, tracks: list[Track]) -> None:
    """Write ``tracks`` to ``path`` atomically (temp file + rename), paths relative to its folder."""
    path = Path(path)
    text = "".join(json.dumps(t.to_json(path.parent), ensure_ascii=False) + "\n" for t in tracks)
    atomic_write_bytes(path, text.encode("utf-8"))


def check_lyrics_file(path: str | Path) -> None:
    """Check a track's ``lyrics_path`` before anything reads it: a regular text file of at most
    :data:`MAX_LYRICS_BYTES`.

    Raises
    ------
    CorpusError
        Naming the file: missing, a folder, a symbolic link loop, unreadable, binary, or too big.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        problem = "is a symbolic link loop" if exc.errno == errno.ELOOP else "not found"
        raise CorpusError(f"{path}: lyrics file {problem}. Fix the track's 'lyrics_path' in tracks.jsonl, "
                          "or remove it for an instrumental track") from None
    if not stat_mod.S_ISREG(st.st_mode):
        kind = "a folder" if stat_mod.S_ISDIR(st.st_mode) else "not a regular file"
        raise CorpusError(f"{path}: the lyrics file is {kind}. Point the track's 'lyrics_path' at a .txt or .lrc file")
    if st.st_size > MAX_LYRICS_BYTES:
        raise CorpusError(f"{path}: the lyrics file holds {st.st_size:,} bytes, over the {MAX_LYRICS_BYTES:,}-byte "
                          "limit for one song's lyrics; is 'lyrics_path' pointing at the right file?")
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read the lyrics file ({exc.strerror or exc})") from None
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs too
        raise CorpusError(f"{path}: the lyrics file holds binary data, not text; is 'lyrics_path' pointing at "
                          "the right file?")
