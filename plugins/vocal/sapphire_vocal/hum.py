"""Query by humming in SAPPHIRE's search: the ``hum`` query mode and the ``melody`` index extra.

Thin adapters over :class:`sapphire_vocal.qbh.QbhIndex` (melody extraction, matching and its folder
format live there): ``sapphire index`` stores every track's melody in ``INDEX/extras/melody/``,
and ``search(hum=...)`` ranks them against the hummed query. A query never builds the melodies:
without them the engine embeds the hum like any audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sapphire_core.audio import load_audio
from sapphire_core.index_extra import PerTrackExtra
from sapphire_core.query_mode import QueryMode

#: The hum is decoded at CREPE's rate; tracks at basic-pitch's.
HUM_SAMPLE_RATE = 16000
TRACK_SAMPLE_RATE = 22050


class MelodyExtra(PerTrackExtra):
    """Every track's melody, extracted from its audio, in one saved ``QbhIndex``."""

    name = "melody"
    description = "track melodies for query by humming (vocal plugin)"
    filename = "melodies.npz"  # qbh.MELODIES_FILE, not imported here: qbh pulls in the melody models

    def empty(self):
        from sapphire_vocal.qbh import QbhIndex

        return QbhIndex()

    def entries(self, store) -> set[str]:
        return set(store.entries)

    def add(self, store, track) -> None:
        store.add_audio(track.id, load_audio(track.audio, sr=TRACK_SAMPLE_RATE), TRACK_SAMPLE_RATE,
                        work_id=track.work_id)

    def remove(self, store, track_ids: list[str]) -> None:
        store.remove(track_ids)

    def save(self, store, folder: Path) -> None:
        store.save(folder)

    def load(self, folder: Path):
        from sapphire_vocal.qbh import QbhIndex

        return QbhIndex.load(folder)


class HumMode(QueryMode):
    """A hummed, sung or whistled melody, matched against the indexed track melodies."""

    name = "hum"
    input = "audio"
    extra = "melody"
    title = "QBH (vocal plugin)"
    description = ("sapphire_vocal.qbh melody matching of the hum against melodies extracted from every "
                   "track's audio (no embedding, no training)")

    def rank(self, query, data, *, k: int) -> list[tuple[str, float]]:
        if isinstance(query, tuple):
            samples, sr = query
        else:
            sr = HUM_SAMPLE_RATE
            samples = load_audio(query, sr=sr)
        return [(str(t), float(s)) for t, s in data.rank(np.asarray(samples, np.float32), sr, k)]
