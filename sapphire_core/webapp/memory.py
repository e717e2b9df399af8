"""An in-memory engine with the ``SearchEngine`` interface, over hand-made audio features.

It needs no trained model or built index: each track is a 12-bin chroma (the ``tonal``
sub-space) plus four log-spaced band energies (the ``timbre`` sub-space), both from one FFT of
the audio. The web app uses it as a feature *baseline* in A/B tests (is the learned model
better than plain chroma?) and its tests use it as a small, real engine.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.audio import load_audio
from sapphire_core.retrieval.result import SearchResult

SAMPLE_RATE = 22050
SUBSPACES = {"tonal": slice(0, 12), "timbre": slice(12, 16)}
_PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
_TEXT_FIELDS = ("title", "composer", "artist", "genre", "mood", "instrument", "key", "tags", "description", "era",
                "form", "collection", "instrument_family", "instrument_plan", "tempo_class")


def audio_features(y: np.ndarray, sr: int) -> np.ndarray:
    """``[chroma (12), band energies (4)]`` of mono audio, each part L2-normalised.

    Chroma: magnitude-spectrum energy between 55 Hz and 5 kHz folded onto pitch classes
    (Fujishima 1999, "pitch class profile"). Bands: energy share below 250 Hz, 250-1k, 1k-4k
    and above 4 kHz (a coarse brightness description).
    """
    y = np.asarray(y, dtype=np.float64)
    n_fft = 4096
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    hop = n_fft // 2
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    chroma = np.zeros(12)
    band = (freqs >= 55) & (freqs <= 5000)
    pcs = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    np.add.at(chroma, pcs, power[band])
    edges = [0, 250, 1000, 4000, sr / 2 + 1]
    bands = np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    bands = np.log1p(bands / (bands.sum() + 1e-12) * 100)
    return np.concatenate([chroma / (np.linalg.norm(chroma) + 1e-12),
                           bands / (np.linalg.norm(bands) + 1e-12)]).astype(np.float32)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9#]+", text.lower()))


class MemoryEngine:
    """A ``SearchEngine``-compatible engine over in-memory vectors.

    Parameters
    ----------
    records : list of dict
        One per track: ``id``, ``audio_path`` and free ``metadata``.
    vectors : np.ndarray
        ``(N, 16)`` features from :func:`audio_features`, rows in ``records`` order.
    model_version, index_version : str
        Recorded with every judgement made on this engine's results.
    """

    subspaces = SUBSPACES

    def __init__(self, records: list[dict[str, Any]], vectors: np.ndarray, *, model_version: str = "chroma-baseline",
                 index_version: str | None = None) -> None:
        self.records = {str(r["id"]): r for r in records}
        self.ids = [str(r["id"]) for r in records]
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.model_version = model_version
        digest = hashlib.sha256(self.vectors.tobytes() + "\n".join(self.ids).encode()).hexdigest()[:12]
        self.index_version = index_version or f"memory-{digest}"

    @classmethod
    def from_corpus(cls, corpus: str | Path, **kwargs: Any) -> MemoryEngine:
        """Compute the features of every track of a corpus folder (``tracks.jsonl``)."""
        from sapphire_core.data import Corpus

        data = Corpus(corpus)
        records, vectors = [], []
        for t in data.tracks:
            records.append({"id": t.id, "audio_path": t.audio,
                            "metadata": {**t.metadata, **({"lyrics": t.lyrics} if t.lyrics else {})}})
            vectors.append(audio_features(load_audio(t.audio, sr=SAMPLE_RATE), SAMPLE_RATE))
        return cls(records, np.stack(vectors), **kwargs)

    # ------------------------------------------------------------------ the SearchEngine interface
    @property
    def track_ids(self) -> list[str]:
        return list(self.ids)

    def track(self, track_id: str) -> dict[str, Any]:
        """``{"id", "metadata", "audio_path"}``; raises KeyError for an unknown id."""
        r = self.records[track_id]
        return {"id": track_id, "metadata": dict(r.get("metadata", {})), "audio_path": r.get("audio_path")}

    def _query_vector(self, audio: Any) -> np.ndarray:
        if isinstance(audio, tuple):
            y, sr = audio
        else:
            y, sr = load_audio(audio, sr=SAMPLE_RATE), SAMPLE_RATE
        return audio_features(np.asarray(y), int(sr))

    def modes(self) -> dict[str, str]:
        """The core's modes plus every installed plugin mode that takes audio (answered like audio)."""
        from sapphire_core.plugins import default_registry

        registry = default_registry()
        plugin = {n: "audio" for n in registry.names("query_mode") if registry.get("query_mode", n).input == "audio"}
        return {"audio": "audio", "text": "text", "lyrics": "text", **plugin}

    def search(self, *, audio: Any = None, text: str | None = None, lyrics: str | None = None,
               weights: dict[str, float] | None = None, mode_weights: dict[str, float] | None = None,
               k: int = 10, exclude: Any = (), **queries: Any) -> list[SearchResult]:
        """Rank the tracks: audio (and any plugin audio mode, e.g. a hum) by weighted sub-space cosine,
        text/lyrics by word overlap."""
        weights = {name: float((weights or {}).get(name, 1.0)) for name in SUBSPACES}
        mode_weights = mode_weights or {}
        n = len(self.ids)
        total = np.zeros(n)
        parts: dict[str, np.ndarray] = {}  # per-sub-space contributions, for the explanation
        modal: dict[str, np.ndarray] = {}
        query_vec = None
        for mode, value in (("audio", audio), *queries.items()):
            if value is None:
                continue
            q = self._query_vector(value)
            query_vec = q
            w_mode = float(mode_weights.get(mode, 1.0))
            contrib = np.zeros(n)
            for name, sl in SUBSPACES.items():
                c = w_mode * weights[name] * (self.vectors[:, sl] @ q[sl]) / len(SUBSPACES)
                parts[name] = parts.get(name, 0) + c
                contrib += c
            modal[mode] = contrib
            total += contrib
        for mode, value, fields in (("text", text, _TEXT_FIELDS), ("lyrics", lyrics, ("lyrics",))):
            if not value:
                continue
            q = _tokens(value)
            scores = np.array([
                len(q & _tokens(" ".join(str(self.records[i].get("metadata", {}).get(f, "")) for f in fields)))
                / max(len(q), 1) for i in self.ids])
            modal[mode] = float(mode_weights.get(mode, 1.0)) * scores
            total += modal[mode]
        if not modal:
            raise ValueError(f"give one of {', '.join(self.modes())}")
        excluded = {str(e) for e in exclude}
        order = [i for i in np.argsort(-total, kind="stable") if self.ids[i] not in excluded][: max(int(k), 0)]
        out = []
        for rank, i in enumerate(order, 1):
            tid = self.ids[i]
            out.append(SearchResult(tid, float(total[i]), rank, dict(self.records[tid].get("metadata", {})),
                                    self.records[tid].get("audio_path"),
                                    self._explain(i, parts, modal, query_vec)))
        return out

    def _explain(self, i: int, parts: dict[str, np.ndarray], modal: dict[str, np.ndarray],
                 query_vec: np.ndarray | None) -> dict[str, Any]:
        def shares(d: dict[str, np.ndarray]) -> dict[str, float]:
            vals = {k: max(float(v[i]), 0.0) for k, v in d.items()}
            s = sum(vals.values())
            return {k: (v / s if s > 0 else 0.0) for k, v in vals.items()}

        v = self.vectors[i]
        result_mid = {"strongest pitch class": _PITCH_CLASSES[int(np.argmax(v[:12]))],
                      "brightness": "bright" if v[14] + v[15] > v[12] + v[13] else "dark"}
        query_mid = None if query_vec is None else {
            "strongest pitch class": _PITCH_CLASSES[int(np.argmax(query_vec[:12]))],
            "brightness": "bright" if query_vec[14] + query_vec[15] > query_vec[12] + query_vec[13] else "dark"}
        sub = shares(parts)
        mods = shares(modal)
        top = max(sub, key=sub.get) if sub else max(mods, key=mods.get)
        return {"modalities": mods, "subspaces": sub, "midlevel": {"query": query_mid, "result": result_mid},
                "summary": f"mostly {top} similarity; strongest pitch class {result_mid['strongest pitch class']}, "
                           f"{result_mid['brightness']} sound"}
