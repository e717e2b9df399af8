"""One evaluation run: every system (MFCC baseline, each single modality, each fused model) on the
same held-out tracks and the same queries, into one ablation table.

Tasks
-----
audio->audio   each held-out track queries the whole corpus (itself excluded); relevant = the other
               versions of its work.
excerpt->audio excerpt queries (``queries.jsonl``) cut from held-out tracks; the source track is excluded;
               also per nominal length (``seconds``).
copy->audio    degraded excerpts (kind ``copy``, e.g. ``sapphire corpus robustness``); relevant = exactly
               the source track; also per ``degradation``.
hum->audio     hum queries of held-out works; the model embeds the hum like any audio; a separate row
               per installed plugin query mode of the same kind (e.g. the vocal plugin's melody matching).
text->audio    held-out tracks' descriptions (``descriptions.jsonl``) query the held-out tracks.
audio->text    held-out tracks query the pool of held-out descriptions.
lyrics->audio  one lyrics text per held-out work with lyrics queries the corpus.
triplets       label triplets among held-out tracks (+ a Dim-sim CSV), per dimension and overall,
               and per sub-space for models that have them.
MS-SSIM        Spearman correlation between spectrogram MS-SSIM and embedding cosine over triplet pairs.
zero-shot      era / instrument family / mode through the text tower.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core import layout
from sapphire_core.data import Corpus, Track
from sapphire_core.evaluation import metrics as M
from sapphire_core.evaluation.text_queries import load_text_queries, precision_at_k, relevance_matrix
from sapphire_core.evaluation.triplets import (Triplet, label_triplets, read_dimsim_csv, score_agreement,
                                               triplet_agreement)


@dataclass
class System:
    """One row of the table: how it embeds tracks, queries and texts, and what it is."""

    name: str
    what: str
    tracks: dict[str, np.ndarray]
    audio_queries: Callable[[list[Path]], np.ndarray] | None = None
    texts: Callable[[list[str]], np.ndarray] | None = None
    lyrics: Callable[[str], np.ndarray | None] | None = None
    subspaces: dict[str, slice] = field(default_factory=dict)
    only: tuple[str, ...] = ()  # when set, the only tasks this row answers


# ---------------------------------------------------------------- systems


def baseline_system(base, corpus: Corpus, *, name: str, what: str, on_progress=None) -> System:
    """A row of a training-free :class:`~sapphire_core.evaluation.baselines.Baseline` (fit on the corpus)."""
    raw = {}
    for t in corpus.tracks:
        try:
            raw[t.id] = base.raw(t.audio)
        except Exception:  # noqa: BLE001 - an undecodable file is left out, like a failed embedding
            pass
        if on_progress:
            on_progress(1)
    ids = list(raw)
    base.fit(np.stack([raw[i] for i in ids]))
    vecs = dict(zip(ids, base.transform(np.stack([raw[i] for i in ids]))))
    return System(name, what, vecs, audio_queries=lambda paths: base.transform(np.stack([base.raw(p) for p in paths])))


def baseline_systems(corpus: Corpus, cache_dir: Path | None) -> list[System]:
    """The three baselines of every evaluation: chroma 2D-FTM (versions), MFCC statistics (timbre), random."""
    from sapphire_core.evaluation.baselines import chroma_baseline, mfcc_baseline, random_baseline

    return [
        baseline_system(chroma_baseline(cache_dir), corpus, name="Chroma 2D-FTM",
                        what="baseline: CENS chroma, median 2D-FFT magnitude of ~6 s patches (Bertin-Mahieux & Ellis "
                             "2012), cosine; key- and shift-invariant, no training"),
        baseline_system(mfcc_baseline(cache_dir), corpus, name="MFCC stats",
                        what="baseline: mean + covariance of 20 MFCCs, z-scored (no training)"),
        baseline_system(random_baseline(), corpus, name="Random", what="baseline: a random vector per track (chance)"),
    ]


class _ModelQueries:
    """Embeds query audio files once per model and serves fused and per-modality rows."""

    def __init__(self, model, cache, device):
        self.model, self.cache, self.device = model, cache, device
        self.memo: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def get(self, paths: list[Path], modality: str | None) -> np.ndarray:
        from sapphire_core.embedding import embed_tracks

        todo = [p for p in paths if str(p) not in self.memo]
        if todo:
            emb = embed_tracks(self.model, [Track(id=str(p), audio=Path(p)) for p in todo], self.cache,
                               device=self.device)
            for i, tid in enumerate(emb.ids):
                # an absent modality (no lyrics in an excerpt) gives zeros, which the tasks leave out
                self.memo[tid] = (emb.fused[i], {m: v[i] * float(emb.present[m][i])
                                                 for m, v in emb.per_modality.items()})
        dim = self.model.embedding_dim if modality is None else self.model.encoders[modality].output_dim
        out = []
        for p in paths:
            got = self.memo.get(str(p))
            out.append(np.zeros(dim, np.float32) if got is None else (got[0] if modality is None else got[1][modality]))
        return np.stack(out)


def model_systems(ckpt: Path, corpus: Corpus, cache, *, label: str, registry=None, device: str = "cpu",
                  per_modality: bool = True) -> tuple[list[System], dict]:
    """The fused row and (optionally) one row per modality encoder of one checkpoint."""
    import torch

    from sapphire_core.embedding import embed_tracks
    from sapphire_core.model import build_extractors, load_model
    from sapphire_core.retrieval.query import lyrics_query_vector

    model, meta = load_model(ckpt, registry)
    if registry is not None:
        model.registry = registry
    emb = embed_tracks(model, corpus.tracks, cache, device=device)
    queries = _ModelQueries(model, cache, device)
    extractors = build_extractors(model.cfg, registry or _default_registry())

    def texts(batch: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([model.embed_text(batch[i:i + 64]).float().cpu().numpy()
                                   for i in range(0, len(batch), 64)])

    def lyrics_fused(text: str):
        v = lyrics_query_vector(model, extractors, text, device=device)
        if v is None and model.text_tower is not None:
            return texts([text])[0]
        return v

    mods = list(model.encoders)
    fused = System(f"{label} fused", f"{label}: fused {'+'.join(mods)} ({model.fusion.name})",
                   dict(zip(emb.ids, emb.fused)), audio_queries=lambda p: queries.get(p, None),
                   texts=texts if model.text_tower is not None else None, lyrics=lyrics_fused,
                   subspaces=dict(model.subspaces))
    out = [fused]
    if per_modality and len(mods) > 1:
        for m in mods:
            vecs = {tid: emb.per_modality[m][i] * float(emb.present[m][i]) for i, tid in enumerate(emb.ids)}
            lyr = (lambda text: lyrics_query_vector(model, extractors, text, device=device, raw=True)) \
                if m == "lyrics" else None
            out.append(System(f"{label} {m} only", f"{label}: the {m} encoder's own embedding (same checkpoint, "
                              "no fusion)", vecs, audio_queries=lambda p, _m=m: queries.get(p, _m), lyrics=lyr))
    info = {"checkpoint": str(ckpt), "failures": emb.failures, "train_ids": meta.get("train_ids") or [],
            "val_ids": meta.get("val_ids"), "epoch": meta.get("epoch")}
    return out, info


def _default_registry():
    from sapphire_core.plugins import default_registry

    return default_registry()


# ---------------------------------------------------------------- tasks


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class EvalData:
    """Everything every system is measured on (built once per run)."""

    corpus: Corpus
    eval_ids: list[str]
    excerpts: list[dict]
    hums: list[dict]
    descriptions: dict[str, list[str]]
    lyrics_queries: list[tuple[str, str]]  # (work_id, lyrics)
    triplets: list[Triplet]
    pairs: list[tuple[str, str]]
    msssim: np.ndarray | None = None
    #: Audio queries of held-out works by ``queries.jsonl`` kind (``hum``, ...), for plugin query modes.
    mode_queries: dict[str, list[dict]] = field(default_factory=dict)
    #: Degraded excerpts whose one relevant track is their source (kind ``copy``).
    copies: list[dict] = field(default_factory=list)
    #: Hand-written text queries, relevance from metadata (:mod:`sapphire_core.evaluation.text_queries`).
    text_queries: list = field(default_factory=list)

    @classmethod
    def build(cls, corpus: Corpus, eval_ids: list[str], *, triplets_csv: Path | None = None,
              per_dimension: int = 150, seed: int = 0, msssim_pairs: int = 150) -> EvalData:
        root = corpus.root
        eval_set = set(eval_ids)
        eval_works = {corpus[i].work_id for i in eval_ids}
        queries = _read_jsonl(root / "queries.jsonl")
        excerpts = [q for q in queries if q.get("kind") == "excerpt" and q.get("source_track") in eval_set
                    and (root / q["audio"]).is_file()]
        copies = [q for q in queries if q.get("kind") == "copy" and q.get("source_track") in eval_set
                  and (root / q["audio"]).is_file()]
        mode_queries: dict[str, list[dict]] = {}
        for q in queries:
            if q.get("kind") not in (None, "excerpt", "copy") and q.get("work_id") in eval_works and q.get("audio") \
                    and (root / q["audio"]).is_file():
                mode_queries.setdefault(q["kind"], []).append(q)
        hums = mode_queries.get("hum", [])
        desc = {d["id"]: list(d.get("descriptions", [])) for d in _read_jsonl(root / "descriptions.jsonl")
                if d.get("id") in eval_set}
        lyr: dict[str, str] = {}
        for i in eval_ids:
            t = corpus[i]
            if t.lyrics and t.work_id not in lyr:
                lyr[t.work_id] = t.lyrics
        relations = {r["work_id"]: r.get("labels", {}) for r in _read_jsonl(root / "relations.jsonl")}
        tracks = [corpus[i] for i in eval_ids]
        trips = label_triplets(tracks, per_dimension=per_dimension, seed=seed, relations=relations)
        if triplets_csv is not None:
            trips += read_dimsim_csv(triplets_csv)
        rng = np.random.default_rng(seed)
        pairs = sorted({(t.anchor, x) for t in trips if t.dimension != "dimsim" for x in (t.positive, t.negative)})
        if len(pairs) > msssim_pairs:
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), msssim_pairs, replace=False))]
        return cls(corpus, list(eval_ids), excerpts, hums, desc, sorted(lyr.items()), trips, pairs,
                   mode_queries=mode_queries, copies=copies, text_queries=load_text_queries())

    def compute_msssim(self) -> None:
        from sapphire_core.evaluation.perceptual import logmel_image, ms_ssim_pairs

        ids = sorted({i for p in self.pairs for i in p})
        images = {}
        for i in ids:
            try:
                images[i] = logmel_image(self.corpus[i].audio)
            except Exception:  # noqa: BLE001 - a broken file just drops its pairs
                pass
        self.pairs = [p for p in self.pairs if p[0] in images and p[1] in images]
        self.msssim = ms_ssim_pairs(images, self.pairs)


def _gallery(system: System, corpus: Corpus) -> tuple[list[str], np.ndarray]:
    ids = [t.id for t in corpus.tracks if t.id in system.tracks]
    return ids, np.stack([system.tracks[i] for i in ids]) if ids else np.zeros((0, 1))


def _hand_written_text(system: System, data: EvalData) -> dict[str, Any]:
    """``query->audio``: the hand-written queries over the evaluation tracks, beside chance."""
    q_ids = [i for i in data.eval_ids if i in system.tracks]
    rel = relevance_matrix(data.text_queries, [data.corpus[i].metadata for i in q_ids])
    keep = rel.any(axis=1) if q_ids else np.zeros(len(data.text_queries), bool)
    if not keep.any():
        return {}
    T = system.texts([q.text for q, k in zip(data.text_queries, keep) if k])
    scores, rel = M.cosine_matrix(T, np.stack([system.tracks[i] for i in q_ids])), rel[keep]
    m = M.retrieval_metrics(scores, rel)
    return {"query->audio": {"P@10": float(precision_at_k(scores, rel, 10).mean()), "top10": m["top10"],
                             "MRR": m["MRR"], "chance P@10": float(rel.mean()), "queries": int(keep.sum())}}


def evaluate_system(system: System, data: EvalData) -> dict[str, Any]:
    """All tasks for one system; a task the system cannot answer is absent from the result."""
    corpus = data.corpus
    ids, G = _gallery(system, corpus)
    work = np.array([corpus[i].work_id for i in ids])
    res: dict[str, Any] = {"name": system.name, "what": system.what}
    wants = (lambda task: not system.only or task in system.only)
    if not ids:
        return res

    if wants("audio->audio"):
        q_ids = [i for i in data.eval_ids if i in system.tracks]
        if q_ids:
            Q = np.stack([system.tracks[i] for i in q_ids])
            qw = np.array([corpus[i].work_id for i in q_ids])
            valid = np.array([[g != q for g in ids] for q in q_ids])
            res["audio->audio"] = M.retrieval_metrics(M.cosine_matrix(Q, G), qw[:, None] == work[None, :], valid=valid)

    root = corpus.root
    for task, queries in (("excerpt->audio", data.excerpts), ("hum->audio", data.hums), ("copy->audio", data.copies)):
        if queries and system.audio_queries is not None and wants(task):
            Q = system.audio_queries([root / q["audio"] for q in queries])
            # A query the system cannot embed (e.g. the lyrics encoder on an excerpt without lyrics)
            # comes back as zeros: leave it out rather than rank by ties.
            ok = np.linalg.norm(Q, axis=1) > 1e-9
            if ok.any():
                kept = [q for q, good in zip(queries, ok) if good]
                relevant, valid = _relevance(task, kept, ids, work)
                res.update(_task_metrics(task, M.cosine_matrix(Q[ok], G), relevant, valid, kept))

    if system.texts is not None and data.descriptions and wants("text->audio"):
        d_ids = [i for i in data.descriptions if i in system.tracks]
        pool = sorted({d for i in d_ids for d in data.descriptions[i]})
        if pool:
            T = system.texts(pool)
            A = np.stack([system.tracks[i] for i in d_ids])
            rel = np.array([[p in data.descriptions[i] for i in d_ids] for p in pool])
            res["text->audio"] = M.retrieval_metrics(M.cosine_matrix(T, A), rel)
            res["audio->text"] = M.retrieval_metrics(M.cosine_matrix(A, T), rel.T)

    if system.texts is not None and data.text_queries and wants("query->audio"):
        res.update(_hand_written_text(system, data))

    if system.lyrics is not None and data.lyrics_queries and wants("lyrics->audio"):
        vecs, works = [], []
        for w, text in data.lyrics_queries:
            v = system.lyrics(text)
            if v is not None:
                vecs.append(v)
                works.append(w)
        if vecs:
            res["lyrics->audio"] = M.retrieval_metrics(M.cosine_matrix(np.stack(vecs), G),
                                                       np.array(works)[:, None] == work[None, :])

    if data.triplets and wants("triplets"):
        res["triplets"] = triplet_agreement(system.tracks, data.triplets)
        if system.subspaces:
            res["subspace_triplets"] = {s: triplet_agreement(system.tracks, data.triplets, subspace=sl)
                                        for s, sl in system.subspaces.items()}

    if data.msssim is not None and len(data.pairs) >= 3 and wants("msssim"):
        from sapphire_core.evaluation.perceptual import spearman

        keep = [k for k, (a, b) in enumerate(data.pairs) if a in system.tracks and b in system.tracks]
        sims = [float(M.cosine_matrix(system.tracks[data.pairs[k][0]][None], system.tracks[data.pairs[k][1]][None])[0, 0])
                for k in keep]
        res["msssim_spearman"] = spearman(data.msssim[keep], np.array(sims))

    if system.texts is not None and wants("zero-shot"):
        from sapphire_core.evaluation.zeroshot import zero_shot

        zs = {}
        q_ids = [i for i in data.eval_ids if i in system.tracks]
        for dim in ("era", "instrument_family", "mode"):
            labels = [corpus[i].metadata.get(dim) for i in q_ids]
            keep = [k for k, lab in enumerate(labels) if lab is not None]
            if len(keep) >= 4:
                zs[dim] = zero_shot(np.stack([system.tracks[q_ids[k]] for k in keep]),
                                    [str(labels[k]) for k in keep], system.texts, dimension=dim)
        if zs:
            res["zero-shot"] = zs
    return res


def _relevance(task: str, queries: list[dict], ids: list[str], work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(relevant, valid)`` masks ``(Q, N)`` over the gallery ``ids``: a copy's one relevant track is its
    source; otherwise relevant = same work, and the query's own source track is left out."""
    if task == "copy->audio":
        relevant = np.array([[g == q["source_track"] for g in ids] for q in queries])
        return relevant, np.ones_like(relevant)
    qw = np.array([q["work_id"] for q in queries])
    valid = np.array([[g != q.get("source_track") for g in ids] for q in queries])
    return qw[:, None] == work[None, :], valid


#: Query fields that split a task's figures: excerpts by nominal length, copies by degradation.
_BREAKDOWNS = {"excerpt->audio": ("seconds", lambda v: f"excerpt {v:g}s->audio"),
               "copy->audio": ("degradation", lambda v: f"copy {v}->audio")}


def _task_metrics(task: str, scores: np.ndarray, relevant: np.ndarray, valid: np.ndarray,
                  queries: list[dict]) -> dict[str, Any]:
    """``{task: metrics}``, plus one entry per value of the task's breakdown field when queries have
    it (``"excerpt 10s->audio"``, ``"copy mp3->audio"``)."""
    out = {task: M.retrieval_metrics(scores, relevant, valid=valid)}
    if task in _BREAKDOWNS:
        key, label = _BREAKDOWNS[task]
        for value in sorted({q[key] for q in queries if q.get(key) is not None}, key=str):
            rows = np.array([q.get(key) == value for q in queries])
            out[label(value)] = M.retrieval_metrics(scores[rows], relevant[rows], valid=valid[rows])
    return out


def _mode_tasks(name: str, mode, data: EvalData) -> dict[str, list[dict]]:
    """``{task: queries}`` a plugin audio mode answers: its own ``queries.jsonl`` kind and the core tasks
    it declares, each query ``{"audio": path, "work_id", "source_track" (excluded from the ranking)}``."""
    corpus, root = data.corpus, data.corpus.root
    tasks = {f"{name}->audio": [dict(q, audio=root / q["audio"]) for q in data.mode_queries.get(name, [])]}
    if "audio->audio" in mode.evaluates:
        tasks["audio->audio"] = [{"audio": corpus[i].audio, "work_id": corpus[i].work_id, "source_track": i}
                                 for i in data.eval_ids]
    if "excerpt->audio" in mode.evaluates:
        tasks["excerpt->audio"] = [dict(q, audio=root / q["audio"]) for q in data.excerpts]
    if "copy->audio" in mode.evaluates:
        tasks["copy->audio"] = [dict(q, audio=root / q["audio"]) for q in data.copies]
    return {t: qs for t, qs in tasks.items() if qs}


class ModeScores:
    """Each plugin mode's index extra (built once into ``extras_root/extras/<name>``) and its score matrices
    ``(queries, corpus tracks)`` per task (``-inf`` where it gave no score), computed once and shared by
    the mode's own row and the rows it refines."""

    def __init__(self, data: EvalData, registry, extras_root: Path) -> None:
        self.data, self.registry, self.extras_root = data, registry, extras_root
        self.ids = [t.id for t in data.corpus.tracks]
        self._index: dict[str, Any] = {}
        self._scores: dict[tuple[str, str], np.ndarray] = {}

    def index(self, mode) -> Any:
        if mode.extra not in self._index:
            extra = self.registry.get("index_extra", mode.extra)()
            folder = layout.extra_dir(self.extras_root, extra.name)
            extra.build(self.data.corpus.tracks, folder)
            self._index[mode.extra] = extra.load(folder)
        return self._index[mode.extra]

    def scores(self, mode, task: str, queries: list[dict]) -> np.ndarray:
        key = (mode.name, task)
        if key not in self._scores:
            pos = {i: k for k, i in enumerate(self.ids)}
            out = np.full((len(queries), len(self.ids)), -np.inf)
            index = self.index(mode)
            for r, q in enumerate(queries):
                for tid, s in mode.rank(q["audio"], index, k=len(self.ids)):
                    if tid in pos:
                        out[r, pos[tid]] = s
            self._scores[key] = out
        return self._scores[key]


def refined_rows(system: System, data: EvalData, modes: ModeScores) -> list[dict[str, Any]]:
    """One row per installed mode that refines audio queries (:attr:`~sapphire_core.query_mode.QueryMode.refines`)
    for a model's fused ``system``: what ``SearchEngine.search(audio=...)`` ranks by, the model's cosine lifted
    by :func:`~sapphire_core.retrieval.ranking.refine` of the mode's scores, on the audio tasks the mode
    answers and on label triplets (through the mode's pair scores)."""
    from sapphire_core.retrieval.ranking import refine

    rows = []
    ids = modes.ids
    work = np.array([t.work_id for t in data.corpus.tracks])
    if any(i not in system.tracks for i in ids):
        return rows
    G = np.stack([system.tracks[i] for i in ids])
    for name in modes.registry.names("query_mode"):
        mode = modes.registry.get("query_mode", name)()
        if "audio" not in mode.refines or mode.input != "audio":
            continue

        def lift(base, raw, mode=mode):  # -inf (not ranked by the mode) gains nothing, as in the engine
            return refine(base, raw, threshold=mode.refine_threshold, weight=mode.refine_weight)

        row: dict[str, Any] = {"name": f"{system.name} + {name} refinement",
                               "what": f"{system.what}; refined by the {name} mode (the default audio search)"}
        for task, queries in _mode_tasks(name, mode, data).items():
            if task == "audio->audio":
                Q = np.stack([system.tracks[q["source_track"]] for q in queries])
            elif system.audio_queries is not None and task in ("excerpt->audio", "copy->audio"):
                Q = system.audio_queries([q["audio"] for q in queries])
            else:
                continue
            scores = lift(M.cosine_matrix(Q, G), modes.scores(mode, task, queries))
            relevant, valid = _relevance(task, queries, ids, work)
            row.update(_task_metrics(task, scores, relevant, valid, queries))
        if data.triplets:
            pairs = sorted({(t.anchor, x) for t in data.triplets for x in (t.positive, t.negative)})
            raw = mode.pair_scores(modes.index(mode), pairs)
            if raw is not None:
                unit = G / np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-12)
                row_of = {t: k for k, t in enumerate(ids)}
                cos = np.einsum("ij,ij->i", unit[[row_of[a] for a, _ in pairs]], unit[[row_of[b] for _, b in pairs]])
                pair = dict(zip(pairs, lift(cos, np.asarray(raw, np.float64))))
                row["triplets"] = score_agreement(lambda a, b: pair.get((a, b)), data.triplets)
        if len(row) > 2:
            rows.append(row)
    return rows


def query_mode_rows(data: EvalData, registry, extras_root: Path,
                    modes: ModeScores | None = None) -> list[dict[str, Any]]:
    """One row per installed plugin query mode that takes audio (e.g. the vocal plugin's ``hum``): its
    ``queries.jsonl`` queries of the same kind, and the core tasks it declares it answers
    (:attr:`~sapphire_core.query_mode.QueryMode.evaluates`), ranked by the mode against the whole corpus.

    Each mode's index extra is built into ``extras_root/extras/<name>`` (reusing what is there); ``modes``
    shares the extras and score matrices with :func:`refined_rows`.
    """
    rows = []
    modes = modes or ModeScores(data, registry, extras_root)
    ids = modes.ids
    work = np.array([t.work_id for t in data.corpus.tracks])
    for name in registry.names("query_mode"):
        mode = registry.get("query_mode", name)()
        if mode.input != "audio":
            continue
        tasks = _mode_tasks(name, mode, data)
        if not tasks and not data.triplets:
            continue
        index = modes.index(mode)
        row: dict[str, Any] = {"name": mode.title or f"{name} ({registry.entry('query_mode', name).provider})",
                               "what": mode.description}
        row.update(_mode_triplets(mode, index, data.triplets))
        if len(row) == 2 and not tasks:
            continue
        for task, queries in tasks.items():
            relevant, valid = _relevance(task, queries, ids, work)
            row.update(_task_metrics(task, modes.scores(mode, task, queries), relevant, valid, queries))
        rows.append(row)
    return rows


def _mode_triplets(mode, index, triplets: list[Triplet]) -> dict[str, Any]:
    """``{"triplets": ...}`` of a query mode that scores indexed tracks against each other
    (:meth:`~sapphire_core.query_mode.QueryMode.pair_scores`), with ``"subspace_triplets"`` for a vector
    mode's named sub-spaces; ``{}`` for a mode that cannot."""
    from sapphire_core.query_mode import VectorQueryMode

    pairs = sorted({(t.anchor, x) for t in triplets for x in (t.positive, t.negative)})
    got = mode.pair_scores(index, pairs) if pairs else None
    if got is None:
        return {}
    scores = {p: float(v) for p, v in zip(pairs, got) if np.isfinite(v)}
    out: dict[str, Any] = {"triplets": score_agreement(lambda a, b: scores.get((a, b)), triplets)}
    if isinstance(mode, VectorQueryMode):
        ids, X = mode.track_vectors(index)
        vectors = dict(zip(ids, X))
        out["subspace_triplets"] = {s: triplet_agreement(vectors, triplets, subspace=sl)
                                    for s, sl in mode.subspaces(index).items()}
    return out
