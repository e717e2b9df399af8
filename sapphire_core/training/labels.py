"""Integer labels per track for the losses: ``work`` plus any ``tracks.jsonl`` field the configured
losses ask for (:meth:`sapphire_core.loss.Loss.label_fields`), e.g. a user's own ``genre``.

Per-track values come from ``tracks.jsonl``; work-level ones missing there are filled from
``relations.jsonl``; ``tempo_class`` is derived from ``tempo_bpm`` when absent. Unknown values
are ``-1`` (losses skip them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sapphire_core.data import Track
from sapphire_core.describe.facts import tempo_class
from sapphire_core.training.split import work_of

#: The label dimensions of the demo corpus (the default when no losses say what they read).
LABELS = ("work", "era", "composer", "form", "mode", "key", "instrument_family", "tempo_class", "collection")


def label_fields(losses, subspaces: dict[str, slice]) -> tuple[str, ...]:
    """The fields ``losses`` read as labels for a model with these sub-spaces, ``work`` always first."""
    asked = set().union(*(loss.label_fields(subspaces) for loss in losses)) if losses else set()
    return ("work", *sorted(asked - {"work"}))


def read_relations(corpus_dir: str | Path) -> dict[str, dict[str, str]]:
    """``{work_id: labels}`` from ``relations.jsonl`` (empty when the file is absent)."""
    path = Path(corpus_dir) / "relations.jsonl"
    out: dict[str, dict[str, str]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                out[str(obj.get("work_id"))] = {k: v for k, v in (obj.get("labels") or {}).items() if v is not None}
    return out


def raw_label(track: Track, name: str, relations: dict[str, dict[str, str]] | None = None) -> str | None:
    """The string value of label ``name`` for ``track`` (``None`` when unknown)."""
    if name == "work":
        return work_of(track)
    value = track.metadata.get(name)
    if value in (None, "") and relations:
        value = relations.get(work_of(track), {}).get(name)
    if value in (None, "") and name == "tempo_class":
        bpm = track.metadata.get("tempo_bpm")
        value = tempo_class(float(bpm)) if isinstance(bpm, (int, float)) else None
    return None if value in (None, "") else str(value)


class LabelEncoder:
    """A fixed vocabulary per label dimension, built from every track of a corpus (train and val)."""

    def __init__(self, tracks: list[Track], relations: dict[str, dict[str, str]] | None = None,
                 names: tuple[str, ...] = LABELS) -> None:
        self.relations = relations or {}
        self.vocab: dict[str, dict[str, int]] = {}
        for name in names:
            values = sorted({v for t in tracks if (v := raw_label(t, name, self.relations)) is not None})
            self.vocab[name] = {v: i for i, v in enumerate(values)}

    def encode(self, track: Track) -> dict[str, int]:
        """Integer labels of one track (``-1`` = unknown)."""
        out = {}
        for name, vocab in self.vocab.items():
            value = raw_label(track, name, self.relations)
            out[name] = vocab.get(value, -1) if value is not None else -1
        return out

    def encode_all(self, tracks: list[Track]) -> dict[str, np.ndarray]:
        """``{label: (N,) int64}`` for a list of tracks."""
        rows = [self.encode(t) for t in tracks]
        return {name: np.array([r[name] for r in rows], dtype=np.int64) for name in self.vocab}
