"""The corpus format: a folder with a ``tracks.jsonl``, one JSON object per track.

Required per line: ``id`` and ``audio`` (a path relative to the corpus folder, or
absolute). Optional: ``lyrics`` (text), ``lyrics_path`` (a ``.txt``/``.lrc`` file),
``language``, ``work_id``, ``variant_id``, and any free metadata, kept in
:attr:`Track.metadata` (e.g. ``composer``, ``era``, ``key``, ``tempo_bpm``,
``melody`` as ``[[onset_s, duration_s, midi_pitch], ...]``).

A corpus may also hold ``relations.jsonl`` (which tracks are the same work, and
dimension labels for triplets); it is read by the code that needs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sapphire_core.errors import CorpusError
from sapphire_core.io import atomic_write_bytes

TRACKS_FILE = "tracks.jsonl"
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
                except ValueError:
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
        """Build a track from one parsed ``tracks.jsonl`` object, resolving paths against ``root``."""
        if not isinstance(obj, dict) or not obj.get("id"):
            raise CorpusError("each line needs an 'id' field")

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
            language=obj.get("language"),
            work_id=None if obj.get("work_id") is None else str(obj["work_id"]),
            variant_id=None if obj.get("variant_id") is None else str(obj["variant_id"]),
            metadata={k: v for k, v in obj.items() if k not in _CORE_KEYS},
        )


class Corpus:
    """A folder with a ``tracks.jsonl``.

    Parameters
    ----------
    root : path
        The corpus folder.

    Raises
    ------
    CorpusError
        When the folder or its ``tracks.jsonl`` is missing, a line is not JSON, or ids repeat.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tracks_file = self.root / TRACKS_FILE
        if not self.tracks_file.is_file():
            raise CorpusError(
                f"{self.tracks_file}: no {TRACKS_FILE} here. Build the demo corpus with "
                "'sapphire corpus build --out DIR' or index your own music with 'sapphire corpus scan DIR'."
            )
        self.tracks: list[Track] = list(read_tracks(self.tracks_file))
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


def read_tracks(path: str | Path) -> Iterator[Track]:
    """Yield the tracks of a ``tracks.jsonl`` file.

    Raises
    ------
    CorpusError
        Naming the file and line number of a malformed line or a repeated id.
    """
    path = Path(path)
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                track = Track.from_json(json.loads(line), path.parent)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except CorpusError as exc:
                raise CorpusError(f"{path}:{lineno}: {exc}") from None
            if track.id in seen:
                raise CorpusError(f"{path}:{lineno}: track id {track.id!r} appears twice; ids must be unique")
            seen.add(track.id)
            yield track


def write_tracks(path: str | Path, tracks: list[Track]) -> None:
    """Write ``tracks`` to ``path`` atomically (temp file + rename), paths relative to its folder."""
    path = Path(path)
    text = "".join(json.dumps(t.to_json(path.parent), ensure_ascii=False) + "\n" for t in tracks)
    atomic_write_bytes(path, text.encode("utf-8"))
