"""``sapphire corpus scan DIR``: index a user's music folder into the core ``tracks.jsonl`` format.

Every audio file under the folder becomes one track. Lyrics come from a sidecar file with the
same stem (``song.lrc`` or ``song.txt`` next to ``song.flac``), else from embedded tags
(ID3 ``USLT``, Vorbis/FLAC ``LYRICS``/``UNSYNCEDLYRICS``, MP4 ``\xa9lyr``). Title, artist,
album, genre, date, language, BPM and key tags are read with mutagen where present; the
duration comes from the audio header. Paths in ``tracks.jsonl`` are relative to the folder, so
the folder can move.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sapphire_core.audio import AUDIO_SUFFIXES
from sapphire_core.errors import CorpusError

#: tracks.jsonl field -> tag names to look for (first hit wins; case-insensitive for Vorbis keys).
_TAGS = {
    "title": ("title", "TIT2", "\xa9nam"),
    "artist": ("artist", "TPE1", "\xa9ART"),
    "album": ("album", "TALB", "\xa9alb"),
    "genre": ("genre", "TCON", "\xa9gen"),
    "date": ("date", "year", "TDRC", "\xa9day"),
    "language": ("language", "TLAN"),
    "tempo_bpm": ("bpm", "TBPM", "tmpo"),
    "key": ("initialkey", "key", "TKEY"),
    "composer": ("composer", "TCOM", "\xa9wrt"),
}
_LYRIC_TAGS = ("lyrics", "unsyncedlyrics", "\xa9lyr")
_LRC_STAMP = re.compile(r"\[(\d+:)?\d+(\.\d+)?\]|\[[a-z]+:[^\]]*\]", re.I)


def read_tags(path: Path) -> dict:
    """Embedded tags of an audio file as ``{field: str}`` (empty when mutagen cannot read it)."""
    try:
        import mutagen
    except ImportError:  # pragma: no cover - mutagen is in the corpus extra
        return {}
    try:
        f = mutagen.File(str(path))
    except Exception:  # noqa: BLE001 - a damaged tag block should not stop a scan
        return {}
    if f is None or not getattr(f, "tags", None):
        return {}
    raw: dict[str, str] = {}
    for key, value in f.tags.items():
        name = str(key)
        if name.startswith("USLT"):
            name = "lyrics"
        if isinstance(value, list):
            value = value[0] if value else ""
        text = getattr(value, "text", value)
        if isinstance(text, list):
            text = text[0] if text else ""
        raw[name.lower() if name.isascii() and not name.isupper() else name] = str(text)
    out: dict[str, str] = {}
    for field_name, names in _TAGS.items():
        for n in names:
            v = raw.get(n) or raw.get(n.lower())
            if v:
                out[field_name] = v.strip()
                break
    for n in _LYRIC_TAGS:
        v = raw.get(n) or raw.get(n.lower())
        if v and v.strip():
            out["lyrics"] = v.strip()
            break
    return out


def lrc_to_text(text: str) -> str:
    """Plain lyrics from an LRC file: timestamps ``[mm:ss.xx]`` and ``[ar:...]`` headers removed."""
    lines = [_LRC_STAMP.sub("", ln).strip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln)


def scan_folder(folder: str | Path, *, out: str | Path | None = None) -> Path:
    """Write ``tracks.jsonl`` for every audio file under ``folder``.

    Parameters
    ----------
    folder : path
        The music folder (searched recursively; hidden folders skipped).
    out : path, optional
        Where to write ``tracks.jsonl`` [default: ``folder/tracks.jsonl``]. Audio paths are relative
        to the file's folder when inside it, else absolute.

    Returns
    -------
    Path
        The ``tracks.jsonl`` written.

    Raises
    ------
    CorpusError
        When ``folder`` is missing or holds no audio files.
    """
    from sapphire_core.audio import audio_info
    from sapphire_core.io import atomic_write_bytes
    from sapphire_core.errors import AudioError

    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: not a folder; pass the folder that holds your audio files")
    out = Path(out) if out else folder / "tracks.jsonl"
    if out.is_dir():
        out = out / "tracks.jsonl"
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise CorpusError(f"{folder}: no audio files found (looked for {', '.join(AUDIO_SUFFIXES)})")
    rows, used = [], set()
    for p in files:
        rel = p.relative_to(folder)
        track_id = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.with_suffix("").as_posix()).strip("_") or "track"
        if track_id in used:  # song.flac and song.mp3 side by side
            track_id += "_" + hashlib.sha1(rel.as_posix().encode()).hexdigest()[:6]
        used.add(track_id)
        try:
            audio_rel = str(p.resolve().relative_to(out.parent.resolve()))
        except ValueError:
            audio_rel = str(p.resolve())
        row: dict = {"id": track_id, "audio": audio_rel}
        tags = read_tags(p)
        for side in (p.with_suffix(".lrc"), p.with_suffix(".txt"), p.with_suffix(".LRC"), p.with_suffix(".TXT")):
            if side.is_file():
                text = side.read_text(encoding="utf-8", errors="replace")
                lyrics = lrc_to_text(text) if side.suffix.lower() == ".lrc" else text.strip()
                if lyrics:
                    row["lyrics"] = lyrics
                    try:
                        row["lyrics_path"] = str(side.resolve().relative_to(out.parent.resolve()))
                    except ValueError:
                        row["lyrics_path"] = str(side.resolve())
                break
        if "lyrics" not in row and tags.get("lyrics"):
            row["lyrics"] = tags["lyrics"]
        for k, v in tags.items():
            if k == "lyrics":
                continue
            if k == "tempo_bpm":
                try:
                    row[k] = float(v)
                except ValueError:
                    continue
            else:
                row[k] = v
        if row.get("language") and len(row["language"]) == 3:
            row["language"] = _ISO639_2_TO_1.get(row["language"].lower(), row["language"])
        try:
            sr, dur = audio_info(p)
            row["duration"] = round(dur, 3)
            row["sample_rate"] = sr
        except AudioError as exc:
            row["scan_error"] = str(exc)
        rows.append(row)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    atomic_write_bytes(out, text.encode("utf-8"))
    return out


#: ID3 TLAN holds ISO 639-2 codes; the corpus format uses ISO 639-1.
_ISO639_2_TO_1 = {"eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "ita": "it", "spa": "es",
                  "lat": "la", "por": "pt", "nld": "nl", "dut": "nl", "jpn": "ja", "zho": "zh", "chi": "zh",
                  "rus": "ru", "swe": "sv", "pol": "pl", "kor": "ko"}
