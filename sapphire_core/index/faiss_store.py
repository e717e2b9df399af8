"""The embedded default store: FAISS, exact below a size threshold, approximate above it.

- ``flat``: exact inner product (``IndexFlatIP`` inside ``IndexIDMap2``); native add/remove.
- ``hnsw``: graph search (Malkov & Yashunin 2018, ``IndexHNSWFlat``). HNSW cannot delete
  nodes, so removals are tombstones filtered out of results, and the graph is rebuilt from
  the live vectors once tombstones exceed ``compact_ratio`` of it.
- ``ivf``: inverted file over k-means cells (Jegou et al. 2011, ``IndexIVFFlat``) with a
  hash-table direct map, so add and remove are native and vectors can be read back.

A store starts exact and switches to ``approximate`` once it holds more than
``exact_threshold`` records; below that, brute force is both exact and fast enough.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from sapphire_core.io import atomic_write_bytes
from sapphire_core.index.store import (
    STORE_FILE,
    VectorIndexError,
    VectorStore,
    read_store_manifest,
    write_store_manifest,
)

INDEX_FILE = "faiss.index"
IDS_FILE = "ids.json"
META_FILE = "store_metadata.jsonl"


def _faiss():
    try:
        import faiss
    except ImportError:
        raise VectorIndexError("the FAISS store needs faiss: pip install 'sapphire-core[retrieval]'") from None
    return faiss


class FaissStore(VectorStore):
    """A FAISS vector store (see the module docstring for the three layouts).

    Parameters
    ----------
    dim : int
        Vector width.
    exact_threshold : int
        Up to this many records the search is exact; above it the ``approximate`` layout is built.
    approximate : {"hnsw", "ivf"}
        The layout used above ``exact_threshold``.
    hnsw_m, ef_construction, ef_search : int
        HNSW graph degree and beam widths (FAISS defaults are 32 / 40 / 16; wider beams trade
        speed for recall).
    nlist : int or None
        IVF cells; ``None`` picks ``4 * sqrt(N)`` (the FAISS guideline) at build time.
    nprobe : int
        IVF cells visited per query.
    compact_ratio : float
        HNSW rebuild trigger: tombstones / records.

    Examples
    --------
    >>> store = FaissStore(4)
    >>> store.add(["a", "b"], np.eye(4, dtype=np.float32)[:2])
    >>> store.search(np.eye(4, dtype=np.float32)[0], k=1)[0]
    [['a']]
    """

    name: ClassVar[str] = "faiss"

    def __init__(self, dim: int, *, exact_threshold: int = 20_000, approximate: Literal["hnsw", "ivf"] = "hnsw",
                 hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 128, nlist: int | None = None,
                 nprobe: int = 32, compact_ratio: float = 0.25) -> None:
        super().__init__(dim)
        if approximate not in ("hnsw", "ivf"):
            raise VectorIndexError(f"unknown approximate layout {approximate!r}; choose hnsw or ivf")
        self.settings = dict(exact_threshold=int(exact_threshold), approximate=approximate, hnsw_m=int(hnsw_m),
                             ef_construction=int(ef_construction), ef_search=int(ef_search), nlist=nlist,
                             nprobe=int(nprobe), compact_ratio=float(compact_ratio))
        self.layout = "flat"
        self._index = self._new_flat()
        self._id_to_label: dict[str, int] = {}
        self._label_to_id: dict[int, str] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._tombstones: set[int] = set()
        self._next_label = 0
        self._table: np.ndarray | None = None  # label -> id (None where removed), built on first search

    # ------------------------------------------------------------------ layouts
    def _new_flat(self):
        faiss = _faiss()
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _build_approximate(self, labels: np.ndarray, vectors: np.ndarray):
        faiss = _faiss()
        s = self.settings
        if s["approximate"] == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, s["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = s["ef_construction"]
            inner.hnsw.efSearch = s["ef_search"]
            index = faiss.IndexIDMap2(inner)
        else:
            n = len(vectors)
            nlist = int(s["nlist"] or max(16, int(4 * math.sqrt(n))))
            nlist = min(nlist, max(1, n // 39))  # FAISS wants >= 39 training points per cell
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            # k-means on a sample: FAISS subsamples to 256 points per cell; 64 (above its minimum of 39)
            # trains 4x faster with centroids good enough for cell assignment.
            rng = np.random.default_rng(0)
            cap = 64 * nlist
            sample = vectors if n <= cap else vectors[np.sort(rng.choice(n, cap, replace=False))]
            index.train(np.ascontiguousarray(sample))
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            index.nprobe = s["nprobe"]
        for start in range(0, len(vectors), 100_000):
            index.add_with_ids(np.ascontiguousarray(vectors[start:start + 100_000]), labels[start:start + 100_000])
        return index

    def _live_labels_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        if self.layout == "flat":  # bulk read: IDMap2 keeps labels in insertion order beside the flat storage
            faiss = _faiss()
            labels = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            vectors = self._index.index.reconstruct_n(0, self._index.ntotal) if len(labels) else \
                np.zeros((0, self.dim), np.float32)
            return labels, vectors
        labels = np.array(sorted(self._label_to_id), dtype=np.int64)
        vectors = np.zeros((len(labels), self.dim), np.float32)
        for i, label in enumerate(labels):
            vectors[i] = self._index.reconstruct(int(label))
        return labels, vectors

    def _rebuild(self, layout: str) -> None:
        labels, vectors = self._live_labels_vectors()
        if layout == "flat":
            index = self._new_flat()
            if len(labels):
                index.add_with_ids(vectors, labels)
        else:
            index = self._build_approximate(labels, vectors)
        self._index, self.layout, self._tombstones = index, layout, set()

    # ------------------------------------------------------------------ interface
    def add(self, ids, vectors, metadata=None) -> None:
        ids, vectors, metadata = self._check_add(ids, vectors, metadata)
        if not ids:
            return
        self.remove([i for i in ids if i in self._id_to_label])  # upsert
        self._table = None
        labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
        self._next_label += len(ids)
        for i, label, meta in zip(ids, labels, metadata):
            self._id_to_label[i] = int(label)
            self._label_to_id[int(label)] = i
            if meta:
                self._meta[i] = dict(meta)
        if self.layout == "flat" and len(self) > self.settings["exact_threshold"]:
            old_labels, old_vectors = self._live_labels_vectors()
            self._index = self._build_approximate(np.concatenate([old_labels, labels]),
                                                  np.concatenate([old_vectors, vectors]))
            self.layout, self._tombstones = self.settings["approximate"], set()
        else:
            self._index.add_with_ids(vectors, labels)

    def remove(self, ids) -> int:
        labels = [self._id_to_label.pop(str(i)) for i in ids if str(i) in self._id_to_label]
        self._table = None
        for label in labels:
            track_id = self._label_to_id.pop(label)
            self._meta.pop(track_id, None)
        if not labels:
            return 0
        if self.layout == "hnsw":
            self._tombstones.update(labels)
            if len(self._tombstones) > self.settings["compact_ratio"] * max(1, self._index.ntotal):
                self.compact()
        else:
            self._index.remove_ids(np.array(labels, dtype=np.int64))
        return len(labels)

    def compact(self) -> None:
        """Rebuild the HNSW graph without its tombstones (a no-op for the other layouts)."""
        if self.layout == "hnsw" and self._tombstones:
            self._rebuild("hnsw" if len(self) > self.settings["exact_threshold"] else "flat")

    def search(self, queries, k: int = 10):
        q = self._check_queries(queries, k)
        k = int(k)
        n = len(self)
        if n == 0:
            return [[] for _ in range(len(q))], np.full((len(q), k), -np.inf, np.float32)
        # Tombstoned HNSW nodes still occupy result slots: ask for enough extra to fill k.
        fetch = min(self._index.ntotal, k + len(self._tombstones))
        if self.layout == "hnsw":
            _faiss().downcast_index(self._index.index).hnsw.efSearch = max(self.settings["ef_search"], fetch)
        scores, labels = self._index.search(q, fetch)
        # Labels to ids with array lookups, not a Python loop over every hit: large-k searches
        # (a query-by-humming first stage asks for thousands) spent half their time there.
        table = self._id_table()
        hits = table[np.clip(labels, 0, len(table) - 1)]
        hits[labels < 0] = None  # empty slots; removed and tombstoned labels are None in the table
        keep = hits != None  # noqa: E711 (element-wise on an object array)
        out_ids: list[list[str]] = []
        out_scores = np.full((len(q), k), -np.inf, np.float32)
        for row in range(len(q)):
            cols = np.flatnonzero(keep[row])[:k]
            out_ids.append(hits[row, cols].tolist())
            out_scores[row, : len(cols)] = scores[row, cols]
        return out_ids, out_scores

    def _id_table(self) -> np.ndarray:
        """``(next_label,)`` object array: the id of each live label, None for removed ones."""
        if self._table is None or len(self._table) != max(1, self._next_label):
            table = np.full(max(1, self._next_label), None, dtype=object)
            for label, track_id in self._label_to_id.items():
                table[label] = track_id
            self._table = table
        return self._table

    def __len__(self) -> int:
        return len(self._id_to_label)

    def ids(self) -> list[str]:
        return list(self._id_to_label)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._id_to_label

    def get_vectors(self, ids) -> np.ndarray:
        out = np.zeros((len(ids), self.dim), np.float32)
        for row, i in enumerate(ids):
            if i not in self._id_to_label:
                raise VectorIndexError(f"no record with id {i!r} in this store ({len(self)} records)")
            out[row] = self._index.reconstruct(self._id_to_label[i])
        return out

    def get_metadata(self, track_id: str) -> dict[str, Any]:
        return dict(self._meta.get(track_id, {}))

    # ------------------------------------------------------------------ persistence
    def save(self, directory) -> None:
        """Write the store's files, then ``store.json`` with each file's SHA-256: the manifest, written last,
        commits the set, so a save killed half-way is detected at load instead of pairing new vectors
        with old labels."""
        faiss = _faiss()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"labels": {str(k): v for k, v in self._label_to_id.items()}, "tombstones": sorted(self._tombstones),
                 "next_label": self._next_label}
        lines = "".join(json.dumps({"id": i, "metadata": m}, ensure_ascii=False) + "\n" for i, m in self._meta.items())
        files = {INDEX_FILE: faiss.serialize_index(self._index).tobytes(), IDS_FILE: json.dumps(state).encode(),
                 META_FILE: lines.encode("utf-8")}
        for name, payload in files.items():
            atomic_write_bytes(directory / name, payload)
        write_store_manifest(directory, self.kind, dim=self.dim, layout=self.layout, count=len(self), **self.settings,
                             sha256={name: hashlib.sha256(payload).hexdigest() for name, payload in files.items()})

    @classmethod
    def load(cls, directory) -> FaissStore:
        faiss = _faiss()
        directory = Path(directory)
        info = read_store_manifest(directory)
        if info.get("kind") != cls.name:
            raise VectorIndexError(f"{directory}: holds a {info.get('kind')!r} store, not {cls.name!r}")
        settings = {k: info[k] for k in ("exact_threshold", "approximate", "hnsw_m", "ef_construction", "ef_search",
                                         "nlist", "nprobe", "compact_ratio") if k in info}
        fix = "; the index is damaged: rebuild it with 'sapphire index'"
        try:
            store = cls(int(info["dim"]), **settings)
        except (KeyError, TypeError, ValueError) as exc:
            raise VectorIndexError(f"{directory / STORE_FILE}: bad settings ({type(exc).__name__}: {exc}){fix}") from None
        for name in (INDEX_FILE, IDS_FILE):
            if not (directory / name).is_file():
                raise VectorIndexError(f"{directory / name}: missing (the vectors are gone){fix}")
        try:
            raw = np.frombuffer((directory / INDEX_FILE).read_bytes(), dtype=np.uint8)
            store._index = faiss.deserialize_index(raw)
        except (OSError, RuntimeError) as exc:
            raise VectorIndexError(f"{directory / INDEX_FILE}: unreadable, perhaps truncated "
                                   f"({str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}){fix}") from None
        try:
            state = json.loads((directory / IDS_FILE).read_text())
            store._label_to_id = {int(k): str(v) for k, v in state["labels"].items()}
            store._tombstones = {int(t) for t in state["tombstones"]}
            store._next_label = int(state["next_label"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VectorIndexError(f"{directory / IDS_FILE}: unreadable ({type(exc).__name__}: {exc}){fix}") from None
        store._id_to_label = {v: k for k, v in store._label_to_id.items()}
        if store._index.d != store.dim or store._index.ntotal < len(store._label_to_id):
            raise VectorIndexError(f"{directory / INDEX_FILE}: holds {store._index.ntotal} vectors of dim "
                                   f"{store._index.d}, but {IDS_FILE} names {len(store._label_to_id)} of dim "
                                   f"{store.dim}{fix}")
        store.layout = info.get("layout", "flat")
        if store.layout == "ivf":
            # downcast_index returns a second proxy that does not own the C++ index: hand ownership
            # over, or the index is freed with the first proxy and every search reads freed memory.
            ivf = faiss.downcast_index(store._index)
            store._index.this.disown()
            ivf.this.own(True)
            store._index = ivf
            store._index.nprobe = store.settings["nprobe"]
        meta_path = directory / META_FILE
        if meta_path.is_file():
            for n, line in enumerate(meta_path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if line.strip():
                    try:
                        rec = json.loads(line)
                        store._meta[rec["id"]] = rec["metadata"]
                    except (json.JSONDecodeError, KeyError, TypeError) as exc:
                        raise VectorIndexError(f"{meta_path}:{n}: unreadable ({type(exc).__name__}: {exc}){fix}") from None
        # Last, so that damage each file shows on its own is named first (truncated, unreadable).
        _check_set(directory, info.get("sha256") or {}, fix)  # stores saved before the checksums have none
        return store


def _check_set(directory: Path, sha256: dict, fix: str) -> None:
    """Each file's SHA-256 against ``store.json``'s (see :meth:`FaissStore.save`).

    Raises
    ------
    VectorIndexError
        Naming the first file that is not the one the manifest committed.
    """
    for name, digest in sha256.items():
        try:
            got = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        except OSError:
            got = None
        if got != digest:
            raise VectorIndexError(f"{directory / name}: not the file {STORE_FILE} was saved with (a save was "
                                   f"interrupted, or it was changed){fix}")
