"""An index with no model: ``sapphire index --model none``.

The vectors come from an installed :class:`~sapphire_core.query_mode.VectorQueryMode` (a plugin's
training-free similarity, e.g. descriptor statistics) instead of a checkpoint: its index extra is
built from the audio, and its per-track vectors fill the vector store, with its named sub-spaces.
The folder has the layout of any index, so ``sapphire search --audio``, ``similar`` and ``playlist``
work on it; audio queries are ranked by the mode itself. Text and lyrics queries need a model.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sapphire_core import layout
from sapphire_core.data import Corpus
from sapphire_core.errors import ConfigError
from sapphire_core.index.builder import INDEX_FORMAT, IndexBuildReport, write_failures, write_metadata
from sapphire_core.index.extras import build_extras, selected_extras
from sapphire_core.index.folder import reusable_store
from sapphire_core.io import atomic_save_npz, atomic_write_bytes, remove_temp_files
from sapphire_core.layout import EXPLANATIONS, MANIFEST, MODALITIES, STORE_DIR
from sapphire_core.query_mode import VectorQueryMode

#: Manifest key naming the vector mode of an index built without a model.
MANIFEST_KEY = "training_free_mode"


def vector_modes(registry) -> list[str]:
    """Names of the installed query modes that can stand in for a model (:class:`VectorQueryMode`)."""
    return [n for n in registry.names("query_mode") if issubclass(registry.get("query_mode", n), VectorQueryMode)]


def choose_vector_mode(registry, name: str | None = None) -> VectorQueryMode:
    """The vector mode named ``name``, else the only (or first, by name) installed one.

    Raises
    ------
    ConfigError
        When none is installed, or ``name`` is not one of them (listing the valid choices).
    """
    names = vector_modes(registry)
    if not names:
        raise ConfigError("no installed query mode gives training-free vectors, so '--model none' cannot index; "
                          "install the acoustic plugin (pip install -e plugins/acoustic) or pass --model CKPT")
    if name is None:
        name = names[0]
    if name not in names:
        raise ConfigError(f"{name!r} is not a training-free vector mode; installed: {', '.join(names)}")
    return registry.get("query_mode", name)()


def build_training_free_index(corpus_dir: str | Path, out_dir: str | Path, *, mode: str | None = None,
                              registry=None, extras: bool | list[str] | None = None, strict: bool = False,
                              on_extra_progress: Callable[[int], None] | None = None,
                              workers: int = 1) -> IndexBuildReport:
    """Index a corpus with a training-free vector mode instead of a model (see the module docstring).

    Parameters
    ----------
    corpus_dir, out_dir : path
        As :func:`sapphire_core.index.builder.build_index`; an existing folder is rebuilt in place
        (the extras reuse what they computed before).
    mode : str, optional
        The :class:`VectorQueryMode` [default: the first installed one].
    extras : bool or list of str, optional
        Other index extras to build as well (the mode's own is always built).
    workers : int
        Processes computing the extras' entries (:func:`~sapphire_core.index.extras.build_extras`).

    Returns
    -------
    IndexBuildReport
    """
    from sapphire_core.index.faiss_store import FaissStore
    from sapphire_core.plugins import default_registry

    t0 = time.perf_counter()
    registry = registry or default_registry()
    vector_mode = choose_vector_mode(registry, mode)
    builders = selected_extras(registry, extras)
    builders.setdefault(vector_mode.extra, registry.get("index_extra", vector_mode.extra)())
    out = Path(out_dir)
    corpus = Corpus(corpus_dir, strict=strict)
    corpus.require_tracks()
    report = IndexBuildReport(out, skipped=[str(p) for p in corpus.problems])
    tracks = corpus.tracks
    remove_temp_files(out)  # as build_index: what a killed build half-wrote
    report.extras = build_extras(builders, tracks, out, on_progress=on_extra_progress, workers=workers)
    data = builders[vector_mode.extra].load(layout.extra_dir(out, vector_mode.extra))
    got, X = vector_mode.track_vectors(data)
    by_id = {t.id: t for t in tracks}
    have = set(got)
    ids = [t.id for t in tracks if t.id in have]  # corpus order
    row = {t: i for i, t in enumerate(got)}
    X = np.asarray(X, np.float32)[[row[i] for i in ids]] if ids else np.zeros((0, X.shape[1]), np.float32)
    report.failures = {t.id: f"{vector_mode.name}: audio could not be analysed" for t in tracks if t.id not in have}

    before = _previous_vectors(out, vector_mode.name)
    store = FaissStore(X.shape[1])
    if ids:
        store.add(ids, X)
    store.save(out / STORE_DIR)
    indexed = [by_id[i] for i in ids]
    write_metadata(out, indexed, corpus_dir)
    atomic_save_npz(out / MODALITIES, {"ids": np.array(ids, dtype=str)})
    atomic_save_npz(out / EXPLANATIONS, {"ids": np.array(ids, dtype=str)})
    write_failures(out, corpus, report, indexed)
    manifest = {
        "format": INDEX_FORMAT,
        MANIFEST_KEY: vector_mode.name,
        "model_path": None,
        "model_sha256": "",
        "model_name": f"training-free {vector_mode.name}",
        "config": None,
        "dim": int(X.shape[1]),
        "subspaces": {k: [s.start, s.stop] for k, s in vector_mode.subspaces(data).items()},
        "modalities": {},
        "has_text_tower": False,
        "explanations": {},
        "extras": report.extras,
        "corpus": str(Path(corpus_dir).resolve()),
        "cache": None,
        "count": len(store),
        # The vectors, not only the ids: re-analysed audio under the same ids is another index.
        "index_version": hashlib.sha256(json.dumps([vector_mode.name, ids]).encode() + X.tobytes()).hexdigest()[:12],
        "val_ids": None,
    }
    atomic_write_bytes(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    report.indexed = len(store)
    report.added = sum(i not in before for i in ids)
    report.removed = len(set(before) - set(ids))
    report.updated = sum(i in before and not np.allclose(before[i], x, atol=1e-6) for i, x in zip(ids, X))
    report.seconds = time.perf_counter() - t0
    return report


def _previous_vectors(out: Path, mode_name: str) -> dict[str, np.ndarray]:
    """The vectors of an earlier build of ``out`` by the same mode, by track id (empty when there is none),
    so a rebuild reports what it added, removed and changed. Standardised over the catalogue, every
    vector may move a little when tracks come or go: those count as changed."""
    try:
        old = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    store = reusable_store(out, "") if isinstance(old, dict) and old.get(MANIFEST_KEY) == mode_name else None
    if store is None or len(store) == 0:
        return {}
    ids = store.ids()
    return dict(zip(ids, np.asarray(store.get_vectors(ids), np.float32)))
