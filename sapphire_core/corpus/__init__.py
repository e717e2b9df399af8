"""The demo corpus: music21 scores rendered with FluidSynth, plus indexing a user's own music folder.

Public API
----------
ensure_demo_corpus(path=None, *, size="small", seed=0) -> Path
    Build the small demo corpus at ``$SAPPHIRE_DEMO_CORPUS`` or ``<repo>/data/demo`` if missing
    (safe when several processes call it at once), and return its folder.
build_corpus(out, *, size, variants, seed, workers, include_heldout) -> BuildReport
    The resumable, deterministic, parallel builder (``sapphire corpus build``).
scan_folder(folder, *, out=None) -> Path
    Write a ``tracks.jsonl`` for a folder of audio files (``sapphire corpus scan``).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from sapphire_core.corpus.build import COMPLETE_MARKER, BuildOptions, BuildReport, build_corpus

__all__ = ["ensure_demo_corpus", "default_demo_path", "build_corpus", "BuildReport", "scan_folder"]

DEFAULT_VARIANTS = 2


def default_demo_path() -> Path:
    """``$SAPPHIRE_DEMO_CORPUS`` if set, else ``<repo root>/data/demo``."""
    env = os.environ.get("SAPPHIRE_DEMO_CORPUS")
    if env:
        return Path(env)
    import sapphire_core

    return Path(sapphire_core.__file__).resolve().parents[1] / "data" / "demo"


def ensure_demo_corpus(path: str | Path | None = None, *, size: str = "small", seed: int = 0,
                       workers: int | None = None) -> Path:
    """Return a finished demo corpus folder, building it first when missing or unfinished.

    Several processes (parallel pytest sessions) may call this at once: the first takes an
    exclusive ``fcntl`` lock on ``<path>.lock`` and builds; the others wait on the lock and then find
    the completion marker. An interrupted build is resumed, not restarted.

    Parameters
    ----------
    path : path, optional
        Corpus folder [default: :func:`default_demo_path`].
    size : {"small", "medium", "full"}
    seed : int
    workers : int, optional
        Worker processes [default: ``$SAPPHIRE_CORPUS_WORKERS`` or 2].

    Returns
    -------
    Path
        The corpus folder (holds ``tracks.jsonl``, ``queries.jsonl``, ``relations.jsonl``).
    """
    path = Path(path) if path is not None else default_demo_path()
    want = BuildOptions(size=size, variants=DEFAULT_VARIANTS, seed=seed).key()
    if _finished(path, want):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.parent / f".{path.name}.lock"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _finished(path, want):
                _remove_stale(path, want)
                n = workers or int(os.environ.get("SAPPHIRE_CORPUS_WORKERS", "2"))
                build_corpus(path, size=size, variants=DEFAULT_VARIANTS, seed=seed, workers=n)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


def _remove_stale(path: Path, want: dict) -> None:
    """Delete a demo corpus made by an older SAPPHIRE (another format version), finished or not.

    Only a folder this builder wrote (it holds ``.build/params.json``) is removed, never a user's folder.
    """
    import shutil

    params = path / ".build" / "params.json"
    if not params.is_file():
        return
    try:
        old = json.loads(params.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        old = {}
    if old.get("format") != want["format"]:
        shutil.rmtree(path)


def _finished(path: Path, want: dict) -> bool:
    marker = path / COMPLETE_MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("params") == want
    except (OSError, json.JSONDecodeError):
        return False


def scan_folder(folder, *, out=None):
    """Index a folder of audio files into a ``tracks.jsonl`` (see :mod:`sapphire_core.corpus.scan`)."""
    from sapphire_core.corpus.scan import scan_folder as _scan

    return _scan(folder, out=out)
