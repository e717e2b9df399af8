"""The search engine over an index folder: query encoding per mode, combination, re-weighting, explanations.

Query modes
-----------
audio   a file (whole track or an excerpt) or ``(samples, sr)``, embedded through the model.
text    free text through the model's text tower (``model.embed_text``).
lyrics  lyrics text through the model's lyrics modality (the other modalities marked absent for
        the fusion head); without a lyrics modality, through the text tower.
hum     a hummed/sung melody, ranked by ``sapphire_vocal.qbh`` (query by humming) when the vocal
        plugin provides it; otherwise embedded like audio.

Several modes combine into one ranking as a weighted mean of their scores (``mode_weights``).
``weights`` scales named sub-spaces of the embedding (``{"tempo": 0, "key": 2}``: "same mood, any tempo").
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.errors import SapphireError
from sapphire_core.index.folder import IndexFolder
from sapphire_core.retrieval import explain as ex

MODES = ("audio", "text", "lyrics", "hum")


class SearchError(SapphireError, ValueError):
    """A query cannot be answered (unknown sub-space, no text tower, no query given, ...)."""


class UnknownTrackError(SapphireError, KeyError):
    """A track id is not in the index."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


@dataclass
class SearchResult:
    """One hit: ``explanation`` = {"modalities", "subspaces", "midlevel", "summary", "modes"}."""

    track_id: str
    score: float
    rank: int
    metadata: dict[str, Any]
    audio_path: str | None
    explanation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EncodedAudio:
    """An audio query: fused vector, raw per-modality embeddings and presence, mid-level values."""

    fused: np.ndarray
    per_modality: dict[str, np.ndarray]
    present: dict[str, bool]
    midlevel: np.ndarray | None = None
    metadata: dict[str, Any] | None = None


def parse_weights(text: str | None) -> dict[str, float]:
    """``"tempo=0,key=2"`` -> ``{"tempo": 0.0, "key": 2.0}``.

    Raises
    ------
    SearchError
        When an item is not ``name=number``.
    """
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise SearchError(f"weight {item.strip()!r} is not name=number (e.g. --weights tempo=0,key=2)") from None
    return out


class SearchEngine:
    """Search an index folder.

    Parameters
    ----------
    folder : IndexFolder
    model : SapphireModel, optional
        Loaded from the manifest's checkpoint on first need when not given.
    registry : Registry, optional
    device : str
    """

    def __init__(self, folder: IndexFolder, *, model=None, registry=None, device: str = "cpu") -> None:
        self.folder = folder
        self.manifest = folder.manifest
        self._model = model
        self._registry = registry
        self.device = device
        self._extractors = None
        self._qbh = None
        self._mid_extractor = False  # False = not looked up yet
        self.subspaces: dict[str, slice] = {k: slice(int(a), int(b)) for k, (a, b) in
                                            self.manifest.get("subspaces", {}).items()}
        self.dim = int(self.manifest["dim"])
        sha = str(self.manifest.get("model_sha256", ""))[:12]
        self.model_version = f"{self.manifest.get('model_name', 'model')}@{sha}"
        self.index_version = str(self.manifest.get("index_version", "0"))
        self._audio_to_id = {str(m.get("audio_path")): tid for tid, m in folder.metadata.items() if m.get("audio_path")}

    @classmethod
    def open(cls, index_dir: str | Path, *, model=None, registry=None, device: str = "cpu") -> SearchEngine:
        """Open an index folder built by ``sapphire index``."""
        return cls(IndexFolder.open(index_dir), model=model, registry=registry, device=device)

    # ------------------------------------------------------------------ lazily loaded parts
    @property
    def registry(self):
        if self._registry is None:
            from sapphire_core.plugins import default_registry

            self._registry = getattr(self._model, "registry", None) or default_registry()
        return self._registry

    @property
    def model(self):
        if self._model is None:
            from sapphire_core.model import load_model

            self._model, _ = load_model(self.manifest["model_path"], self.registry)
        return self._model

    def _cache(self):
        """The feature cache the index was built with (``sapphire index --cache``), or None."""
        from sapphire_core.cache import FeatureCache
        from sapphire_core.layout import index_cache_dir

        root = index_cache_dir(self.manifest)
        return FeatureCache(root) if root is not None else None

    # ------------------------------------------------------------------ track access
    def track_ids(self) -> list[str]:
        return list(self.folder.metadata)

    def track(self, track_id: str) -> dict[str, Any]:
        """``{"id", "metadata", "audio_path"}`` of an indexed track.

        Raises
        ------
        UnknownTrackError
        """
        meta = self.folder.metadata.get(track_id)
        if meta is None:
            raise UnknownTrackError(f"track {track_id!r} is not in the index {self.folder.path}")
        return {"id": track_id, "metadata": meta, "audio_path": meta.get("audio_path")}

    def __len__(self) -> int:
        return len(self.folder.store)

    # ------------------------------------------------------------------ query encoding
    def _subspace_weights(self, weights: dict[str, float] | None) -> np.ndarray:
        w = np.ones(self.dim, np.float32)
        if not weights:
            return w
        covered = np.zeros(self.dim, bool)
        for sl in self.subspaces.values():
            covered[sl] = True
        for name, value in weights.items():
            if name in self.subspaces:
                w[self.subspaces[name]] = value
            elif name == "rest" and not covered.all():
                w[~covered] = value
            else:
                valid = ", ".join(list(self.subspaces) + (["rest"] if not covered.all() else []))
                raise SearchError(f"unknown sub-space {name!r} in weights; this model's sub-spaces: "
                                  f"{valid or 'none (it was trained without named sub-spaces)'}")
        return w

    def _query_track(self, audio, *, lyrics: str | None = None):
        from sapphire_core.data import Track

        if isinstance(audio, tuple):
            import soundfile as sf

            samples, sr = audio
            tmp = tempfile.NamedTemporaryFile(suffix=".wav", delete=False)
            sf.write(tmp.name, np.asarray(samples, dtype=np.float32), int(sr))
            return Track(id="query", audio=Path(tmp.name), lyrics=lyrics), Path(tmp.name)
        path = Path(audio)
        if not path.is_file():
            raise SearchError(f"{path}: query audio not found")
        return Track(id="query", audio=path, lyrics=lyrics), None

    def encode_audio(self, audio) -> EncodedAudio:
        """Embed a query recording (a path or ``(samples, sr)``) with the index's model."""
        import torch

        from sapphire_core.embedding import collate_tracks, track_features
        from sapphire_core.model import build_extractors

        model = self.model
        if self._extractors is None:
            self._extractors = build_extractors(model.cfg, self.registry)
        track, tmp = self._query_track(audio)
        known = self._audio_to_id.get(str(Path(track.audio).resolve())) if tmp is None else None
        if known is not None:  # an indexed track: query with its full record (lyrics included)
            from sapphire_core.data import Track

            meta = self.folder.metadata[known]
            track = Track.from_json({**meta, "audio": str(track.audio)}, Path("/"))
        try:
            feats = track_features(track, self._extractors, self._cache() if known else None)
            with torch.no_grad():
                batch, pres = collate_tracks([feats], self.device)
                raw = model.encode_modalities(batch)
                fused = model.embed_audio(batch, pres).embedding[0].float().cpu().numpy()
            mid = None
            if known is not None and self.folder.midlevel is not None:
                mid = self.folder.midlevel[self.folder.order[known]]
            elif self._midlevel_extractor() is not None:
                from sapphire_core.index.builder import midlevel_values

                mid = midlevel_values(track, self._midlevel_extractor(), None)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        return EncodedAudio(fused, {m: v[0].float().cpu().numpy() for m, v in raw.items()},
                            {m: bool(v[0]) for m, v in pres.items()}, mid,
                            self.folder.metadata.get(known) if known else None)

    def encode_text(self, text: str) -> np.ndarray:
        """A text query through the text tower, in the shared space.

        Raises
        ------
        SearchError
            When the model has no text tower.
        """
        import torch

        if self.model.text_tower is None:
            raise SearchError(f"the model {self.model_version} has no text tower, so it cannot take text queries; "
                              "train a modality set with a 'text:' block")
        with torch.no_grad():
            return self.model.embed_text([text])[0].float().cpu().numpy()

    def encode_lyrics(self, lyrics: str) -> np.ndarray:
        """Lyrics through the lyrics modality (others absent), else through the text tower."""
        if self._extractors is None:
            from sapphire_core.model import build_extractors

            self._extractors = build_extractors(self.model.cfg, self.registry)
        vec = lyrics_query_vector(self.model, self._extractors, lyrics, device=self.device)
        if vec is not None:
            return vec
        if self.model.text_tower is not None:
            return self.encode_text(lyrics)
        raise SearchError(f"the model {self.model_version} has neither a lyrics modality nor a text tower; "
                          "lyrics queries need one of them")

    def _midlevel_extractor(self):
        if self._mid_extractor is False:
            from sapphire_core.index.builder import midlevel_extractor

            self._mid_extractor = midlevel_extractor(self.registry)
        return self._mid_extractor

    def qbh_available(self) -> bool:
        """Whether hums can be matched by melody: the vocal plugin is installed and the index was
        built with its melodies (``sapphire index --qbh``). A query never builds them."""
        from sapphire_core.index.builder import qbh_available
        from sapphire_core.index.folder import QBH_FILE

        return qbh_available() and (self.folder.path / QBH_FILE).is_dir()

    def _qbh_index(self):
        if self._qbh is None:
            from sapphire_vocal import qbh

            from sapphire_core.index.folder import QBH_FILE

            self._qbh = qbh.QbhIndex.load(self.folder.path / QBH_FILE)
        return self._qbh

    def hum_scores(self, hum, *, k: int) -> dict[str, float]:
        """Query-by-humming scores ``{track_id: score}`` from ``sapphire_vocal.qbh`` (top ``k``)."""
        from sapphire_core.audio import load_audio

        if isinstance(hum, tuple):
            samples, sr = hum
        else:
            sr = 16000
            samples = load_audio(hum, sr=sr)
        ranked = self._qbh_index().rank(np.asarray(samples, np.float32), sr, k)
        return {str(t): float(s) for t, s in ranked}

    # ------------------------------------------------------------------ search
    def search(self, *, audio=None, text: str | None = None, hum=None, lyrics: str | None = None,
               weights: dict[str, float] | None = None, mode_weights: dict[str, float] | None = None,
               k: int = 10, exclude=(), explain: bool = True) -> list[SearchResult]:
        """Rank the index for one query given in one or more modes.

        Parameters
        ----------
        audio, hum : path or (np.ndarray, int), optional
        text, lyrics : str, optional
        weights : dict of str to float, optional
            Sub-space weights (1 = unchanged, 0 = ignore that aspect).
        mode_weights : dict of str to float, optional
            Weight of each given mode in the combined score [default 1 each].
        k : int
        exclude : set of str
            Track ids never returned (e.g. the query track itself).
        explain : bool
            Compute explanations (costs one fusion-head pass per result and modality).

        Returns
        -------
        list of SearchResult
            Best first.

        Raises
        ------
        SearchError
            When no query is given, a sub-space name is unknown, or the model cannot take a mode.
        """
        given = {m: v for m, v in (("audio", audio), ("text", text), ("lyrics", lyrics), ("hum", hum)) if v is not None}
        if not given:
            raise SearchError("give at least one query: audio, text, lyrics or hum")
        if int(k) < 1:
            raise SearchError(f"k must be >= 1, got {k}")
        mode_weights = {m: float((mode_weights or {}).get(m, 1.0)) for m in given}
        bad = set(mode_weights) - set(MODES)
        if bad:
            raise SearchError(f"unknown query modes {sorted(bad)}; choose from {', '.join(MODES)}")
        w = self._subspace_weights(weights)
        exclude = set(exclude or ())
        n = len(self.folder.store)
        if n == 0:
            return []
        fetch = min(n, max(5 * int(k), 50) + len(exclude))

        vectors: dict[str, np.ndarray] = {}
        encoded_audio = None
        hum_scores = None
        for mode, value in given.items():
            if mode == "audio":
                encoded_audio = self.encode_audio(value)
                vectors["audio"] = encoded_audio.fused
            elif mode == "text":
                vectors["text"] = self.encode_text(value)
            elif mode == "lyrics":
                vectors["lyrics"] = self.encode_lyrics(value)
            elif mode == "hum":
                if self.qbh_available():
                    hum_scores = self.hum_scores(value, k=fetch)
                else:  # no melody matcher: the model's own audio path is the best we have
                    vectors["hum"] = self.encode_audio(value).fused

        candidates: list[str] = []
        seen: set[str] = set()
        for q in vectors.values():
            ids, _ = self.folder.store.search(q * w, k=fetch)
            for i in ids[0]:
                if i not in seen:
                    seen.add(i)
                    candidates.append(i)
        if hum_scores:
            for i in hum_scores:
                if i not in seen and i in self.folder.metadata:
                    seen.add(i)
                    candidates.append(i)
        candidates = [c for c in candidates if c not in exclude]
        if not candidates:
            return []
        X = self.folder.store.get_vectors(candidates)
        per_mode: dict[str, np.ndarray] = {m: X @ (q * w) for m, q in vectors.items()}
        if hum_scores is not None:
            raw = np.array([hum_scores.get(c, np.nan) for c in candidates], np.float64)
            if len(given) > 1:  # put QBH scores on [0, 1] before mixing them with cosines
                lo, hi = np.nanmin(raw), np.nanmax(raw)
                raw = (raw - lo) / (hi - lo) if hi > lo else np.ones_like(raw)
            per_mode["hum"] = np.nan_to_num(raw, nan=np.nanmin(raw) if np.isfinite(raw).any() else 0.0)
        total_w = sum(mode_weights[m] for m in per_mode) or 1.0
        combined = sum(mode_weights[m] * per_mode[m] for m in per_mode) / total_w
        order = np.argsort(-combined, kind="stable")[: int(k)]

        qvec = None
        if vectors:
            vw = sum(mode_weights[m] for m in vectors) or 1.0
            qvec = sum(mode_weights[m] * vectors[m] for m in vectors) / vw
        results = []
        for rank, j in enumerate(order, 1):
            tid = candidates[j]
            meta = self.folder.metadata.get(tid, {})
            expl: dict[str, Any] = {"modes": {m: float(per_mode[m][j]) for m in per_mode}}
            if explain:
                expl.update(self.explain(tid, X[j], qvec=qvec, w=w, query_audio=encoded_audio))
            results.append(SearchResult(tid, float(combined[j]), rank, meta, meta.get("audio_path"), expl))
        return results

    # ------------------------------------------------------------------ explanations
    def explain(self, track_id: str, x: np.ndarray, *, qvec: np.ndarray | None, w: np.ndarray,
                query_audio: EncodedAudio | None) -> dict[str, Any]:
        """Sub-space shares, modality shares (occlusion), mid-level side by side and a summary."""
        out: dict[str, Any] = {"subspaces": {}, "modalities": {}}
        if qvec is not None:
            out["subspaces"] = ex.subspace_shares(qvec, x, self.subspaces, weights=w)
            out["modalities"] = self._modality_shares(track_id, qvec, w, query_audio)
        names = self.manifest.get("midlevel_names") or []
        row = self.folder.order.get(track_id)
        result_mid = self.folder.midlevel[row] if (self.folder.midlevel is not None and row is not None) else None
        query_mid = query_audio.midlevel if query_audio is not None else None
        mid = ex.midlevel_side_by_side(names, query_mid, result_mid, self.folder.midlevel) if names else \
            {"query": {}, "result": {}}
        out["midlevel"] = mid
        query_meta = query_audio.metadata if query_audio is not None else None
        out["summary"] = ex.summary_text(mid, query_meta, self.folder.metadata.get(track_id, {}))
        return out

    def _modality_shares(self, track_id: str, qvec: np.ndarray, w: np.ndarray,
                         query_audio: EncodedAudio | None) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        emb = self.folder.modality_embeddings
        row = self.folder.order.get(track_id)
        if not emb or row is None:
            return {}
        mods = list(emb)
        if len(mods) == 1:
            return {mods[0]: 1.0}
        model = self.model

        def fuse(parts: dict[str, np.ndarray], present: dict[str, bool], drop: str | None) -> np.ndarray:
            e = {m: torch.as_tensor(parts[m], dtype=torch.float32, device=self.device)[None] for m in mods}
            p = {m: torch.tensor([bool(present[m]) and m != drop], device=self.device) for m in mods}
            with torch.no_grad():
                return F.normalize(model.fusion(e, p).embedding, dim=-1)[0].float().cpu().numpy()

        r_parts = {m: emb[m][row] for m in mods}
        r_present = {m: bool(self.folder.modality_present.get(m, np.ones(len(emb[m]), bool))[row]) for m in mods}
        base_r = fuse(r_parts, r_present, None)
        if query_audio is not None and all(m in query_audio.per_modality for m in mods):
            base_q = fuse(query_audio.per_modality, query_audio.present, None)
        else:
            base_q = qvec
        full = float((base_q * w) @ base_r)
        drops = {}
        for m in mods:
            if not r_present[m]:
                continue  # an absent modality contributes nothing
            x_m = fuse(r_parts, r_present, m)
            q_m = fuse(query_audio.per_modality, query_audio.present, m) if base_q is not qvec else qvec
            drops[m] = full - float((q_m * w) @ x_m)
        shares = ex.normalised_shares(drops)
        return {m: shares.get(m, 0.0) for m in mods}


def lyrics_query_vector(model, extractors, lyrics: str, *, device: str = "cpu",
                        raw: bool = False) -> np.ndarray | None:
    """Embed lyrics text through the model's lyrics modality, the other modalities marked absent.

    Returns the fused, L2-normalised vector (or with ``raw`` the lyrics encoder's own embedding),
    or None when the model has no lyrics modality, its extractors need audio, or the text yields
    no lyrics features.
    """
    import torch
    import torch.nn.functional as F

    from sapphire_core.collate import collate_features
    from sapphire_core.data import Track
    from sapphire_core.embedding import track_features

    if "lyrics" not in model.encoders or "lyrics" not in extractors:
        return None
    group = {"lyrics": extractors["lyrics"]}
    if any(e.needs_audio for e in group["lyrics"]):
        return None
    feats = track_features(Track(id="query", lyrics=lyrics), group, None)
    if not feats.present.get("lyrics", False):
        return None
    with torch.no_grad():
        batch = {k: v.to(device) for k, v in collate_features([feats.by_modality["lyrics"]]).items()}
        lyr = model.encoders["lyrics"](batch) * model.modality_weights["lyrics"]
        if raw:
            return lyr[0].float().cpu().numpy()
        emb = {m: torch.zeros(1, enc.output_dim, device=device) for m, enc in model.encoders.items()}
        emb["lyrics"] = lyr
        present = {m: torch.tensor([m == "lyrics"], device=device) for m in model.encoders}
        fused = model.fusion(emb, present).embedding
        return F.normalize(fused, dim=-1)[0].float().cpu().numpy()
