"""``sapphire finetune``: refine the fusion head from listener judgements, keeping it only if it generalises.

Only the fusion head (the layers that mix the modality embeddings into the shared space) and, for
A/B judgements of text queries, the text projection are trained; the encoders and the text tower
stay frozen, so each judged track's per-modality embeddings are computed once (from the index
folder, or from the corpus through the shared embedding path).

Objective, over the training part of the judgements:

- triplet margin loss on listener triplets "P sounds more like A than N" (Schroff et al. 2015,
  FaceNet, eq. 1, with cosine distance ``d = 1 - cos``): ``max(0, d(A, P) - d(A, N) + margin)``;
- a Bradley-Terry preference term over A/B choices (Bradley & Terry 1952; used for learning from
  human preferences by Christiano et al. 2017, eq. 1): the probability that list W beats list L
  for query Q is ``sigmoid((s(Q, W) - s(Q, L)) / T)`` with ``s`` the mean cosine similarity of the
  list's tracks to the query track; the loss is its negative log-likelihood.

A deterministic part of the judgements (hashed row ids) is held out. The new checkpoint is
written only if held-out agreement (the share of held-out judgements the model orders as the
listener did) does not drop; its meta records the lineage: parent checkpoint sha256 and the
feedback rows used.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.feedback.store import FeedbackError, FeedbackStore


@dataclass
class FinetuneResult:
    """What a fine-tuning run did.

    Attributes
    ----------
    saved : bool
        Whether ``checkpoint`` was written (held-out agreement did not drop).
    checkpoint : Path or None
    before, after : dict
        Held-out agreement ``{"triplet", "ab", "combined"}`` of the parent and the fine-tuned head
        (``None`` where there is no held-out judgement of that kind).
    train_before, train_after : dict
        The same on the training judgements.
    counts : dict
        Rows used for training and held out, and rows skipped (unknown tracks, text queries, ties).
    losses : list of float
        Training loss per step.
    """

    saved: bool
    checkpoint: Path | None
    before: dict[str, float | None]
    after: dict[str, float | None]
    train_before: dict[str, float | None]
    train_after: dict[str, float | None]
    counts: dict[str, int]
    losses: list[float] = field(default_factory=list)

    def summary(self) -> str:
        def f(x):
            return "n/a" if x is None else f"{x:.3f}"

        verdict = f"saved {self.checkpoint}" if self.saved else "not saved (held-out agreement dropped)"
        return (f"held-out agreement: triplets {f(self.before['triplet'])} -> {f(self.after['triplet'])}, "
                f"A/B {f(self.before['ab'])} -> {f(self.after['ab'])}, combined {f(self.before['combined'])} -> "
                f"{f(self.after['combined'])}; {verdict}")


def is_heldout(kind: str, row_id: int, *, fraction: float, seed: int) -> bool:
    """Whether judgement ``row_id`` of table ``kind`` is held out: a stable hash, so the split
    never changes as more judgements arrive (a row once held out stays held out)."""
    digest = hashlib.sha256(f"{seed}:{kind}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


# ---------------------------------------------------------------- judgements as index arrays


@dataclass
class _Judgements:
    triplets: np.ndarray  # (T, 3) rows of [anchor, positive, negative] indices
    triplet_ids: list[int]
    ab_query: np.ndarray  # (A,) query index
    ab_win: list[list[int]]  # winner list indices per row
    ab_lose: list[list[int]]
    ab_ids: list[int]

    def subset(self, keep_t: np.ndarray, keep_a: np.ndarray) -> _Judgements:
        return _Judgements(self.triplets[keep_t], [i for i, k in zip(self.triplet_ids, keep_t) if k],
                           self.ab_query[keep_a], [w for w, k in zip(self.ab_win, keep_a) if k],
                           [lo for lo, k in zip(self.ab_lose, keep_a) if k], [i for i, k in zip(self.ab_ids, keep_a) if k])


def _collect(triplet_rows: list[dict], ab_rows: list[dict], known: set[str] | None, *, texts_ok: bool = False
             ) -> tuple[list[str], list[str], _Judgements, dict[str, int]]:
    """Turn store rows into index arrays over the judged tracks; count what is skipped and why.

    Returns ``(track ids, query texts, judgements, skipped)``. A/B query indices address the
    rows of ``[track vectors; text-query vectors]``: text query ``j`` is row ``len(track ids) + j``.
    """
    skipped = {"unknown_track": 0, "text_query": 0, "other_query": 0, "tie": 0}
    texts: dict[str, int] = {}
    ids: dict[str, int] = {}

    def idx(t: str) -> int:
        return ids.setdefault(t, len(ids))

    trip, trip_ids = [], []
    for r in triplet_rows:
        tracks = (r["anchor"], r["positive"], r["negative"])
        if known is not None and not all(t in known for t in tracks):
            skipped["unknown_track"] += 1
            continue
        trip.append([idx(t) for t in tracks])
        trip_ids.append(int(r["id"]))
    q, win, lose, ab_ids = [], [], [], []
    for r in ab_rows:
        if r["query_kind"] == "text" and not texts_ok:
            skipped["text_query"] += 1  # the model has no text tower to place the query with
            continue
        if r["query_kind"] not in ("track", "text"):
            skipped["other_query"] += 1  # lyrics queries go through other encoders; not tuned here
            continue
        if r["winner"] == "tie":
            skipped["tie"] += 1
            continue
        w_ids, l_ids = (r["left_ids"], r["right_ids"]) if r["winner"] == r["left_model"] else \
            (r["right_ids"], r["left_ids"])
        tracks = [*w_ids, *l_ids] + ([r["query"]] if r["query_kind"] == "track" else [])
        if not w_ids or not l_ids or (known is not None and not all(t in known for t in tracks)):
            skipped["unknown_track"] += 1
            continue
        q.append(idx(r["query"]) if r["query_kind"] == "track" else ("text", texts.setdefault(r["query"], len(texts))))
        win.append([idx(t) for t in w_ids])
        lose.append([idx(t) for t in l_ids])
        ab_ids.append(int(r["id"]))
    q = [len(ids) + x[1] if isinstance(x, tuple) else x for x in q]
    judg = _Judgements(np.asarray(trip, dtype=np.int64).reshape(-1, 3), trip_ids, np.asarray(q, dtype=np.int64),
                       win, lose, ab_ids)
    return list(ids), list(texts), judg, skipped


# ---------------------------------------------------------------- agreement (pure)


def triplet_agreement(vectors: np.ndarray, triplets: np.ndarray) -> float | None:
    """Share of triplets ``[a, p, n]`` (row indices of ``vectors``) with ``cos(a, p) > cos(a, n)``."""
    if len(triplets) == 0:
        return None
    v = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    a, p, n = v[triplets[:, 0]], v[triplets[:, 1]], v[triplets[:, 2]]
    return float(np.mean((a * p).sum(1) > (a * n).sum(1)))


def ab_agreement(vectors: np.ndarray, query: np.ndarray, win: list[list[int]], lose: list[list[int]]) -> float | None:
    """Share of A/B choices where the preferred list has the higher mean cosine to the query."""
    if len(query) == 0:
        return None
    v = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    ok = [float(np.mean(v[w] @ v[q])) > float(np.mean(v[lo] @ v[q])) for q, w, lo in zip(query, win, lose)]
    return float(np.mean(ok))


def _agreement(vectors: np.ndarray, j: _Judgements) -> dict[str, float | None]:
    t = triplet_agreement(vectors, j.triplets)
    a = ab_agreement(vectors, j.ab_query, j.ab_win, j.ab_lose)
    n_t, n_a = len(j.triplets), len(j.ab_query)
    combined = None if n_t + n_a == 0 else ((t or 0.0) * n_t + (a or 0.0) * n_a) / (n_t + n_a)
    return {"triplet": t, "ab": a, "combined": combined}


# ---------------------------------------------------------------- embeddings of the judged tracks


def _modality_inputs(model, track_ids: list[str], *, index: Path | None, corpus: Path | None,
                     cache_dir: Path | None, parent_sha: str, device: str = "cpu") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                                     list[str]]:
    """Per-modality encoder embeddings and presence of ``track_ids`` (those found), from an index
    built with the same checkpoint or by embedding the corpus tracks."""
    if index is not None:
        from sapphire_core.index.folder import IndexFolder

        folder = IndexFolder.open(index)
        if folder.manifest.get("model_sha256") != parent_sha:
            raise FeedbackError(f"{index}: the index was built with another checkpoint (sha256 "
                                f"{str(folder.manifest.get('model_sha256'))[:12]}, the model is {parent_sha[:12]}); "
                                "rebuild it with 'sapphire index --model CKPT' or pass --corpus")
        if not folder.modality_embeddings:
            raise FeedbackError(f"{index}: the index stores no per-modality embeddings; pass --corpus instead")
        found = [t for t in track_ids if t in folder.order]
        rows = [folder.order[t] for t in found]
        emb = {m: np.asarray(v[rows], dtype=np.float32) for m, v in folder.modality_embeddings.items()}
        present = {m: np.asarray(folder.modality_present.get(m, np.ones(len(v), bool))[rows], dtype=bool)
                   for m, v in folder.modality_embeddings.items()}
        return emb, present, found
    if corpus is None:
        raise FeedbackError("finetune needs the judged tracks' features: pass --index INDEX (built with this "
                            "checkpoint) or --corpus DIR")
    from sapphire_core.cache import FeatureCache
    from sapphire_core import layout
    from sapphire_core.data import Corpus
    from sapphire_core.embedding import embed_tracks

    data = Corpus(corpus)
    wanted = set(track_ids)
    tracks = [t for t in data.tracks if t.id in wanted]
    cache = FeatureCache(cache_dir or layout.cache_dir(corpus))
    out = embed_tracks(model, tracks, cache, device=device)
    return dict(out.per_modality), dict(out.present), list(out.ids)


# ---------------------------------------------------------------- the run


def finetune(model_path: str | Path, feedback_db: str | Path, out_path: str | Path, *, index: str | Path | None = None,
             corpus: str | Path | None = None, cache_dir: str | Path | None = None, registry=None,
             heldout_fraction: float = 0.25, seed: int = 0, steps: int = 300, lr: float = 3e-3,
             margin: float = 0.2, bt_weight: float = 1.0, bt_temperature: float = 0.1, weight_decay: float = 1e-4,
             require_no_drop: bool = True, device: str = "cpu") -> FinetuneResult:
    """Fine-tune a checkpoint's fusion head on the judgements in a feedback database.

    Parameters
    ----------
    model_path : path
        The parent checkpoint.
    feedback_db : path
        The SQLite store the web app wrote.
    out_path : path
        Where the new checkpoint goes (only if held-out agreement does not drop).
    index, corpus : path, optional
        Source of the judged tracks' per-modality embeddings: an index folder built with this
        checkpoint (fast), or the corpus (features from its cache).
    cache_dir : path, optional
        Feature cache of ``corpus`` [default ``CORPUS/.sapphire/cache``].
    registry : Registry, optional
        Component registry [default: the installed plugins].
    heldout_fraction : float
        Share of judgements held out (by a stable hash of the row id, see :func:`is_heldout`).
    seed : int
        Seeds the split and the optimiser.
    steps, lr, weight_decay : int, float, float
        Full-batch AdamW steps over the judged tracks.
    margin : float
        Triplet margin in cosine distance.
    bt_weight, bt_temperature : float
        Weight and score temperature of the Bradley-Terry term.
    require_no_drop : bool
        Save only when held-out combined agreement is at least the parent's.
    device : str
        Torch device of the run (the checkpoint is always saved from CPU tensors).

    Returns
    -------
    FinetuneResult

    Raises
    ------
    FeedbackError
        When there are no usable judgements, none is held out or none is left to train on.
    CheckpointError
        When the parent checkpoint cannot be read.
    """
    import torch
    import torch.nn.functional as F

    from sapphire_core.checkpoint import save_checkpoint
    from sapphire_core.io import file_sha256
    from sapphire_core.model import load_model
    from sapphire_core.plugins import default_registry

    if not 0.0 < heldout_fraction < 1.0:
        raise FeedbackError(f"heldout_fraction must lie strictly between 0 and 1, got {heldout_fraction}")
    registry = registry or default_registry()
    model_path, out_path = Path(model_path), Path(out_path)
    model, parent_meta = load_model(model_path, registry)
    model.registry = registry  # embed_tracks reads the registry from the model
    model.to(device)
    parent_sha = file_sha256(model_path)
    if not Path(feedback_db).is_file():
        raise FeedbackError(f"{feedback_db}: feedback database not found; serve the app with --db to collect one")
    with FeedbackStore(feedback_db) as store:
        triplet_rows, ab_rows = store.rows("triplets"), store.rows("ab")

    texts_ok = model.text_tower is not None and model.text_projection is not None
    names, _, _, _ = _collect(triplet_rows, ab_rows, None, texts_ok=texts_ok)
    emb, present, found = _modality_inputs(model, names, index=Path(index) if index else None,
                                           corpus=Path(corpus) if corpus else None,
                                           cache_dir=Path(cache_dir) if cache_dir else None, parent_sha=parent_sha,
                                           device=device)
    names, texts, judg, skipped = _collect(triplet_rows, ab_rows, set(found), texts_ok=texts_ok)
    if len(judg.triplets) + len(judg.ab_query) == 0:
        raise FeedbackError(f"{feedback_db}: no usable judgements (skipped: {skipped}); collect triplet or A/B "
                            "judgements on track queries first")
    pos = {t: i for i, t in enumerate(found)}
    order = [pos[t] for t in names]
    E = {m: torch.as_tensor(v[order], dtype=torch.float32, device=device) for m, v in emb.items()}
    P = {m: torch.as_tensor(v[order], dtype=torch.bool, device=device) for m, v in present.items()}

    held_t = np.array([is_heldout("triplets", i, fraction=heldout_fraction, seed=seed) for i in judg.triplet_ids],
                      dtype=bool)
    held_a = np.array([is_heldout("ab", i, fraction=heldout_fraction, seed=seed) for i in judg.ab_ids], dtype=bool)
    train, held = judg.subset(~held_t, ~held_a), judg.subset(held_t, held_a)
    if len(held.triplets) + len(held.ab_query) == 0:
        raise FeedbackError(f"none of the {len(judg.triplets) + len(judg.ab_query)} judgements fell in the held-out "
                            f"part ({heldout_fraction:.0%}); collect more judgements or raise --heldout")
    if len(train.triplets) + len(train.ab_query) == 0:
        raise FeedbackError("every judgement fell in the held-out part; collect more or lower --heldout")

    fusion = model.fusion
    tower_out = None
    if texts:  # the text tower stays frozen: encode the query texts once
        with torch.no_grad():
            model.text_tower.eval()
            tower_out = model.text_tower.encode_text(texts).float()

    def embed(training: bool) -> torch.Tensor:
        """Rows: the judged tracks, then the text queries (through the text projection)."""
        fusion.train(training)
        z = F.normalize(fusion(E, P).embedding, dim=-1)
        if tower_out is None:
            return z
        return torch.cat([z, F.normalize(model.text_projection(tower_out), dim=-1)])

    with torch.no_grad():
        start = embed(False).cpu().numpy()
    before, train_before = _agreement(start, held), _agreement(start, train)

    torch.manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(fusion.parameters()) + (list(model.text_projection.parameters()) if texts else [])
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    trip = torch.as_tensor(train.triplets, device=device)
    losses: list[float] = []
    for _ in range(steps):
        z = embed(True)
        loss = z.new_zeros(())
        if len(trip):
            a, p_, n = z[trip[:, 0]], z[trip[:, 1]], z[trip[:, 2]]
            d_ap, d_an = 1 - (a * p_).sum(-1), 1 - (a * n).sum(-1)
            loss = loss + F.relu(d_ap - d_an + margin).mean()
        if len(train.ab_query):
            q = z[torch.as_tensor(train.ab_query, device=device)]
            s_w = torch.stack([(z[w] @ q[i]).mean() for i, w in enumerate(train.ab_win)])
            s_l = torch.stack([(z[lo] @ q[i]).mean() for i, lo in enumerate(train.ab_lose)])
            loss = loss + bt_weight * F.softplus(-(s_w - s_l) / bt_temperature).mean()  # -log sigmoid
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        end = embed(False).cpu().numpy()
    after, train_after = _agreement(end, held), _agreement(end, train)
    counts = {"triplets_train": len(train.triplets), "triplets_heldout": len(held.triplets),
              "ab_train": len(train.ab_query), "ab_heldout": len(held.ab_query),
              **{f"skipped_{k}": v for k, v in skipped.items()}}
    ok = (not require_no_drop) or (after["combined"] >= before["combined"])
    result = FinetuneResult(ok, None, before, after, train_before, train_after, counts, losses)
    if not ok:
        return result
    lineage = {
        "parent_sha256": parent_sha,
        "parent_path": str(model_path),
        "ancestors": [*parent_meta.get("lineage", {}).get("ancestors", []), parent_sha],
        "feedback_db": str(Path(feedback_db).resolve()),
        "triplet_ids_train": list(train.triplet_ids), "triplet_ids_heldout": list(held.triplet_ids),
        "ab_ids_train": list(train.ab_ids), "ab_ids_heldout": list(held.ab_ids),
        "created": time.time(),
    }
    settings = {"heldout_fraction": heldout_fraction, "seed": seed, "steps": steps, "lr": lr, "margin": margin,
                "bt_weight": bt_weight, "bt_temperature": bt_temperature, "weight_decay": weight_decay,
                "trained": "fusion" + (" + text_projection" if texts else "")}
    meta: dict[str, Any] = {**parent_meta, "lineage": lineage,
                            "finetune": {"settings": settings, "heldout_before": before, "heldout_after": after,
                                         "counts": counts}}
    model.eval()
    save_checkpoint(out_path, config=model.config_dict(), state_dict=model.state_dict(), meta=meta)
    result.checkpoint = out_path
    return result
