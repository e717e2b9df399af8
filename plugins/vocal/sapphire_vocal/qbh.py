"""Query by humming: rank indexed tracks by how well their melody matches a hummed query.

A hum becomes a CREPE melody and a catalogue track a basic-pitch melody and pitch-class affinity
(:mod:`sapphire_vocal.melody`). Search is two-stage, as in most QbH systems (Dannenberg et al., "A
comparative evaluation of search techniques for query-by-humming using the MUSART testbed", JASIST 2007):

1. **Shortlist**: every track is indexed twice, as fixed-length key- and tempo-invariant window
   vectors in two vector stores (FAISS: exact while small, an inverted file above
   ``exact_threshold`` windows, so the cost grows about as the square root of the catalogue):
   overlapping windows of notes as interval n-grams (:mod:`sapphire_vocal.fingerprint`) and a window
   at every note start as a pitch contour over time (:mod:`sapphire_vocal.pitch_vectors`). Each view
   ranks the tracks of its nearest windows; the shortlist is their reciprocal-rank fusion (Cormack
   et al., SIGIR 2009). The two views fail on different hums: in ``benchmarks/bench_qbh.py`` the
   n-grams alone kept the sung track in a 50-track shortlist for 0.62 / 0.20 / 0.13 of queries at
   1k / 10k / 100k tracks, the fusion for 0.93 / 0.82 / 0.58.
2. **Re-rank**: subsequence DTW of the hum inside each shortlisted track's affinity (from a mix, the
   better of its two candidate lines: :data:`sapphire_vocal.melody.LINES`;
   :mod:`sapphire_vocal.matching`), only those ``shortlist`` tracks.

The score of a re-ranked track is ``1 - mean DTW cost`` (1 = the hum fits the track's melody exactly).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.errors import ConfigError

from sapphire_vocal import fingerprint, pitch_vectors
from sapphire_vocal.matching import Alignment, align, dtw_costs, other_reading
from sapphire_vocal.melody import FRAME_SECONDS, METHODS, melody_affinity, melody_from_audio, melody_from_notes, \
    track_melody, track_melody_blocks

#: Files of a saved index folder.
MELODIES_FILE = "melodies.npz"
STORE_DIR = "windows"
CONTOUR_DIR = "contours"
#: 4: a mix's affinity is ``(LINES, T, 12)``, one per candidate line (:data:`sapphire_vocal.melody.LINES`).
INDEX_FORMAT = 4
#: A window id in the vector store: ``<track id><SEP><window number>``.
SEP = "\x1f"
#: Reciprocal-rank fusion constant: a track ranked r-th (from 0) by a view scores ``1 / (RRF_K + r)``.
RRF_K = 20
#: Windows the contour view retrieves per query vector (a query has up to 3 x 13).
CONTOUR_CANDIDATES = 200
#: Tracks whose DTW cost decides whether a query is also read half a semitone off its tuning estimate
#: (:func:`reading_costs`): on the demo corpus (DTW over all 168 tracks) 10 gave the same MRR as
#: trying both readings on every track (sung queries 0.74 -> 0.81, fresh seed 0.80 -> 0.84; project
#: hums 0.894 / 0.909 -> 0.894 / 0.898) with the second full pass for 28% of queries; 5 gave 0.76.
TUNING_PROBE = 10


@dataclass
class _Entry:
    track_id: str
    work_id: str | None
    melody: np.ndarray  # (T,) float32 MIDI: the line the stage-1 windows come from
    affinity: np.ndarray | None  # (T, 12) or (L, T, 12) what DTW matches against; None: the melody's own
    n_windows: int
    n_contours: int

    def reference(self) -> np.ndarray:
        return melody_affinity(self.melody) if self.affinity is None else self.affinity


def default_store(dim: int):
    """A window store: FAISS, exact up to 20k windows, an inverted file (IVF) above, probing 128 cells
    (with 16 the n-gram view kept the sung track in the shortlist for 0.20 of queries at 10k tracks,
    against 0.37 for exact search)."""
    from sapphire_core.index.faiss_store import FaissStore

    return FaissStore(dim, approximate="ivf", nprobe=128)


class QbhIndex:
    """Melodies of catalogue tracks, searchable by a hummed query.

    Parameters
    ----------
    method : {"basic_pitch", "salience", "crepe"}
        How :meth:`add_audio` extracts a track's melody (see :func:`sapphire_vocal.melody.track_melody`).
    shortlist : int
        Tracks the first stage passes to DTW re-ranking (0 = every track, no first stage; so does a
        catalogue of at most ``shortlist`` tracks). On the 168 demo tracks (84 project hums): MRR 0.79
        with 50, 0.87 with 100, 0.89 with 120, 0.90 with every track (DTW ~0.7 ms per track).
    candidates : int
        Windows the first stage retrieves in the n-gram view (the contour view retrieves
        :data:`CONTOUR_CANDIDATES` per query vector).
    store_factory : callable, optional
        ``dim -> VectorStore`` for the window vectors [default: :func:`default_store`].

    Examples
    --------
    >>> index = QbhIndex()
    >>> index.add_melody("t1", np.repeat([60.0, 62, 64, 65, 67], 8), work_id="w1")
    >>> index.rank_melody(np.repeat([63.0, 65, 67, 68, 70], 10), k=1)[0][0]
    't1'
    """

    def __init__(self, *, method: str = "basic_pitch", shortlist: int = 100, candidates: int = 2000,
                 store_factory: Callable[[int], Any] | None = None) -> None:
        if method not in METHODS:
            raise ConfigError(f"QbhIndex method {method!r} is unknown; choose one of {', '.join(METHODS)}")
        if shortlist < 0:
            raise ConfigError(f"QbhIndex shortlist={shortlist} must be >= 0 (0 re-ranks every track)")
        if candidates < 1:
            raise ConfigError(f"QbhIndex candidates={candidates} must be >= 1")
        self.method, self.shortlist, self.candidates = method, int(shortlist), int(candidates)
        factory = store_factory or default_store
        self.store = factory(fingerprint.DIM)
        self.contour_store = factory(pitch_vectors.DIM)
        self.entries: dict[str, _Entry] = {}
        self._numbers: tuple[list[str], dict[str, int]] | None = None  # see _track_numbers

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------------ building
    def add_melody(self, track_id: str, melody: np.ndarray, *, work_id: str | None = None,
                   affinity: np.ndarray | None = None, pitches: np.ndarray | None = None) -> None:
        """Index (or re-index) a track by a frame melody (MIDI every :data:`FRAME_SECONDS`) and
        optionally the ``(T, 12)`` pitch-class affinity DTW should match instead of the melody and
        its note ``pitches`` [default: :func:`sapphire_vocal.fingerprint.note_pitches` of the melody]."""
        self.add_melodies([(track_id, melody, work_id, affinity, pitches)])

    def add_melodies(self, items) -> None:
        """:meth:`add_melody` for many ``(track_id, melody, work_id, affinity, pitches)`` at once
        (one store update: an approximate store then sizes its cells for the whole set)."""
        ids, blocks, contour_ids, contour_blocks = [], [], [], []
        self.remove([item[0] for item in items])
        self._numbers = None
        for track_id, melody, work_id, affinity, pitches in items:
            melody = np.asarray(melody, dtype=np.float32).reshape(-1)
            aff = None if affinity is None else np.asarray(affinity, dtype=np.float32)
            if pitches is None:
                pitches, starts = fingerprint.note_pitches(melody)
            else:  # given notes come from a score: the melody's pitch changes are its note starts
                starts = pitch_vectors.change_points(melody)
            vectors = fingerprint.embed_windows(pitches, fingerprint.window_spans(len(pitches)))
            vectors = vectors[np.linalg.norm(vectors, axis=1) > 0]
            ids += [f"{track_id}{SEP}{i}" for i in range(len(vectors))]
            blocks.append(vectors)
            contours = pitch_vectors.track_vectors(melody, starts, frame_seconds=FRAME_SECONDS)
            contour_ids += [f"{track_id}{SEP}{i}" for i in range(len(contours))]
            contour_blocks.append(contours)
            self.entries[track_id] = _Entry(track_id, work_id, melody, aff, len(vectors), len(contours))
        if ids:
            self.store.add(ids, np.concatenate(blocks))
        if contour_ids:
            self.contour_store.add(contour_ids, np.concatenate(contour_blocks))

    def add_audio(self, track_id: str, audio: np.ndarray, sr: int, *, work_id: str | None = None) -> None:
        """Index a track from its audio with this index's ``method``."""
        tm = track_melody(audio, sr, method=self.method)
        self.add_melody(track_id, tm.melody, work_id=work_id, affinity=tm.affinity)

    def add_file(self, track_id: str, path: str | Path, *, work_id: str | None = None) -> None:
        """Index a track from its audio file: the same melody as :meth:`add_audio` of its decoded samples;
        with ``basic_pitch`` the file is streamed (memory does not grow with its length).

        Raises
        ------
        SapphireError
            When the file is unusable (:func:`sapphire_core.audio.load_audio`'s errors).
        """
        from sapphire_core.audio import audio_blocks, load_audio

        from sapphire_vocal.basic_pitch import SAMPLE_RATE

        if self.method != "basic_pitch":
            self.add_audio(track_id, load_audio(path, sr=SAMPLE_RATE), SAMPLE_RATE, work_id=work_id)
            return
        tm = track_melody_blocks(audio_blocks(path, sr=SAMPLE_RATE))
        self.add_melody(track_id, tm.melody, work_id=work_id, affinity=tm.affinity)

    def remove(self, track_ids) -> int:
        """Drop tracks (unknown ids are ignored); returns how many were removed."""
        removed = 0
        self._numbers = None
        for tid in track_ids:
            entry = self.entries.pop(tid, None)
            if entry is None:
                continue
            if entry.n_windows:
                self.store.remove([f"{tid}{SEP}{i}" for i in range(entry.n_windows)])
            if entry.n_contours:
                self.contour_store.remove([f"{tid}{SEP}{i}" for i in range(entry.n_contours)])
            removed += 1
        return removed

    @classmethod
    def from_corpus(cls, root: str | Path, *, source: str = "audio", limit: int | None = None,
                    **settings) -> QbhIndex:
        """Index every track of a corpus folder.

        Parameters
        ----------
        root : path
            A corpus folder (``tracks.jsonl``).
        source : {"audio", "score"}
            ``audio`` (what a real catalogue has) or the ``melody`` score metadata, for comparison.
        limit : int, optional
            Index only the first ``limit`` tracks.
        **settings
            ``method``, ``shortlist``, ``candidates``, ``store_factory``.

        Raises
        ------
        ConfigError
            For an unknown ``source``.
        """
        from sapphire_core.audio import load_audio
        from sapphire_core.data import Corpus

        if source not in ("audio", "score"):
            raise ConfigError(f"QbhIndex source {source!r} is unknown; choose 'audio' or 'score'")
        index = cls(**settings)
        for track in list(Corpus(root))[:limit]:
            if source == "score":
                # A track without melody metadata is indexed with an empty melody (never matches).
                index.add_melody(track.id, melody_from_notes(track.metadata.get("melody") or []),
                                 work_id=track.work_id)
            else:
                index.add_audio(track.id, load_audio(track.audio, sr=22050), 22050, work_id=track.work_id)
        return index

    # ------------------------------------------------------------------ searching
    def first_stage(self, query: np.ndarray, n: int | None = None) -> list[tuple[str, float]]:
        """Shortlist for a query melody: ``(track_id, fused score)``, best first, at most ``n`` tracks
        [default: ``shortlist``].

        The n-gram view ranks the tracks of the nearest ``candidates`` windows by their best window;
        the contour view ranks tracks, for each of the query's first note starts, by their nearest
        window over all tempo hypotheses. A track's score is its reciprocal rank in the n-gram view
        plus the mean of its reciprocal ranks over the contour view's starts (0 where unranked).
        """
        n = self.shortlist if n is None else n
        return self._fuse(self._view_hits(np.asarray(query, dtype=np.float64), n), n)

    def _view_hits(self, query: np.ndarray, n: int) -> list[tuple[float, list[tuple[list[str], np.ndarray]]]]:
        """The first stage's rankings before fusion: ``(weight, rows)`` for the n-gram view (weight 1,
        one row) and for each of the contour view's query starts (weight ``1 / starts``, a row per
        tempo); a row is the retrieved window ids and their closeness (higher is nearer)."""
        pitches, starts = fingerprint.note_pitches(query)
        rankings = []
        vec = fingerprint.embed_pitches(pitches)
        if len(self.store) and np.any(vec):
            ids, scores = self.store.search(vec, k=max(self.candidates, n))
            rankings.append((1.0, [(ids[0], scores[0])]))
        blocks = pitch_vectors.query_vectors(query, starts, frame_seconds=FRAME_SECONDS)
        if len(self.contour_store) and blocks:
            ids, scores = self.contour_store.search(np.concatenate(blocks), k=CONTOUR_CANDIDATES)
            closeness = -pitch_vectors.distances(np.concatenate(blocks), scores)
            rows, row = list(zip(ids, closeness)), 0
            for block in blocks:  # one ranking per query start, over all its tempo hypotheses
                rankings.append((1.0 / len(blocks), rows[row:row + len(block)]))
                row += len(block)
        return rankings

    def _fuse(self, rankings, n: int) -> list[tuple[str, float]]:
        """Reciprocal-rank fusion of :meth:`_view_hits`' rankings, with arrays over track numbers (a
        Python loop over the ~10k hits of a query cost more than the two vector searches at 100k
        tracks). A ranking orders the tracks of its hits by their best closeness, ties by track id;
        a track ranked r-th (from 0) gains ``weight / (RRF_K + r)``."""
        names, number = self._track_numbers()
        fused = np.zeros(len(names))
        seen = np.zeros(len(names), dtype=bool)
        for weight, rows in rankings:
            tracks = np.concatenate([_track_numbers_of(ids, number) for ids, _ in rows])
            closeness = np.concatenate([np.asarray(c[:len(ids)], dtype=np.float64) for ids, c in rows])
            best = np.full(len(names), -np.inf)
            np.maximum.at(best, tracks, closeness)
            hit = np.unique(tracks)  # track numbers follow id order, so they break ties by id
            order = hit[np.lexsort((hit, -best[hit]))]
            fused[order] += weight / (RRF_K + np.arange(len(order)))
            seen[order] = True
        present = np.flatnonzero(seen)
        ranked = present[np.lexsort((present, -fused[present]))][:n]
        return [(names[i], float(fused[i])) for i in ranked]

    def _track_numbers(self) -> tuple[list[str], dict[str, int]]:
        """Indexed track ids in sorted order and each id's position there (cached until tracks change)."""
        if self._numbers is None or len(self._numbers[0]) != len(self.entries):
            names = sorted(self.entries)
            self._numbers = (names, {t: i for i, t in enumerate(names)})
        return self._numbers

    def rank_melody(self, query: np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """Rank tracks for a query melody (as from :func:`sapphire_vocal.melody.melody_from_audio`).

        Returns
        -------
        list of (track_id, score)
            Best first, at most ``k``; ``score = 1 - mean DTW cost`` in [0, 1] for re-ranked tracks;
            with a first stage, only shortlisted tracks are returned.
        """
        query = np.asarray(query, dtype=np.float64)
        if not self.entries or k < 1:
            return []
        if self.shortlist == 0 or len(self.entries) <= self.shortlist:
            chosen = sorted(self.entries)
        else:
            chosen = [t for t, _ in self.first_stage(query)]
        costs, _ = reading_costs(query, [self.entries[t].reference() for t in chosen])
        scored = sorted(((t, 1.0 - float(c)) for t, c in zip(chosen, costs)), key=lambda x: (-x[1], x[0]))
        return scored[:k]

    def rank(self, query_audio: np.ndarray, sr: int, k: int = 10) -> list[tuple[str, float]]:
        """Rank tracks for a hummed (or sung, whistled) query recording.

        Parameters
        ----------
        query_audio : np.ndarray
            Mono samples of the hum.
        sr : int
            Their sample rate.
        k : int
            How many results.

        Returns
        -------
        list of (track_id, score)
            Best first (see :meth:`rank_melody`).
        """
        return self.rank_melody(melody_from_audio(query_audio, sr, method="crepe"), k)

    def align_melody(self, query: np.ndarray, track_ids) -> dict[str, Alignment]:
        """Where a query melody fits in each of ``track_ids``: the re-ranking stage's alignment traced back.

        Returns
        -------
        dict of str to Alignment
            By track id, with the cost :meth:`rank_melody` scores (``score = 1 - cost``); tracks not in
            the index or too short to align are left out.
        """
        query = np.asarray(query, dtype=np.float64)
        known = [t for t in track_ids if t in self.entries]
        _, tunings = reading_costs(query, [self.entries[t].reference() for t in known])
        out = {}
        for tid, tuning in zip(known, tunings):
            found = align(query, self.entries[tid].reference(), tuning=tuning)
            if found is not None:
                out[tid] = found
        return out

    def work_of(self, track_id: str) -> str | None:
        entry = self.entries.get(track_id)
        return entry.work_id if entry else None

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write the index into a folder: the window stores, then ``melodies.npz`` (each file atomically).

        Tracks are written in id order and the archive carries no timestamps, so saving the same
        tracks twice gives byte-identical files.
        """
        from sapphire_core.io import atomic_write_bytes, npz_bytes

        directory = Path(directory)
        order = sorted(self.entries)
        meta = {"format": INDEX_FORMAT, "method": self.method, "shortlist": self.shortlist,
                "candidates": self.candidates,
                "tracks": [[t, self.entries[t].work_id, self.entries[t].n_windows, self.entries[t].n_contours]
                           for t in order]}
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, t in enumerate(order):
            arrays[f"m{i}"] = self.entries[t].melody
            if self.entries[t].affinity is not None:
                arrays[f"a{i}"] = self.entries[t].affinity
        # melodies.npz marks the folder complete: removed first and written last, a save killed in
        # between leaves an unbuilt folder (rebuilt next time), never new windows beside old melodies.
        (directory / MELODIES_FILE).unlink(missing_ok=True)
        self.store.save(directory / STORE_DIR)
        self.contour_store.save(directory / CONTOUR_DIR)
        atomic_write_bytes(directory / MELODIES_FILE, npz_bytes(arrays))

    @classmethod
    def load(cls, directory: str | Path) -> QbhIndex:
        """Read an index written by :meth:`save`.

        Raises
        ------
        ConfigError
            When the folder is missing or not a QbH index.
        """
        from sapphire_core.errors import SapphireError
        from sapphire_core.index.store import open_store

        directory = Path(directory)
        try:
            with np.load(directory / MELODIES_FILE) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if meta.get("format") != INDEX_FORMAT:
                    raise ValueError(f"format {meta.get('format')}, expected {INDEX_FORMAT}")
                arrays = {k: z[k] for k in z.files if k != "meta"}
            stores = {pitch_vectors.DIM: open_store(directory / CONTOUR_DIR),
                      fingerprint.DIM: open_store(directory / STORE_DIR)}
        except (OSError, KeyError, ValueError, SapphireError) as exc:
            raise ConfigError(f"{directory}: not a QbH index written by QbhIndex.save ({exc}); "
                              "rebuild it with 'sapphire index'") from None
        index = cls(method=meta["method"], shortlist=meta["shortlist"], candidates=meta["candidates"],
                    store_factory=stores.__getitem__)
        for i, (tid, work_id, n_windows, n_contours) in enumerate(meta["tracks"]):
            index.entries[tid] = _Entry(tid, work_id, arrays[f"m{i}"], arrays.get(f"a{i}"), int(n_windows),
                                        int(n_contours))
        return index


def reading_costs(query: np.ndarray, references: list[np.ndarray], *,
                  probe: int = TUNING_PROBE) -> tuple[np.ndarray, list[float | None]]:
    """DTW costs of a query against references under the better of its two tuning readings.

    Every reference is scored at the tuning estimate; the :data:`TUNING_PROBE` best are scored again
    half a semitone off it (:func:`sapphire_vocal.matching.other_reading`: a hum whose notes are all
    25-50 cents off reads ambiguously). Only when that reading fits one of them better is every
    reference scored at it too and each keeps its lower cost: two passes for the queries that need
    them (28% on the demo corpus), not for all.

    Returns
    -------
    costs : np.ndarray
        ``(len(references),)`` as :func:`sapphire_vocal.matching.dtw_costs`.
    tunings : list
        The reading each cost comes from (None: the estimate), for :func:`sapphire_vocal.matching.align`.
    """
    costs = dtw_costs(query, references)
    tunings: list[float | None] = [None] * len(references)
    if not references:
        return costs, tunings
    other = other_reading(query)
    top = np.argsort(costs, kind="stable")[:probe]
    probed = dtw_costs(query, [references[i] for i in top], tuning=other)
    if probed.min() >= costs[top].min():
        return costs, tunings
    alt = np.ones(len(references))
    alt[top] = probed
    rest = np.setdiff1d(np.arange(len(references)), top)
    if rest.size:
        alt[rest] = dtw_costs(query, [references[i] for i in rest], tuning=other)
    better = alt < costs
    tunings = [other if b else None for b in better]
    return np.where(better, alt, costs), tunings


def _track_numbers_of(window_ids, number: dict[str, int]) -> np.ndarray:
    """Track number of each window id (``<track id><SEP><n>``)."""
    return np.fromiter(map(number.__getitem__, [w.split(SEP, 1)[0] for w in window_ids]), dtype=np.intp,
                       count=len(window_ids))


# --------------------------------------------------------------------------- evaluation
def hum_queries(root: str | Path) -> list[dict]:
    """The ``kind == "hum"`` lines of a corpus' ``queries.jsonl``."""
    path = Path(root) / "queries.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path}: no queries.jsonl; build the demo corpus with 'sapphire corpus build'")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in rows if q.get("kind") == "hum"]


def evaluate_melodies(index: QbhIndex, queries: list[tuple[np.ndarray, str]]) -> dict:
    """Mean reciprocal rank, by work, of query melodies ``[(melody, work_id), ...]`` against ``index``.

    A query's reciprocal rank is 1 / (rank of the first track of its work), 0 when none is returned.

    Returns
    -------
    dict
        ``mrr``, ``top1``, ``top5``, ``first_stage_recall`` (the work's track in the shortlist),
        ``n_queries``, ``n_tracks``, ``shortlist``, ``seconds_per_query`` (search only), ``ranks``.
    """
    import time

    rr, ranks, recall, times = [], [], [], []
    for melody, work in queries:
        t0 = time.perf_counter()
        ranked = index.rank_melody(melody, k=len(index))
        times.append(time.perf_counter() - t0)
        works = [index.work_of(t) for t, _ in ranked]
        r = works.index(work) + 1 if work in works else None
        ranks.append(r)
        rr.append(1.0 / r if r else 0.0)
        recall.append(r is not None)
    n = len(rr)
    return {
        "n_queries": n, "n_tracks": len(index), "shortlist": index.shortlist,
        "mrr": float(np.mean(rr)) if n else 0.0,
        "top1": float(np.mean([r == 1 for r in ranks])) if n else 0.0,
        "top5": float(np.mean([bool(r and r <= 5) for r in ranks])) if n else 0.0,
        "first_stage_recall": float(np.mean(recall)) if n else 0.0,
        "seconds_per_query": float(np.mean(times)) if n else 0.0,
        "ranks": ranks,
    }


def evaluate_hums(index: QbhIndex, root: str | Path, *, limit: int | None = None) -> dict:
    """:func:`evaluate_melodies` over a corpus' hum queries (CREPE melodies of the hum recordings)."""
    from sapphire_core.audio import load_audio

    queries = [(melody_from_audio(load_audio(Path(root) / q["audio"], sr=16000), 16000), q["work_id"])
               for q in hum_queries(root)[:limit]]
    return evaluate_melodies(index, queries)


__all__ = ["Alignment", "QbhIndex", "FRAME_SECONDS", "default_store", "evaluate_hums",
           "evaluate_melodies", "hum_queries"]
