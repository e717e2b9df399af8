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
from sapphire_core.errors import SapphireError
from sapphire_core.index_extra import IndexExtra
from sapphire_core.query_mode import QueryMode

#: The hum is decoded at CREPE's rate; tracks at basic-pitch's.
HUM_SAMPLE_RATE = 16000
TRACK_SAMPLE_RATE = 22050


class MelodyExtra(IndexExtra):
    """Every track's melody, extracted from its audio, in one saved ``QbhIndex``."""

    name = "melody"
    description = "track melodies for query by humming (vocal plugin)"

    def build(self, tracks, folder: Path, *, on_progress=None) -> int:
        """Update the melodies in place: tracks already there are kept, tracks gone removed, new ones added."""
        from sapphire_vocal.qbh import QbhIndex

        try:
            index = QbhIndex.load(folder) if self.exists(folder) else QbhIndex()
        except SapphireError:
            index = QbhIndex()
        index.remove(sorted(set(index.entries) - {t.id for t in tracks}))
        for t in tracks:
            if t.id not in index.entries:
                try:
                    index.add_audio(t.id, load_audio(t.audio, sr=TRACK_SAMPLE_RATE), TRACK_SAMPLE_RATE,
                                    work_id=t.work_id)
                except SapphireError:
                    pass  # the embedding pass already reported unusable audio
            if on_progress:
                on_progress(1)
        index.save(folder)
        return len(index)

    def load(self, folder: Path):
        from sapphire_vocal.qbh import QbhIndex

        return QbhIndex.load(folder)

    def exists(self, folder: Path) -> bool:
        from sapphire_vocal.qbh import MELODIES_FILE

        return (Path(folder) / MELODIES_FILE).is_file()


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
