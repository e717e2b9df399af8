"""The search engine over an index folder: which query modes it answers, and one ranking with explanations.

Query modes
-----------
audio   a file (whole track or an excerpt) or ``(samples, sr)``, embedded through the model.
text    free text through the model's text tower (``model.embed_text``).
lyrics  lyrics text through the model's lyrics modality (the other modalities marked absent for
        the fusion head); without a lyrics modality, through the text tower.
others  every installed plugin :class:`~sapphire_core.query_mode.QueryMode` (e.g. the vocal plugin's
        ``hum``), which ranks tracks against an index extra built by ``sapphire index``. A query never
        builds an extra: without it, an audio mode is embedded like audio.

Several modes combine into one ranking as a weighted mean of their scores (``mode_weights``).
``weights`` scales named sub-spaces of the embedding (``{"tempo": 0, "key": 2}``: "same mood, any tempo").
Encoding lives in :mod:`.query`, ranking in :mod:`.ranking`, explanations in :mod:`.explain`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.data import Track
from sapphire_core.errors import SapphireError
from sapphire_core.index.folder import IndexFolder, damaged
from sapphire_core.index.store import VectorIndexError
from sapphire_core.query_mode import QueryMode
from sapphire_core.retrieval import explain as ex
from sapphire_core.retrieval import ranking
from sapphire_core.retrieval.query import (EncodedAudio, embed_query_track, lyrics_query_vector, query_track,
                                           text_vector, text_vectors)
from sapphire_core.retrieval.ranking import SearchError, parse_weights
from sapphire_core.retrieval.result import SearchResult

__all__ = ["SearchEngine", "SearchError", "SearchResult", "UnknownTrackError", "EncodedAudio", "parse_weights",
           "lyrics_query_vector"]


class UnknownTrackError(SapphireError, KeyError):
    """A track id is not in the index."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class SearchEngine:
    """Search an index folder.

    Parameters
    ----------
    folder : IndexFolder
    model : SapphireModel, optional
        Loaded from the manifest's checkpoint on first need when not given.
    registry : Registry, optional
        Components, query modes, explanations and index extras [default: the installed plugins].
    device : str
    """

    def __init__(self, folder: IndexFolder, *, model=None, registry=None, device: str = "cpu") -> None:
        self.folder = folder
        self.manifest = folder.manifest
        self._model = model
        self._registry = registry
        self.device = device
        self._extractors = None
        self._interpretations = None
        self._extras: dict[str, Any] = {}
        try:
            self.subspaces: dict[str, slice] = {str(k): slice(int(a), int(b)) for k, (a, b) in
                                                (self.manifest.get("subspaces") or {}).items()}
        except (AttributeError, TypeError, ValueError) as exc:
            from sapphire_core.layout import MANIFEST

            raise damaged(folder.path / MANIFEST, f"bad 'subspaces' ({exc})") from None
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
    def training_free_mode(self) -> str | None:
        """The vector query mode of an index built without a model (``sapphire index --model none``), else None."""
        from sapphire_core.index.training_free import MANIFEST_KEY

        return self.manifest.get(MANIFEST_KEY) or None

    @property
    def model(self):
        if self._model is None:
            from sapphire_core.model import load_model

            if self.training_free_mode:
                raise SearchError(f"{self.folder.path} was indexed without a model (--model none): it answers audio "
                                  f"queries, similar and playlists by the training-free {self.training_free_mode!r} "
                                  "similarity; text and lyrics queries need a model: rebuild it with "
                                  "'sapphire index --model CKPT'")
            if not self.manifest.get("model_path"):
                from sapphire_core.layout import MANIFEST

                raise damaged(self.folder.path / MANIFEST, "names no 'model_path'")
            self._model, _ = load_model(self.manifest["model_path"], self.registry)
        return self._model

    @property
    def extractors(self):
        if self._extractors is None:
            from sapphire_core.model import build_extractors

            self._extractors = build_extractors(self.model.cfg, self.registry)
        return self._extractors

    @property
    def interpretations(self):
        """The installed explanations this index stores values for."""
        if self._interpretations is None:
            from sapphire_core.interpret import interpretations

            stored = self.manifest.get("explanations") or {}
            self._interpretations = [i for i in interpretations(self.registry) if i.name in stored]
        return self._interpretations

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

    def indexed_id(self, ref: str | Path) -> str | None:
        """The track id ``ref`` names: itself when it is an id of the index, the track of an indexed
        audio file, else None."""
        if str(ref) in self.folder.metadata:
            return str(ref)
        try:
            return self._audio_to_id.get(str(Path(ref).resolve()))
        except (OSError, ValueError):
            return None

    def __len__(self) -> int:
        return len(self.folder.store)

    # ------------------------------------------------------------------ library workflows
    def similar(self, seeds, **options: Any) -> list[SearchResult]:
        """Tracks like ``seeds`` (ids or files), from stored vectors; see :func:`.neighbours.similar`."""
        from sapphire_core.retrieval.neighbours import similar

        return similar(self, [seeds] if isinstance(seeds, (str, Path)) else list(seeds), **options)

    def playlist(self, start, end, *, length: int = 10, **options: Any) -> list[SearchResult]:
        """A smooth walk from ``start`` to ``end``; see :func:`.playlist.playlist`."""
        from sapphire_core.retrieval.playlist import playlist

        return playlist(self, start, end, length=length, **options)

    # ------------------------------------------------------------------ query modes
    def modes(self) -> dict[str, str]:
        """Every query mode this engine answers, with its input kind (``audio`` or ``text``)."""
        out = {"audio": "audio", "text": "text", "lyrics": "text"}
        out.update({n: self.registry.get("query_mode", n).input for n in self.registry.names("query_mode")})
        return out

    def _extra_data(self, mode: QueryMode) -> Any | None:
        """What ``mode``'s index extra loads to (kept for the next query), or None when the index lacks it.

        Raises
        ------
        VectorIndexError
            When the extra is there but unreadable.
        """
        from sapphire_core.layout import extra_dir

        if mode.extra not in self._extras:
            extra = self.registry.get("index_extra", mode.extra)()
            folder = extra_dir(self.folder.path, mode.extra)
            if not extra.exists(folder):
                return None
            try:
                self._extras[mode.extra] = extra.load(folder)
            except SapphireError:
                raise
            except Exception as exc:  # a plugin tripping over its own damaged files (BadZipFile, KeyError...)
                raise VectorIndexError(f"{folder}: the {mode.extra!r} index extra is unreadable ({type(exc).__name__}: "
                                       f"{exc}); rebuild the index with 'sapphire index'") from None
        return self._extras[mode.extra]

    def _plugin_mode_scores(self, mode: QueryMode, query: Any, *, k: int) -> dict[str, float] | None:
        """``{track_id: score}`` of a plugin query mode (top ``k``) against its index extra, or None when
        the index was built without that extra and the mode takes audio (it is then embedded as audio).

        Raises
        ------
        SearchError
            When a text mode's extra is missing.
        """
        data = self._extra_data(mode)
        if data is None:
            if mode.input == "audio" and not self.training_free_mode:
                return None
            raise SearchError(f"{self.folder.path} has no {mode.extra!r} index extra, which {mode.name!r} queries "
                              "need; rebuild the index with 'sapphire index' (with its plugin installed)")
        return {str(t): float(s) for t, s in mode.rank(query, data, k=k)}

    def _refiners(self, core_mode: str, given: dict[str, Any], fetch: int) -> dict[str, tuple[QueryMode, dict]]:
        """``{mode name: (mode, {track_id: score})}`` of the installed modes that refine ``core_mode``
        (:attr:`QueryMode.refines`) and whose extra this index has, each ranking the core mode's query
        (its top ``fetch``). A mode the query names itself is combined as usual instead."""
        out = {}
        for name in self.registry.names("query_mode"):
            cls = self.registry.get("query_mode", name)
            if name in given or core_mode not in cls.refines:
                continue
            mode = cls()
            data = self._extra_data(mode)
            if data is not None:
                out[name] = (mode, {str(t): float(s) for t, s in mode.rank(given[core_mode], data, k=fetch)})
        return out

    def _training_free_vector(self, audio) -> np.ndarray:
        """A query recording as a vector of a model-less index (its vector mode's :meth:`embed`)."""
        mode = self.registry.get("query_mode", self.training_free_mode)()
        data = self._extra_data(mode)
        if data is None:
            raise SearchError(f"{self.folder.path} has no {mode.extra!r} index extra; rebuild it with "
                              "'sapphire index --model none'")
        return np.asarray(mode.embed(audio, data), np.float32)

    def encode_audio(self, audio) -> EncodedAudio:
        """Embed a query recording (a path or ``(samples, sr)``) with the index's model (or, in an index
        without one, its training-free vector mode)."""
        if self.training_free_mode:
            with query_track(audio) as (track, is_file):
                known = self._audio_to_id.get(str(Path(track.audio).resolve())) if is_file else None
                fused = self._training_free_vector(audio)
            return EncodedAudio(fused, {}, {}, {}, self.folder.metadata.get(known) if known else None)
        with query_track(audio) as (track, is_file):
            known = self._audio_to_id.get(str(Path(track.audio).resolve())) if is_file else None
            if known is not None:  # an indexed track: query with its full record (lyrics included)
                meta = self.folder.metadata[known]
                track = Track.from_json({**meta, "audio": str(track.audio)}, Path("/"))
            fused, per_modality, present = embed_query_track(self.model, self.extractors, track,
                                                             self._cache() if known else None, device=self.device)
            values = {}
            for spec in self.interpretations:
                if known is not None and spec.name in self.folder.explanations:
                    values[spec.name] = self.folder.explanations[spec.name][self.folder.order[known]]
                else:
                    v = spec.values(track, None)
                    if v is not None:
                        values[spec.name] = v
        return EncodedAudio(fused, per_modality, present, values, self.folder.metadata.get(known) if known else None)

    def encode_text(self, text: str) -> np.ndarray:
        """A text query through the text tower, in the shared space (see :func:`.query.text_vector`)."""
        return text_vector(self.model, text, model_version=self.model_version)

    def encode_lyrics(self, lyrics: str) -> np.ndarray:
        """Lyrics through the lyrics modality (others absent), else through the text tower."""
        vec = lyrics_query_vector(self.model, self.extractors, lyrics, device=self.device)
        if vec is not None:
            return vec
        if self.model.text_tower is not None:
            return self.encode_text(lyrics)
        raise SearchError(f"the model {self.model_version} has neither a lyrics modality nor a text tower; "
                          "lyrics queries need one of them")

    # ------------------------------------------------------------------ search
    def search(self, *, audio=None, text: str | None = None, lyrics: str | None = None,
               weights: dict[str, float] | None = None, mode_weights: dict[str, float] | None = None,
               k: int = 10, exclude=(), explain: bool = True, refine: bool = True,
               **queries: Any) -> list[SearchResult]:
        """Rank the index for one query given in one or more modes.

        Parameters
        ----------
        audio : path or (np.ndarray, int), optional
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
        refine : bool
            Let installed plugin modes that refine audio queries (:attr:`QueryMode.refines`, e.g. version
            alignment) lift the results they match strongly, when the index has their extra.
        **queries
            Queries in plugin modes, by mode name (e.g. ``hum=path`` with the vocal plugin).

        Returns
        -------
        list of SearchResult
            Best first.

        Raises
        ------
        SearchError
            When no query is given, a mode or sub-space name is unknown, or the model cannot take a mode.
        """
        if audio is not None and self.training_free_mode:  # no model: the vector mode ranks audio queries
            queries = {**queries, self.training_free_mode: audio}
            audio = None
        given = {m: v for m, v in (("audio", audio), ("text", text), ("lyrics", lyrics), *queries.items())
                 if v is not None}
        if not given:
            raise SearchError(f"give at least one query: {', '.join(self.modes())}")
        if int(k) < 1:
            raise SearchError(f"k must be >= 1, got {k}")
        modes = self.modes()
        bad = sorted(set(given) - set(modes))
        if bad:
            raise SearchError(f"unknown query modes {bad}; installed: {', '.join(modes)} (a plugin adds more, "
                              "e.g. hum with pip install -e plugins/vocal)")
        mode_weights = {m: float((mode_weights or {}).get(m, 1.0)) for m in given}
        w = ranking.subspace_weights(self.dim, self.subspaces, weights)
        exclude = set(exclude or ())
        n = len(self.folder.store)
        if n == 0:
            return []
        fetch = min(n, max(5 * int(k), 50) + len(exclude))

        vectors: dict[str, np.ndarray] = {}
        scored: dict[str, dict[str, float]] = {}
        plugin_modes: dict[str, QueryMode] = {}
        encoded_audio = None
        for mode, value in given.items():
            if mode == "audio":
                encoded_audio = self.encode_audio(value)
                vectors["audio"] = encoded_audio.fused
            elif mode == "text":
                vectors["text"] = self.encode_text(value)
            elif mode == "lyrics":
                vectors["lyrics"] = self.encode_lyrics(value)
            else:
                plugin_modes[mode] = self.registry.get("query_mode", mode)()
                scores = self._plugin_mode_scores(plugin_modes[mode], value, k=fetch)
                if scores is None:  # no extra in this index: the model's own audio path
                    vectors[mode] = self.encode_audio(value).fused
                else:
                    scored[mode] = scores

        refiners = self._refiners("audio", given, fetch) if refine and "audio" in vectors else {}
        candidates = ranking.candidate_pool(self.folder.store, vectors, w, fetch=fetch,
                                            scored={**scored, **{m: sc for m, (_, sc) in refiners.items()}},
                                            known=set(self.folder.metadata), exclude=exclude)
        if not candidates:
            return []
        X = self.folder.store.get_vectors(candidates)
        per_mode: dict[str, np.ndarray] = {m: X @ (q * w) for m, q in vectors.items()}
        refined_by: dict[str, np.ndarray] = {}
        for mode, (pm, scores) in refiners.items():
            refined_by[mode] = np.array([scores.get(c, np.nan) for c in candidates], np.float64)
            per_mode["audio"] = ranking.refine(per_mode["audio"], refined_by[mode], threshold=pm.refine_threshold,
                                               weight=pm.refine_weight)
            plugin_modes[mode] = pm
        for mode, scores in scored.items():
            per_mode[mode] = ranking.score_column(scores, candidates, rescale=len(given) > 1)
        combined = ranking.combine(per_mode, mode_weights)
        order = np.argsort(-combined, kind="stable")[: int(k)]

        by_word = self._without_each_word(text, vectors["text"]) if explain and "text" in vectors else None
        qvec = None
        if vectors:
            vw = sum(mode_weights[m] for m in vectors) or 1.0
            qvec = sum(mode_weights[m] * vectors[m] for m in vectors) / vw
        # A plugin mode says why its results matched (e.g. a hum's aligned segment), all shown ones at once.
        said = {m: plugin_modes[m].explain(given[m], self._extras[plugin_modes[m].extra],
                                           [candidates[j] for j in order]) for m in scored} if explain else {}
        # A refining mode explains only the results it lifted (scored above its threshold).
        for m, raw in refined_by.items() if explain else ():
            lifted = [candidates[j] for j in order if raw[j] > plugin_modes[m].refine_threshold]
            data = self._extras[plugin_modes[m].extra]
            said[m] = plugin_modes[m].explain(given["audio"], data, lifted) if lifted else {}
        results = []
        for rank, j in enumerate(order, 1):
            tid = candidates[j]
            meta = self.folder.metadata.get(tid, {})
            expl: dict[str, Any] = {"modes": {m: float(per_mode[m][j]) for m in per_mode}}
            expl["modes"].update({m: float(raw[j]) for m, raw in refined_by.items() if np.isfinite(raw[j])})
            if explain:
                expl.update(self.explain(tid, X[j], qvec=qvec, w=w, query_audio=encoded_audio, text=by_word,
                                         lyrics=lyrics))
                own = [(m, said[m][tid]) for m in [*scored, *refined_by] if tid in (said.get(m) or {})]
                expl.update(own)
                lead = "; ".join([e["summary"] for _, e in own if e.get("summary")]
                                 # a plugin mode that says nothing more: its match score says why
                                 or [f"{m} match score {per_mode[m][j]:.3f}" for m in scored])
                if lead and expl.get("summary") == ex.NO_DESCRIPTORS:
                    expl["summary"] = lead
                elif own and lead:
                    expl["summary"] = f"{lead}; {expl['summary']}"
            results.append(SearchResult(tid, float(combined[j]), rank, meta, meta.get("audio_path"), expl))
        return results

    # ------------------------------------------------------------------ explanations
    def _without_each_word(self, text: str, q: np.ndarray):
        """``(q, words, (n_words, dim) vectors of the text without each word)`` for word occlusion, or None
        for a one-word query."""
        words = ex.words_of(text)[: ex.MAX_WORDS]
        if len(words) < 2:
            return None
        return q, words, text_vectors(self.model, [" ".join(v for v in words if v != word) for word in words])

    def explain(self, track_id: str, x: np.ndarray, *, qvec: np.ndarray | None, w: np.ndarray,
                query_audio: EncodedAudio | None, text: tuple | None = None,
                lyrics: str | None = None) -> dict[str, Any]:
        """Sub-space shares, modality shares (occlusion), each explanation side by side and a summary.

        ``text`` (from a text query: its vector, words and the vectors without each word) adds
        ``"words"``, each word's part of the score; ``lyrics`` (a lyrics query) adds ``"lyrics_lines"``,
        the result's lines sharing its words.
        """
        out: dict[str, Any] = {"subspaces": {}, "modalities": {}}
        meta = self.folder.metadata.get(track_id, {})
        if text is not None:
            out["words"] = ex.word_shares(text[0], text[2], x, text[1], self.subspaces, weights=w)[:5]
        if lyrics:
            out["lyrics_lines"] = ex.matching_lines(lyrics, meta.get("lyrics"))
        if qvec is not None:
            out["subspaces"] = ex.subspace_shares(qvec, x, self.subspaces, weights=w)
            out["modalities"] = self._modality_shares(track_id, qvec, w, query_audio)
        row = self.folder.order.get(track_id)
        merged: dict[str, dict] = {"query": {}, "result": {}}
        adjectives: dict[str, str] = {}
        said_by_metadata: dict[str, str] = {}
        for spec in self.interpretations:
            stored = self.folder.explanations.get(spec.name)
            result_values = stored[row] if (stored is not None and row is not None) else None
            query_values = query_audio.interpretable.get(spec.name) if query_audio is not None else None
            side = ex.side_by_side(list(spec.names), query_values, result_values, stored)
            out[spec.name] = side
            for part in ("query", "result"):
                merged[part].update(side[part])
            adjectives.update({n: spec.explanation.adjective(n) for n in spec.names})
            said_by_metadata.update(spec.explanation.said_by_metadata)
        query_meta = query_audio.metadata if query_audio is not None else None
        summary = ex.summary_text(merged, query_meta, meta, adjective=lambda n: adjectives.get(n, n.replace("_", " ")),
                                  said_by_metadata=said_by_metadata)
        matched = ex.query_summary(out.get("words"), out.get("lyrics_lines"))
        out["summary"] = (matched if summary == ex.NO_DESCRIPTORS else f"{matched}; {summary}") if matched else summary
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
        q_parts = query_audio.per_modality if query_audio is not None else None
        q_present = query_audio.present if query_audio is not None else None
        return ex.occlusion_shares(fuse, mods, r_parts, r_present, q_parts, q_present, qvec, w)
