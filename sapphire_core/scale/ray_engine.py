"""Distributed extraction and embedding on Ray Data.

The same per-track code as the single-process path (:func:`sapphire_core.extraction.extract_track`,
:func:`sapphire_core.embedding.embed_tracks`) runs inside a pool of Ray actors through
``Dataset.map_batches``: each actor builds its extractors / loads its model once, writes to the
same on-disk cache, and returns the same records. So results are identical to the plain path, and
a Ray run and a local run can share (and resume) one cache.

``address=None`` starts a local Ray (what tests use); ``address="auto"`` or ``"ray://host:10001"``
joins a running cluster. Actors ask for a GPU when the cluster has one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.cache import FeatureCache
from sapphire_core.io import atomic_write_bytes
from sapphire_core.data import Track
from sapphire_core.embedding import Embeddings
from sapphire_core.extraction import ExtractionReport, TrackResult, unique_extractors
from sapphire_core.extractor import FeatureExtractor


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        from sapphire_core.errors import SapphireError

        raise SapphireError("the Ray engine needs ray[data]: pip install 'sapphire-core[scale]'") from exc
    return ray


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to (``address``) or start (``None``) a Ray runtime; reuses one already initialised."""
    ray = _ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        # Workers must import the plugins the driver sees: same interpreter, same sys.path.
        kwargs["runtime_env"] = {"env_vars": {k: v for k, v in os.environ.items() if k.startswith(("SAPPHIRE_", "HF_"))}}
        ray.init(**kwargs)
    return ray


def _gpus_per_actor(ray) -> float:
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def _track_rows(tracks: list[Track]) -> list[dict[str, str]]:
    # Absolute paths, so actors on other nodes (with a shared file system) resolve the same files.
    return [{"track": json.dumps(t.to_json())} for t in tracks]


class _ExtractActor:
    """Holds one set of extractors for its lifetime (models load once per actor)."""

    def __init__(self, extractors: list[FeatureExtractor], cache_root: str) -> None:
        self.extractors = extractors
        self.cache_root = cache_root

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from sapphire_core.extraction import _run_one

        results = [_run_one(Track.from_json(json.loads(row), Path("/")), self.extractors, self.cache_root)
                   for row in batch["track"]]
        return {"result": np.array([json.dumps(r.__dict__) for r in results], dtype=object)}


def extract_corpus_ray(tracks: list[Track], extractors: list[FeatureExtractor], cache: FeatureCache, *,
                       address: str | None = None, num_actors: int | None = None, batch_size: int = 4,
                       failures_path: str | Path | None = None) -> ExtractionReport:
    """Ray version of :func:`sapphire_core.extraction.extract_corpus` (same cache, same report).

    Parameters
    ----------
    tracks, extractors, cache
        As for the local path.
    address : str, optional
        Ray cluster address; ``None`` starts a local Ray.
    num_actors : int, optional
        Size of the actor pool (default: the cluster's CPU count, or its GPU count when it has GPUs).
    batch_size : int
        Tracks per ``map_batches`` call.
    failures_path : path, optional
        Where failed tracks are written (JSON lines), as in the local path.
    """
    ray = init_ray(address)
    start = time.perf_counter()
    extractors = unique_extractors(extractors)
    gpus = _gpus_per_actor(ray)
    resources = ray.cluster_resources()
    pool = num_actors or max(1, int(resources.get("GPU", 0) if gpus else resources.get("CPU", 1)))
    ds = ray.data.from_items(_track_rows(tracks), override_num_blocks=max(1, min(len(tracks), pool * 4)))
    out = ds.map_batches(
        _ExtractActor, fn_constructor_args=(extractors, str(Path(cache.root).resolve())), batch_size=batch_size,
        concurrency=pool, num_gpus=gpus, num_cpus=0 if gpus else 1, batch_format="numpy",
    ).take_all()
    by_id = {}
    for row in out:
        data = json.loads(row["result"])
        by_id[data["track_id"]] = TrackResult(**data)
    report = ExtractionReport(results=[by_id[t.id] for t in tracks], seconds=time.perf_counter() - start)
    if failures_path is not None:
        lines = "".join(json.dumps({"id": r.track_id, "audio": r.audio, "error_type": r.error_type,
                                    "error": r.error}) + "\n" for r in report.failures)
        atomic_write_bytes(failures_path, lines.encode())
    return report


class _EmbedActor:
    """Loads the checkpoint once, then embeds batches of tracks with the shared embedding path."""

    def __init__(self, checkpoint: str, cache_root: str | None, device: str) -> None:
        from sapphire_core.model import load_model

        self.model, _ = load_model(checkpoint)
        self.cache = FeatureCache(cache_root) if cache_root else None
        self.device = device

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from sapphire_core.embedding import embed_tracks

        tracks = [Track.from_json(json.loads(row), Path("/")) for row in batch["track"]]
        emb = embed_tracks(self.model, tracks, self.cache, batch_size=len(tracks), device=self.device)
        rows = []
        index = {tid: i for i, tid in enumerate(emb.ids)}
        for t in tracks:
            if t.id in index:
                i = index[t.id]
                rows.append(json.dumps({
                    "id": t.id, "fused": emb.fused[i].tolist(),
                    "per_modality": {m: v[i].tolist() for m, v in emb.per_modality.items()},
                    "present": {m: bool(v[i]) for m, v in emb.present.items()},
                }))
            else:
                rows.append(json.dumps({"id": t.id, "error": emb.failures.get(t.id, "unknown failure")}))
        return {"row": np.array(rows, dtype=object)}


def index_corpus_ray(checkpoint: str | Path, tracks: list[Track], cache: FeatureCache | None, *,
                     address: str | None = None, num_actors: int | None = None,
                     batch_size: int = 16) -> Embeddings:
    """Embed ``tracks`` on Ray with the model in ``checkpoint``; the same result as
    :func:`sapphire_core.embedding.embed_tracks` (rows in the order of ``tracks``, failures listed).
    """
    from sapphire_core.model import load_model

    ray = init_ray(address)
    gpus = _gpus_per_actor(ray)
    device = "cuda" if gpus else "cpu"
    resources = ray.cluster_resources()
    pool = num_actors or max(1, int(resources.get("GPU", 0) if gpus else resources.get("CPU", 1)))
    ds = ray.data.from_items(_track_rows(tracks), override_num_blocks=max(1, min(len(tracks), pool * 4)))
    rows = ds.map_batches(
        _EmbedActor, fn_constructor_args=(str(Path(checkpoint).resolve()),
                                          None if cache is None else str(Path(cache.root).resolve()), device),
        batch_size=batch_size, concurrency=pool, num_gpus=gpus, num_cpus=0 if gpus else 1, batch_format="numpy",
    ).take_all()
    parsed = {d["id"]: d for d in (json.loads(r["row"]) for r in rows)}
    model, _ = load_model(checkpoint)
    ok = [parsed[t.id] for t in tracks if "error" not in parsed[t.id]]
    modalities = list(model.encoders)
    return Embeddings(
        ids=[d["id"] for d in ok],
        fused=np.array([d["fused"] for d in ok], dtype=np.float32).reshape(len(ok), model.embedding_dim),
        per_modality={m: np.array([d["per_modality"][m] for d in ok], dtype=np.float32) for m in modalities} if ok else {},
        present={m: np.array([d["present"][m] for d in ok], dtype=bool) for m in modalities} if ok else {},
        subspaces=dict(model.subspaces),
        failures={tid: d["error"] for tid, d in parsed.items() if "error" in d},
    )
