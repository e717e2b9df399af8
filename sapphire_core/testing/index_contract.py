"""``VectorStoreContract``: the shared test base every :class:`~sapphire_core.index.store.VectorStore` subclasses.

Usage::

    class TestMyStore(VectorStoreContract):
        def make_store(self, dim, tmp_path):
            return MyStore(dim, ...)

Override ``make_large_store`` to return a store configured so that ``large_n`` records put
it in its approximate layout (the FAISS store lowers its exact threshold); the recall test
then checks the approximate path against brute force.
"""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.index.store import VectorIndexError, open_store


def unit_vectors(n: int, dim: int, *, seed: int = 0, clusters: int | None = None) -> np.ndarray:
    """``n`` L2-normalised float32 vectors; with ``clusters`` a Gaussian mixture (realistic structure)."""
    rng = np.random.default_rng(seed)
    if clusters:
        centers = rng.standard_normal((clusters, dim))
        x = centers[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, dim))
    else:
        x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class VectorStoreContract:
    """Contract tests: upsert, removal, exact answers on small data, persistence, errors."""

    dim: int = 16
    large_n: int = 3000
    min_recall: float = 0.95

    def make_store(self, dim: int, tmp_path):  # pragma: no cover - must be overridden
        raise NotImplementedError("subclasses return a fresh, empty store")

    def make_large_store(self, dim: int, tmp_path):
        return self.make_store(dim, tmp_path)

    def reopen(self, store, tmp_path):
        """Save and load through :func:`open_store` (override for server-based stores)."""
        path = tmp_path / "saved_store"
        store.save(path)
        return open_store(path)

    # ------------------------------------------------------------------ helpers
    def _filled(self, tmp_path, n=50):
        store = self.make_store(self.dim, tmp_path)
        x = unit_vectors(n, self.dim, seed=1)
        ids = [f"t{i:03d}" for i in range(n)]
        store.add(ids, x, [{"n": i} for i in range(n)])
        return store, ids, x

    # ------------------------------------------------------------------ tests
    def test_empty_store_searches_to_nothing(self, tmp_path):
        store = self.make_store(self.dim, tmp_path)
        assert len(store) == 0
        ids, scores = store.search(unit_vectors(2, self.dim), k=3)
        assert ids == [[], []]
        assert scores.shape == (2, 3) and np.all(np.isneginf(scores))

    def test_exact_on_small_data(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        q = unit_vectors(5, self.dim, seed=2)
        got, scores = store.search(q, k=5)
        sims = q @ x.T
        for row in range(5):
            want = [ids[j] for j in np.argsort(-sims[row])[:5]]
            assert got[row] == want
            np.testing.assert_allclose(scores[row], np.sort(sims[row])[::-1][:5], rtol=1e-4, atol=1e-5)

    def test_self_is_nearest(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        got, scores = store.search(x[7], k=1)
        assert got == [[ids[7]]]
        assert scores[0, 0] == pytest.approx(1.0, abs=1e-4)

    def test_k_larger_than_store(self, tmp_path):
        store, ids, x = self._filled(tmp_path, n=4)
        got, scores = store.search(x[0], k=10)
        assert sorted(got[0]) == sorted(ids)
        assert np.all(np.isneginf(scores[0, 4:]))

    def test_remove_hides_records(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        assert store.remove([ids[7], "no-such-id"]) == 1
        assert len(store) == 49
        got, _ = store.search(x[7], k=49)
        assert ids[7] not in got[0] and len(got[0]) == 49
        assert store.remove([ids[7]]) == 0

    def test_add_replaces_existing_id(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        store.add([ids[0]], x[1:2], [{"n": "new"}])
        assert len(store) == 50
        np.testing.assert_allclose(store.get_vectors([ids[0]])[0], x[1], atol=1e-6)
        assert store.get_metadata(ids[0]) == {"n": "new"}

    def test_incremental_add_matches_bulk(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        extra = unit_vectors(10, self.dim, seed=5)
        store.add([f"x{i}" for i in range(10)], extra)
        got, _ = store.search(extra[3], k=1)
        assert got == [["x3"]]
        assert set(store.ids()) == set(ids) | {f"x{i}" for i in range(10)}

    def test_get_vectors_and_metadata(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        np.testing.assert_allclose(store.get_vectors([ids[3], ids[9]]), x[[3, 9]], atol=1e-6)
        assert store.get_metadata(ids[3]) == {"n": 3}
        with pytest.raises(VectorIndexError, match="nope"):
            store.get_vectors(["nope"])

    def test_save_load_roundtrip(self, tmp_path):
        store, ids, x = self._filled(tmp_path)
        store.remove([ids[0]])
        loaded = self.reopen(store, tmp_path)
        assert len(loaded) == 49 and ids[0] not in loaded
        q = unit_vectors(3, self.dim, seed=9)
        a_ids, a_scores = store.search(q, k=5)
        b_ids, b_scores = loaded.search(q, k=5)
        assert a_ids == b_ids
        np.testing.assert_allclose(a_scores, b_scores, rtol=1e-5)
        assert loaded.get_metadata(ids[1]) == {"n": 1}
        loaded.add(["late"], x[0:1])  # a loaded store keeps accepting records
        assert loaded.search(x[0], k=1)[0] == [["late"]]

    def test_rejects_bad_input(self, tmp_path):
        store = self.make_store(self.dim, tmp_path)
        with pytest.raises(VectorIndexError, match="shape"):
            store.add(["a"], np.zeros((1, self.dim + 1), np.float32))
        with pytest.raises(VectorIndexError, match="repeat"):
            store.add(["a", "a"], unit_vectors(2, self.dim))
        with pytest.raises(VectorIndexError, match="NaN"):
            store.add(["a"], np.full((1, self.dim), np.nan, np.float32))
        with pytest.raises(VectorIndexError, match="width"):
            store.search(np.zeros((1, self.dim + 2), np.float32))

    def test_approximate_recall_and_removal(self, tmp_path):
        """Above the exact threshold the store must still find >= min_recall of the true top 10."""
        store = self.make_large_store(self.dim, tmp_path)
        n = self.large_n
        x = unit_vectors(n, self.dim, seed=3, clusters=30)
        ids = [f"t{i}" for i in range(n)]
        for start in range(0, n, 1000):  # incremental adds cross the threshold part-way
            store.add(ids[start:start + 1000], x[start:start + 1000])
        removed = ids[: n // 10]
        store.remove(removed)
        q = unit_vectors(50, self.dim, seed=4, clusters=30)
        got, _ = store.search(q, k=10)
        live = np.arange(n // 10, n)
        sims = q @ x[live].T
        hits = 0
        for row in range(len(q)):
            truth = {ids[live[j]] for j in np.argsort(-sims[row])[:10]}
            assert not set(got[row]) & set(removed)
            hits += len(truth & set(got[row]))
        assert hits / (10 * len(q)) >= self.min_recall
