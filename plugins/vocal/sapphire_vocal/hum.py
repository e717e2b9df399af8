"""Query by humming in SAPPHIRE's search: the ``hum`` query mode and the ``melody`` index extra.

Thin adapters over :class:`sapphire_vocal.qbh.QbhIndex` (melody extraction, matching and its folder
format live there): ``sapphire index`` stores every track's melody in ``INDEX/extras/melody/``,
and ``search(hum=...)`` ranks them against the hummed query. A query never builds the melodies:
without them the engine embeds the hum like any audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sapphire_core.audio import query_audio
from sapphire_core.index_extra import PerTrackExtra
from sapphire_core.query_mode import QueryMode, transposition_in_words

from sapphire_vocal.basic_pitch import SAMPLE_RATE as BASIC_PITCH_RATE  # a light module: the models load lazily

#: The hum is decoded at CREPE's rate (tracks are streamed at basic-pitch's, :meth:`QbhIndex.add_file`).
HUM_SAMPLE_RATE = 16000


class MelodyExtra(PerTrackExtra):
    """Every track's melody, extracted from its audio, in one saved ``QbhIndex``."""

    name = "melody"
    description = "track melodies for query by humming (vocal plugin)"
    filename = "melodies.npz"  # qbh.MELODIES_FILE, not imported here: qbh pulls in the melody models
    sample_rate = BASIC_PITCH_RATE

    def empty(self):
        from sapphire_vocal.qbh import QbhIndex

        return QbhIndex()

    def entries(self, store) -> set[str]:
        return set(store.entries)

    def add(self, store, track) -> None:
        store.add_file(track.id, track.audio, work_id=track.work_id)  # streamed: any length in bounded memory

    def compute(self, track, audio=None):
        """The track's melody as :meth:`QbhIndex.add_file` extracts it with the default ``basic_pitch``
        (streamed), from the decode the track's other extras share when ``audio`` is given; the network gets
        the process's share of the cores."""
        import torch

        from sapphire_core.audio import audio_blocks

        from sapphire_vocal.melody import track_melody_blocks

        blocks = audio_blocks(track.audio, sr=self.sample_rate) if audio is None else audio.blocks(self.sample_rate)
        return track_melody_blocks(blocks, threads=torch.get_num_threads())

    def insert(self, store, track, entry) -> None:
        if store.method != "basic_pitch":  # a store kept from another method's build: as add() does
            store.add_file(track.id, track.audio, work_id=track.work_id)
            return
        store.add_melody(track.id, entry.melody, work_id=track.work_id, affinity=entry.affinity)

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

    def melody(self, query) -> np.ndarray:
        """The hum's melody (CREPE), extracted once per query object."""
        from sapphire_vocal.melody import melody_from_audio

        return self.per_query(query, lambda q: melody_from_audio(*query_audio(q, sr=HUM_SAMPLE_RATE),
                                                                 method="crepe"))

    def rank(self, query, data, *, k: int) -> list[tuple[str, float]]:
        return [(str(t), float(s)) for t, s in data.rank_melody(self.melody(query), k)]

    def explain(self, query, data, track_ids: list[str]) -> dict[str, dict]:
        """Each result's aligned melody segment (seconds into the track), the hum's transposition
        against it (semitones, octaves aside) and the match cost (``1 - score``)."""
        from sapphire_vocal.melody import FRAME_SECONDS

        out = {}
        for tid, a in data.align_melody(self.melody(query), track_ids).items():
            start, end = round(a.start * FRAME_SECONDS, 2), round(a.end * FRAME_SECONDS, 2)
            out[tid] = {"start": start, "end": end, "transposition": a.transposition, "cost": round(a.cost, 4),
                        "summary": hum_summary(start, end, a.transposition, a.cost)}
        return out


def hum_summary(start: float, end: float, transposition: float, cost: float) -> str:
    """One line on how a hum fits a track.

    Examples
    --------
    >>> hum_summary(12.3, 19.85, -2.04, 0.0812)
    'hum follows 12.3-19.9 s of the track, 2 semitones lower (match cost 0.08)'
    >>> hum_summary(0.0, 6.0, 0.1, 0.2)
    'hum follows 0.0-6.0 s of the track, in its key (match cost 0.20)'
    """
    return (f"hum follows {start:.1f}-{end:.1f} s of the track, {transposition_in_words(transposition)} "
            f"(match cost {cost:.2f})")
