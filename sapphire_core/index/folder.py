"""An index folder, opened for reading: a vector store plus everything search and explanations need.

The folder layout is :mod:`sapphire_core.layout`'s.
"""

from __future__ import annotations

import json
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

        Raises
        ------
        VectorIndexError
            When the folder is not an index or its files disagree.
        """
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise VectorIndexError(f"{path}: not an index folder (no {MANIFEST}); build one with "
                                   "'sapphire index --model CKPT --corpus DIR --out INDEX'")
        manifest = json.loads(mpath.read_text())
        store = open_store(path / STORE_DIR)
        metadata: dict[str, dict[str, Any]] = {}
        for line in (path / METADATA).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                metadata[rec["id"]] = rec
        order = {tid: i for i, tid in enumerate(metadata)}
        mods, present = {}, {}
        if (path / MODALITIES).is_file():
            with np.load(path / MODALITIES, allow_pickle=False) as data:
                ids = [str(i) for i in data["ids"]]
                if ids != list(metadata):
                    raise VectorIndexError(f"{path / MODALITIES}: rows do not match {METADATA}; rebuild the index")
                for key in data.files:
                    if key.startswith("emb__"):
                        mods[key[5:]] = data[key]
                    elif key.startswith("present__"):
                        present[key[9:]] = data[key].astype(bool)
        explanations: dict[str, np.ndarray] = {}
        if (path / EXPLANATIONS).is_file():
            with np.load(path / EXPLANATIONS, allow_pickle=False) as data:
                if [str(i) for i in data["ids"]] == list(metadata):
                    explanations = {k: data[k] for k in data.files if k != "ids"}
        elif (path / _LEGACY_MIDLEVEL).is_file() and manifest.get("midlevel_names"):
            manifest.setdefault("explanations", {"midlevel": manifest["midlevel_names"]})
            explanations["midlevel"] = np.load(path / _LEGACY_MIDLEVEL)
        explanations = {k: v for k, v in explanations.items() if len(v) == len(metadata)}
        return cls(path, manifest, store, metadata, mods, present, explanations, order)
