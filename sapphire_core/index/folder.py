"""An index folder, opened for reading: a vector store plus everything search and explanations need.

The folder layout is :mod:`sapphire_core.layout`'s.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.index.store import VectorIndexError, VectorStore, open_store
from sapphire_core.layout import EXPLANATIONS, MANIFEST, METADATA, MODALITIES, STORE_DIR

#: Written by indexes before index extras and explanations were generic; still read.
_LEGACY_MIDLEVEL = "midlevel.npy"


@dataclass
class IndexFolder:
    """An opened index folder (read side).

    Attributes
    ----------
    path : Path
    manifest : dict
    store : VectorStore
    metadata : dict of str to dict
        Track id -> its tracks.jsonl record (plus ``audio_path``), in index order.
    modality_embeddings : dict of str to np.ndarray
        Modality -> ``(N, d_m)`` raw encoder embeddings, rows in ``order``.
    modality_present : dict of str to np.ndarray
        Modality -> ``(N,)`` bool.
    explanations : dict of str to np.ndarray
        Explanation -> ``(N, n_values)`` interpretable values (NaN rows where unknown), rows in
        ``order``; the names of the values are ``manifest["explanations"][name]``.
    order : dict of str to int
        Track id -> row of the per-track arrays.
    """

    path: Path
    manifest: dict[str, Any]
    store: VectorStore
    metadata: dict[str, dict[str, Any]]
    modality_embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    modality_present: dict[str, np.ndarray] = field(default_factory=dict)
    explanations: dict[str, np.ndarray] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> IndexFolder:
        """Read an index folder written by :func:`sapphire_core.index.builder.build_index`.

        Every file is checked as it is read, so a damaged folder (an empty manifest, a missing
        ``metadata.jsonl``, a truncated ``.npz``, a store without vectors) is one line naming the
        file and saying to rebuild, never a ``KeyError`` or ``BadZipFile`` from deep inside.

        Raises
        ------
        VectorIndexError
            When the folder is not an index, a file is missing or unreadable, or its files disagree.
        """
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise VectorIndexError(f"{path}: not an index folder (no {MANIFEST}); build one with "
                                   "'sapphire index --model CKPT --corpus DIR --out INDEX'")
        manifest = _read_manifest(mpath)
        metadata = _read_metadata(path / METADATA)
        try:
            store = open_store(path / STORE_DIR)
        except VectorIndexError:
            raise
        except Exception as exc:  # a store class tripping over its own damaged files
            raise damaged(path / STORE_DIR, f"unreadable ({type(exc).__name__}: {exc})") from None
        if store.dim != int(manifest["dim"]):
            raise damaged(path / STORE_DIR, f"holds {store.dim}-dim vectors but {MANIFEST} says {manifest['dim']}")
        if len(store) != len(metadata):
            stored = set(store.ids())
            missing = [tid for tid in metadata if tid not in stored]
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise damaged(path / STORE_DIR, f"holds {len(store)} vectors for {len(metadata)} tracks in {METADATA}"
                          + (f" (no vector for {shown})" if missing else ""))
        order = {tid: i for i, tid in enumerate(metadata)}
        mods, present = {}, {}
        if (path / MODALITIES).is_file():
            data = _read_npz(path / MODALITIES, list(metadata), required=True)
            for key, value in data.items():
                if key.startswith("emb__"):
                    mods[key[5:]] = value
                elif key.startswith("present__"):
                    present[key[9:]] = value.astype(bool)
        explanations: dict[str, np.ndarray] = {}
        if (path / EXPLANATIONS).is_file():
            # Explanations are optional: rows that no longer match the tracks are dropped, not fatal.
            explanations = _read_npz(path / EXPLANATIONS, list(metadata), required=False)
        elif (path / _LEGACY_MIDLEVEL).is_file() and manifest.get("midlevel_names"):
            manifest.setdefault("explanations", {"midlevel": manifest["midlevel_names"]})
            try:
                explanations["midlevel"] = np.load(path / _LEGACY_MIDLEVEL)
            except (OSError, ValueError, EOFError) as exc:
                raise damaged(path / _LEGACY_MIDLEVEL, f"unreadable ({exc})") from None
        explanations = {k: v for k, v in explanations.items() if len(v) == len(metadata)}
        return cls(path, manifest, store, metadata, mods, present, explanations, order)


def damaged(file: Path, problem: str) -> VectorIndexError:
    """The error for a damaged index file: names it and says how to fix it (rebuilding rewrites every file)."""
    folder = file.parent.parent if file.parent.name == STORE_DIR else file.parent
    return VectorIndexError(f"{file}: {problem}; the index is damaged: rebuild it with "
                            f"'sapphire index --model CKPT --corpus DIR --out {folder}'")


def _read_manifest(mpath: Path) -> dict[str, Any]:
    try:
        text = mpath.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(mpath, f"unreadable ({exc})") from None
    if not text.strip():
        raise damaged(mpath, "empty")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(mpath, f"not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(manifest, dict):
        raise damaged(mpath, f"expected a JSON object, got {type(manifest).__name__}")
    dim = manifest.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise damaged(mpath, f"no valid 'dim' (got {dim!r})")
    return manifest


def _read_metadata(file: Path) -> dict[str, dict[str, Any]]:
    if not file.is_file():
        raise damaged(file, "missing")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(file, f"unreadable ({exc})") from None
    metadata: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise damaged(Path(f"{file}:{n}"), f"not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not rec["id"]:
            raise damaged(Path(f"{file}:{n}"), "a record without an 'id'")
        metadata[rec["id"]] = rec
    return metadata


def _read_npz(file: Path, ids: list[str], *, required: bool) -> dict[str, np.ndarray]:
    """The arrays of an ``"ids"``-keyed ``.npz`` beside the metadata; ``required``: rows must match it."""
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise damaged(file, f"unreadable, perhaps truncated ({type(exc).__name__}: {exc})") from None
    if "ids" not in arrays:
        raise damaged(file, "has no 'ids' array")
    if [str(i) for i in arrays.pop("ids")] != ids:
        if required:
            raise damaged(file, f"rows do not match {METADATA}")
        return {}
    return arrays


def reusable_store(path: str | Path, model_sha256: str) -> VectorStore | None:
    """The vector store of an earlier build of ``path`` by the same model, to update in place.

    None when there is none, it came from another model, or its manifest or store is damaged:
    the builder then writes a fresh store, so rebuilding is always the way out of a damaged index
    (the error messages of :meth:`IndexFolder.open` say so).
    """
    path = Path(path)
    try:
        old = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(old, dict) or old.get("model_sha256") != model_sha256:
        return None
    try:
        return open_store(path / STORE_DIR)
    except VectorIndexError:
        return None
