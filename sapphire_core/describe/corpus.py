"""Describe a whole corpus into ``DIR/descriptions.jsonl`` and read it back.

Line format (shared contract): ``{"id": track id, "descriptions": [str, ...], "backend": name}``.
A rerun keeps the lines already written by the same backend with enough descriptions, so an
interrupted LLM run resumes (and the ``openai`` backend's own cache makes repeats free anyway).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.data import Corpus, Track
from sapphire_core.errors import CorpusError

DESCRIPTIONS_FILE = "descriptions.jsonl"


def load_descriptions(path: str | Path) -> dict[str, list[str]]:
    """``{track id: [descriptions]}`` from a ``descriptions.jsonl`` (or the corpus folder holding one).

    Raises
    ------
    CorpusError
        Naming the file and line of a malformed line.
    """
    path = Path(path)
    if path.is_dir():
        path = path / DESCRIPTIONS_FILE
    out: dict[str, list[str]] = {}
    if not path.is_file():
        return out
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out[str(obj["id"])] = [str(d) for d in obj["descriptions"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{lineno}: expected {{'id', 'descriptions'}} ({exc})") from None
    return out


def _existing(path: Path, backend: str) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # a half-written last line from a killed run
        if obj.get("backend") == backend:
            out[str(obj.get("id"))] = obj
    return out


def describe_tracks(tracks: list[Track], backend, *, per_track: int = 3, seed: int = 0,
                    features_for: Callable[[Track], dict[str, np.ndarray]] | None = None,
                    on_progress: Callable[[int], None] | None = None) -> dict[str, list[str]]:
    """Run a :class:`~sapphire_core.describer.DescriptionBackend` over tracks (no file I/O)."""
    out = {}
    for track in tracks:
        feats = features_for(track) if features_for else {}
        out[track.id] = backend.describe(track, feats, n=per_track, seed=seed)
        if on_progress:
            on_progress(1)
    return out


def describe_corpus(corpus_dir: str | Path, *, backend: str = "template", per_track: int = 3, seed: int = 0,
                    settings: dict[str, Any] | None = None, registry=None,
                    features_for: Callable[[Track], dict[str, np.ndarray]] | None = None,
                    on_progress: Callable[[int], None] | None = None) -> Path:
    """Write ``descriptions.jsonl`` for every track of a corpus.

    Parameters
    ----------
    corpus_dir : path
        Folder with ``tracks.jsonl``.
    backend : str
        A registered description backend (``template``, ``openai``, ...).
    per_track : int
        Descriptions per track.
    seed : int
        Sampling seed (template paraphrases; passed to the LLM).
    settings : dict, optional
        Backend settings (e.g. ``{"prompt": "chain_of_thought"}``). The ``openai`` backend's answer
        cache defaults to ``CORPUS/.sapphire/llm_cache``.
    features_for : callable, optional
        ``track -> {"extractor.feature": array}`` to condition on extracted features.

    Returns
    -------
    Path
        The written file.
    """
    from sapphire_core import layout
    from sapphire_core.io import atomic_write_bytes
    from sapphire_core.plugins import default_registry

    corpus = Corpus(corpus_dir)
    registry = registry or default_registry()
    cls = registry.get("describer", backend)
    settings = dict(settings or {})
    if "cache_dir" in cls.Config.model_fields and not settings.get("cache_dir"):
        settings["cache_dir"] = str(layout.llm_cache_dir(corpus_dir))
    describer = cls(**settings)
    path = Path(corpus_dir) / DESCRIPTIONS_FILE
    done = _existing(path, backend)
    lines: list[str] = []
    try:
        for track in corpus.tracks:
            prev = done.get(track.id)
            if prev and len(prev.get("descriptions", [])) >= per_track:
                descriptions = prev["descriptions"][:per_track]
                if on_progress:
                    on_progress(1)
            else:
                descriptions = describe_tracks([track], describer, per_track=per_track, seed=seed,
                                               features_for=features_for, on_progress=on_progress)[track.id]
            lines.append(json.dumps({"id": track.id, "descriptions": descriptions, "backend": backend},
                                    ensure_ascii=False))
    finally:
        if hasattr(describer, "close"):
            describer.close()
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path
