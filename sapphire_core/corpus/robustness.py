"""A robustness set from real recordings: degraded excerpts that must find their source track.

``sapphire corpus robustness --source DIR ... --out OUT`` lists the audio files of the source
folders as a corpus (each file its own work) and cuts one excerpt per track, which it writes once
per degradation:

==============  =============================================================================
``clean``        the excerpt as it is
``pitch+1``      up one semitone (phase-vocoder pitch shift, duration kept)
``pitch-1``      down one semitone
``stretch0.9``   played 10 % faster (time stretch, pitch kept)
``stretch1.1``   played 10 % slower
``noise20db``    white noise at 20 dB SNR
``mp3``          MPEG layer III at a low bitrate (libsndfile), decoded when queried
==============  =============================================================================

The queries are ``queries.jsonl`` lines of kind ``copy`` (relevant: exactly the source track).
Every choice is seeded, files are written atomically and existing ones are kept, so a rerun
or a resumed run gives the same set.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sapphire_core.errors import CorpusError

SAMPLE_RATE = 22050
AUDIO_SUFFIXES = (".flac", ".ogg", ".oga", ".opus", ".mp3", ".wav", ".aiff", ".aif")
#: Excerpts start at least this far from either end (intros and fade-outs are not the track).
MARGIN_SECONDS = 5.0
NOISE_SNR_DB = 20.0
MP3_COMPRESSION = 0.8  # libsndfile's 0 (best) .. 1 (smallest); 0.8 is a low, audibly lossy bitrate


def _pitch(semitones: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def shift(y, rng):
        import librosa

        return librosa.effects.pitch_shift(y, sr=SAMPLE_RATE, n_steps=semitones)

    return shift


def _stretch(duration_factor: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def stretch(y, rng):
        import librosa

        return librosa.effects.time_stretch(y, rate=1.0 / duration_factor)

    return stretch


def _noise(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(y ** 2))
    return y + rng.standard_normal(len(y)).astype(np.float32) * np.sqrt(power / 10 ** (NOISE_SNR_DB / 10))


#: name -> (transform of the clean excerpt, file suffix). ``mp3`` is the clean excerpt, encoded.
DEGRADATIONS: dict[str, tuple[Callable | None, str]] = {
    "clean": (None, ".flac"),
    "pitch+1": (_pitch(1.0), ".flac"),
    "pitch-1": (_pitch(-1.0), ".flac"),
    "stretch0.9": (_stretch(0.9), ".flac"),
    "stretch1.1": (_stretch(1.1), ".flac"),
    "noise20db": (_noise, ".flac"),
    "mp3": (None, ".mp3"),
}


def audio_files(sources: list[str | Path]) -> list[Path]:
    """Every audio file under the source folders (or the files themselves), sorted, no duplicates.

    Raises
    ------
    CorpusError
        When a source does not exist or no audio file is found.
    """
    found: set[Path] = set()
    for src in sources:
        src = Path(src)
        if src.is_file():
            found.add(src.resolve())
        elif src.is_dir():
            found.update(p.resolve() for p in src.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            raise CorpusError(f"--source {src}: no such file or folder")
    if not found:
        raise CorpusError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {', '.join(map(str, sources))}")
    return sorted(found)


def track_id(path: Path) -> str:
    """``<grandparent>-<parent>-<stem>`` (e.g. ``singularity-music-frontiers``): readable, and
    distinct for the soundtrack folders of different packages."""
    return "-".join((*path.parts[-3:-1], path.stem)).replace(" ", "_")


def _write(path: Path, audio: np.ndarray, suffix: str) -> None:
    import soundfile as sf

    from sapphire_core.io import atomic_write_bytes

    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    buf = io.BytesIO()
    if suffix == ".mp3":
        sf.write(buf, audio, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III", compression_level=MP3_COMPRESSION)
    else:
        sf.write(buf, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    atomic_write_bytes(path, buf.getvalue())


def build_robustness_set(sources: list[str | Path], out: str | Path, *, seconds: float = 15.0, seed: int = 0,
                         degradations: tuple[str, ...] = tuple(DEGRADATIONS),
                         on_progress: Callable[[int], None] | None = None, log=print) -> dict:
    """Write ``tracks.jsonl`` (the source files, by absolute path) and the degraded excerpt queries.

    Parameters
    ----------
    sources : list of path
        Folders (searched recursively) or files of real recordings.
    out : path
        The set's folder: ``tracks.jsonl``, ``queries.jsonl``, ``copies/<track>__<degradation>.*``.
    seconds : float
        Excerpt length.
    seed : int
        Seeds where each excerpt starts and the noise.
    degradations : tuple of str
        Names from :data:`DEGRADATIONS`.

    Returns
    -------
    dict
        ``tracks``, ``queries``, ``skipped`` (``[{"audio", "reason"}]``: undecodable or too short).

    Raises
    ------
    CorpusError
        For an unknown degradation or sources without audio.
    """
    from sapphire_core.audio import load_audio
    from sapphire_core.errors import SapphireError
    from sapphire_core.io import atomic_write_text

    bad = [d for d in degradations if d not in DEGRADATIONS]
    if bad:
        raise CorpusError(f"unknown degradation {bad[0]!r}; choose from {', '.join(DEGRADATIONS)}")
    out = Path(out)
    tracks, queries, skipped = [], [], []
    seen: set[str] = set()
    for path in audio_files(sources):
        tid = track_id(path)
        if tid in seen:
            skipped.append({"audio": str(path), "reason": f"its id {tid!r} is taken by another file"})
            continue
        seen.add(tid)
        try:
            y = load_audio(path, sr=SAMPLE_RATE)
        except SapphireError as exc:
            skipped.append({"audio": str(path), "reason": str(exc)})
            continue
        total = len(y) / SAMPLE_RATE
        if total < seconds + 2 * MARGIN_SECONDS:
            skipped.append({"audio": str(path), "reason": f"{total:.1f} s is shorter than the excerpt and margins"})
            continue
        tracks.append({"id": tid, "audio": str(path), "work_id": tid, "duration": round(total, 3)})
        digest = int(hashlib.sha256(f"{seed}:{tid}".encode()).hexdigest()[:12], 16)
        rng = np.random.default_rng(digest)
        start = float(rng.uniform(MARGIN_SECONDS, total - seconds - MARGIN_SECONDS))
        clip = y[int(start * SAMPLE_RATE):int((start + seconds) * SAMPLE_RATE)]
        for name in degradations:
            transform, suffix = DEGRADATIONS[name]
            rel = f"copies/{tid}__{name}{suffix}"
            if not (out / rel).is_file():
                _write(out / rel, transform(clip, rng) if transform else clip, suffix)
            queries.append({"id": f"{tid}__{name}", "kind": "copy", "audio": rel, "work_id": tid, "source_track": tid,
                            "degradation": name, "offset": round(start, 3), "duration": seconds})
        if on_progress:
            on_progress(1)
    if not tracks:
        raise CorpusError(f"no usable track in {', '.join(map(str, sources))}: " +
                          "; ".join(f"{s['audio']}: {s['reason']}" for s in skipped[:3]))
    atomic_write_text(out / "tracks.jsonl", "".join(json.dumps(t) + "\n" for t in tracks))
    atomic_write_text(out / "queries.jsonl", "".join(json.dumps(q) + "\n" for q in queries))
    report = {"tracks": len(tracks), "queries": len(queries), "skipped": skipped, "seconds": seconds, "seed": seed,
              "degradations": list(degradations), "sources": [str(s) for s in sources]}
    atomic_write_text(out / "robustness_report.json", json.dumps(report, indent=2))
    for s in skipped:
        log(f"skipped {s['audio']}: {s['reason']}")
    return report
