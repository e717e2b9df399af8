"""Build (or update) an index folder from a checkpoint and a corpus: resumable, batched, failure-tolerant.

Embedding runs in content-defined chunks of tracks (:mod:`sapphire_core.index.chunking`: a chunk ends
after a track whose id hashes under ``1 / chunk_size``, so its boundaries follow the tracks, not their
positions). Each chunk is written atomically to ``INDEX/chunks/chunk_<key>.npz``, the key naming the
model and its tracks (id, record, and the size and modification time of the audio and lyrics files), so
a killed run resumes at the first missing chunk, a rerun with the same model on unchanged files
re-embeds nothing, a changed file re-embeds only its chunk, and an inserted or removed track only the
chunk around it. The store is then updated in place: new tracks are added, changed ones replaced and
tracks gone from the corpus removed, without a full rebuild.

Every file's bytes follow from the model, the corpus and the cache location alone (no timestamps), so
a rerun on an unchanged corpus, or a killed run finished by a rerun, leaves the folder byte-identical
to one uninterrupted run: the temp files a kill left are removed, an unreadable chunk is embedded
again, and chunks no longer used by the corpus are deleted. After an edit of the corpus the chunks,
metadata, modalities, explanations and manifest are those of a fresh build of it; only the store's
internal labels remember its history (its vectors per id are the same).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
import zlib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core import layout
from sapphire_core.cache import FeatureCache
from sapphire_core.data import Corpus
from sapphire_core.device import resolve_device
from sapphire_core.extraction import WARNINGS_FILE, stored_warnings, worker_pool, write_warnings
from sapphire_core.index.chunking import content_chunks
from sapphire_core.index.extras import build_extras, selected_extras
from sapphire_core.index.folder import reusable_store
from sapphire_core.index.store import VectorIndexError
from sapphire_core.interpret import interpretations
from sapphire_core.io import atomic_save_npz, atomic_write_bytes, file_sha256, remove_temp_files, text_sha256
from sapphire_core.layout import EXPLANATIONS, FAILURES, MANIFEST, METADATA, MODALITIES, STORE_DIR

INDEX_FORMAT = 1

log = logging.getLogger(__name__)


@dataclass
class IndexBuildReport:
    """What a build did."""

    index_dir: Path
    indexed: int = 0
    added: int = 0
    removed: int = 0
    updated: int = 0
    chunks_done: int = 0
    chunks_reused: int = 0
    extras: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"

    def summary(self) -> str:
        skipped = f"{len(self.skipped)} tracks.jsonl lines skipped; " if self.skipped else ""
        return (f"{self.indexed} tracks indexed (+{self.added} / -{self.removed} / {self.updated} changed); "
                f"chunks {self.chunks_done} embedded, "
                f"{self.chunks_reused} reused; {len(self.failures)} failed; {skipped}"
                + (f"{len(self.warnings)} with warnings; " if self.warnings else "") +
                f"{self.seconds:.1f}s on {self.device}")


def _chunk_key(model_sha: str, tracks: list) -> str:
    """The chunk's tracks as they are now: a changed record, audio or lyrics file makes a new key."""
    return text_sha256(model_sha, *(_fingerprint(t) for t in tracks))[:24]


def _fingerprint(track) -> str:
    """A track's id and record, with its files' size and modification time (as rsync decides what changed):
    cheap enough to check every track on every run; a touched but unchanged file costs one re-embedding."""
    parts = [track.id, json.dumps(track.to_json(Path("/")), sort_keys=True, default=str)]
    for path in (track.audio, track.lyrics_path):
        try:
            st = Path(path).stat() if path is not None else None
        except OSError:
            st = None
        parts.append(f"{st.st_size}:{st.st_mtime_ns}" if st is not None else "-")
    return "|".join(parts)


def write_metadata(out: Path, tracks: list, corpus_dir: str | Path) -> None:
    """``INDEX/metadata.jsonl``: each indexed track's record with its resolved ``audio_path``, in index order."""
    lines = []
    for track in tracks:
        rec = track.to_json(Path(corpus_dir))
        rec["audio_path"] = str(Path(track.audio).resolve()) if track.audio else None
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    atomic_write_bytes(out / METADATA, "".join(lines).encode("utf-8"))


def write_failures(out: Path, corpus: Corpus, report: IndexBuildReport, indexed: list) -> None:
    """``INDEX/failures.jsonl`` (bad tracks.jsonl lines, then failed tracks) and the warnings file."""
    fail_lines = "".join(json.dumps(p.to_json()) + "\n" for p in corpus.problems)
    fail_lines += "".join(json.dumps({"id": k, "error": v}) + "\n" for k, v in sorted(report.failures.items()))
    atomic_write_bytes(out / FAILURES, fail_lines.encode())
    write_warnings(out / WARNINGS_FILE, {t.id: (str(t.audio), report.warnings[t.id]) for t in indexed
                                         if t.id in report.warnings})


def _chunk_path(chunk_dir: Path, model_sha: str, tracks: list) -> Path:
    """Named by content only (no ordinal), so a chunk keeps its file when tracks before it come or go."""
    return chunk_dir / f"chunk_{_chunk_key(model_sha, tracks)}.npz"


def _readable_chunk(path: Path) -> bool:
    """Whether ``path`` is a chunk that can be reused; a damaged one (truncated, emptied) is logged and
    embedded again, as if it were missing (its name says what it should hold, so nothing is lost)."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                data[key]  # reads and CRC-checks every member
        return True
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        log.warning("%s: unreadable (%s: %s); embedding its tracks again", path, type(exc).__name__, exc)
        return False


def build_index(model_path: str | Path, corpus_dir: str | Path, out_dir: str | Path, *,
                cache_dir: str | Path | None = None, chunk_size: int = 64, batch_size: int = 16,
                device: str | None = None, registry=None, engine: str = "local", address: str | None = None,
                store_factory: Callable[[int], Any] | None = None,
                on_progress: Callable[[int, int], None] | None = None, extras: bool | list[str] | None = None,
                on_extra_progress: Callable[[int], None] | None = None, strict: bool = False,
                workers: int = 1) -> IndexBuildReport:
    """Embed a corpus with a checkpoint into an index folder (layout: :mod:`sapphire_core.index.folder`).

    Parameters
    ----------
    model_path : path
        A checkpoint written by ``sapphire train``.
    corpus_dir : path
        Corpus folder with ``tracks.jsonl``.
    out_dir : path
        The index folder (created; an existing one is updated in place).
    cache_dir : path, optional
        Feature cache [default: :func:`sapphire_core.layout.cache_dir` of the corpus]; recorded in
        the manifest, so search reads the same cache.
    chunk_size, batch_size : int
        Mean tracks per resumable chunk (content-defined, at most
        :data:`~sapphire_core.index.chunking.MAX_CHUNK_FACTOR` times it), and tracks per model batch.
    device : str, optional
        ``cuda`` / ``cpu`` [default: cuda when available].
    registry : Registry, optional
        Component registry [default: the installed plugins].
    engine : {"local", "ray"}
        ``ray`` delegates embedding to :func:`sapphire_core.scale.ray_engine.index_corpus_ray`.
    store_factory : callable, optional
        ``dim -> VectorStore`` for a new index [default: :class:`FaissStore`].
    on_progress : callable, optional
        ``(tracks_done, total)`` after each chunk.
    extras : bool or list of str, optional
        Index extras to build into ``INDEX/extras/`` (e.g. track melodies for humming queries):
        ``None``/``True`` every installed one, ``False`` none, or a list of names.
    on_extra_progress : callable, optional
        ``(1)`` after each track of each extra.
    strict : bool
        Raise on the first bad ``tracks.jsonl`` line instead of skipping it (skipped lines are listed
        in ``report.skipped`` and ``failures.jsonl``).
    workers : int
        Processes that extract the features missing from the cache (the pool of
        ``sapphire extract --workers``, one share of the cores each) and then compute the extras'
        entries (:func:`~sapphire_core.index.extras.build_extras`); 1 does everything in this process.

    Returns
    -------
    IndexBuildReport

    Raises
    ------
    CheckpointError, CorpusError
        When the checkpoint or corpus cannot be read, or the corpus has no usable track.
    """
    from sapphire_core.embedding import embed_tracks
    from sapphire_core.extraction import extract_corpus
    from sapphire_core.model import build_extractors, load_model
    from sapphire_core.plugins import default_registry

    t0 = time.perf_counter()
    registry = registry or default_registry()
    extra_builders = selected_extras(registry, extras)
    out = Path(out_dir)
    model_path = Path(model_path)
    model, meta = load_model(model_path, registry)
    model.registry = registry  # embed_tracks builds extractors from it
    corpus = Corpus(corpus_dir, strict=strict)
    corpus.require_tracks()
    cache_dir = Path(cache_dir) if cache_dir is not None else layout.cache_dir(corpus_dir)
    cache = FeatureCache(cache_dir)
    device = str(resolve_device(device))
    model_sha = file_sha256(model_path)
    report = IndexBuildReport(out, device=device, skipped=[str(p) for p in corpus.problems])
    explained = interpretations(registry)
    tracks = corpus.tracks
    chunk_dir = out / layout.CHUNKS_DIR
    modalities = list(model.encoders)
    flat_extractors = [e for group in build_extractors(model.cfg, registry).values() for e in group]

    remove_temp_files(out)  # half-written files of a killed run (the files they were to replace are intact)
    # One pool for the whole build (the features of every chunk, then the extras): its processes start, and
    # load their models, once.
    with worker_pool(workers) if workers > 1 and engine == "local" else nullcontext() as pool:
        done = 0
        chunks = [(chunk, _chunk_path(chunk_dir, model_sha, chunk)) for chunk in content_chunks(tracks, chunk_size)]
        for chunk, path in chunks:
            if _readable_chunk(path):
                report.chunks_reused += 1
            else:
                if engine == "ray":
                    from sapphire_core.scale.ray_engine import index_corpus_ray

                    emb = index_corpus_ray(model_path, chunk, cache, address=address, batch_size=batch_size)
                elif engine == "local":
                    if pool is not None:  # fill the cache in parallel; embedding then only reads it
                        extract_corpus(chunk, flat_extractors, cache, pool=pool)
                    emb = embed_tracks(model, chunk, cache, batch_size=batch_size, device=device)
                else:
                    raise VectorIndexError(f"unknown engine {engine!r}; choose local or ray")
                arrays: dict[str, np.ndarray] = {
                    "ids": np.array(emb.ids, dtype=str), "fused": emb.fused,
                    "failures": np.array(json.dumps(emb.failures)),
                }
                for m in modalities:
                    if m in emb.per_modality:
                        arrays[f"emb__{m}"] = emb.per_modality[m]
                        arrays[f"present__{m}"] = emb.present[m]
                by_id = {t.id: t for t in chunk}
                warned = {i: w for i in emb.ids if (w := stored_warnings(cache, by_id[i]))}  # kept with the chunk
                arrays["warnings"] = np.array(json.dumps(warned))
                for spec in explained:  # interpretable values, kept per chunk so a resumed build reuses them
                    vals = [spec.values(by_id[i], cache) for i in emb.ids]
                    arrays[f"explain__{spec.name}"] = np.array(
                        [v if v is not None else np.full(len(spec.names), np.nan) for v in vals],
                        dtype=np.float32).reshape(len(vals), len(spec.names))
                atomic_save_npz(path, arrays)
                report.chunks_done += 1
            done += len(chunk)
            if on_progress:
                on_progress(done, len(tracks))

        # Gather every chunk of this corpus, in its order.
        ids: list[str] = []
        fused, per_mod, present = [], {m: [] for m in modalities}, {m: [] for m in modalities}
        explain_rows: dict[str, list[np.ndarray]] = {spec.name: [] for spec in explained}
        used = [path for _, path in chunks]
        for path in used:
            with np.load(path, allow_pickle=False) as data:
                ids.extend(str(i) for i in data["ids"])
                fused.append(data["fused"].reshape(-1, model.embedding_dim))
                report.failures.update(json.loads(str(data["failures"])))
                if "warnings" in data.files:
                    report.warnings.update(json.loads(str(data["warnings"])))
                for m in modalities:
                    if f"emb__{m}" in data.files:
                        per_mod[m].append(data[f"emb__{m}"])
                        present[m].append(data[f"present__{m}"])
                for name, rows in explain_rows.items():
                    if f"explain__{name}" in data.files:
                        rows.append(data[f"explain__{name}"])
        fused_all = np.concatenate(fused) if fused else np.zeros((0, model.embedding_dim), np.float32)
        for stale in set(chunk_dir.glob("chunk_*.npz")) - set(used):  # another model's, an older corpus's or layout's
            stale.unlink(missing_ok=True)

        store_dir = out / STORE_DIR
        store = reusable_store(out, model_sha)  # None when absent, from another model, or damaged
        if store is not None:
            have = set(store.ids())
            gone = sorted(have - set(ids))
            new = [i for i, tid in enumerate(ids) if tid not in have]
            kept = [i for i, tid in enumerate(ids) if tid in have]
            old = store.get_vectors([ids[i] for i in kept]) if kept else np.zeros((0, model.embedding_dim))
            changed = [i for i, v in zip(kept, old) if not np.allclose(v, fused_all[i], atol=1e-6)]
            if changed:  # add() replaces a record with the same id
                store.add([ids[i] for i in changed], fused_all[changed])
            report.updated = len(changed)
            report.removed = store.remove(gone)
        else:
            if store_factory is None:
                from sapphire_core.index.faiss_store import FaissStore

                store_factory = FaissStore
            store = store_factory(model.embedding_dim)
            new = list(range(len(ids)))
        if new:
            store.add([ids[i] for i in new], fused_all[new])
        report.added = len(new)
        store.save(store_dir)

        by_id = {t.id: t for t in tracks}
        write_metadata(out, [by_id[i] for i in ids], corpus_dir)
        mod_arrays: dict[str, np.ndarray] = {"ids": np.array(ids, dtype=str)}
        for m in modalities:
            if per_mod[m] and sum(len(a) for a in per_mod[m]) == len(ids):
                mod_arrays[f"emb__{m}"] = np.concatenate(per_mod[m])
                mod_arrays[f"present__{m}"] = np.concatenate(present[m])
        atomic_save_npz(out / MODALITIES, mod_arrays)
        explanation_names = {spec.name: list(spec.names) for spec in explained
                             if sum(len(a) for a in explain_rows[spec.name]) == len(ids)}
        atomic_save_npz(out / EXPLANATIONS, {"ids": np.array(ids, dtype=str),
                                             **{n: np.concatenate(explain_rows[n]) for n in explanation_names}})
        # The build's pool computes the extras too (a second pool would load torch and the models again);
        # without one (ray, or one worker) build_extras starts its own only for workers > 1.
        report.extras = build_extras(extra_builders, [by_id[i] for i in ids], out, on_progress=on_extra_progress,
                                     workers=workers, pool=pool)
    write_failures(out, corpus, report, [by_id[i] for i in ids])
    manifest = {
        "format": INDEX_FORMAT,
        "model_path": str(model_path.resolve()),
        "model_sha256": model_sha,
        "model_name": getattr(model.cfg, "name", "unnamed"),
        "config": model.config_dict(),
        "dim": model.embedding_dim,
        "subspaces": {k: [s.start, s.stop] for k, s in model.subspaces.items()},
        "modalities": {m: int(model.encoders[m].output_dim) for m in modalities},
        "has_text_tower": model.text_tower is not None,
        "explanations": explanation_names,
        "extras": report.extras,
        "corpus": str(Path(corpus_dir).resolve()),
        "cache": str(cache_dir.resolve()),
        "count": len(store),
        # The vectors, not only the ids: re-analysed audio under the same ids is another index.
        "index_version": hashlib.sha256(json.dumps([model_sha, ids]).encode()
                                        + np.ascontiguousarray(fused_all, np.float32).tobytes()).hexdigest()[:12],
        "val_ids": meta.get("val_ids"),
    }
    atomic_write_bytes(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    report.indexed = len(store)
    report.seconds = time.perf_counter() - t0
    return report
