"""The FAISS store against the shared VectorStore contract, in each of its layouts."""

import numpy as np
import pytest

from sapphire_core.index.faiss_store import FaissStore
from sapphire_core.index.store import VectorIndexError, open_store
from sapphire_core.testing.index_contract import VectorStoreContract, unit_vectors


class TestFaissHNSW(VectorStoreContract):
    def make_store(self, dim, tmp_path):
        return FaissStore(dim)

    def make_large_store(self, dim, tmp_path):
        return FaissStore(dim, exact_threshold=1500, approximate="hnsw")


class TestFaissIVF(VectorStoreContract):
    def make_store(self, dim, tmp_path):
        return FaissStore(dim, approximate="ivf")

    def make_large_store(self, dim, tmp_path):
        return FaissStore(dim, exact_threshold=1500, approximate="ivf", nprobe=16)


def test_switches_layout_above_threshold():
    store = FaissStore(8, exact_threshold=100)
    x = unit_vectors(150, 8)
    store.add([str(i) for i in range(100)], x[:100])
    assert store.layout == "flat"
    store.add([str(i) for i in range(100, 150)], x[100:])
    assert store.layout == "hnsw"
    assert store.search(x[120], k=1)[0] == [["120"]]


def test_hnsw_tombstones_compact(tmp_path):
    store = FaissStore(8, exact_threshold=10, compact_ratio=0.25)
    x = unit_vectors(100, 8)
    store.add([str(i) for i in range(100)], x)
    store.remove([str(i) for i in range(20)])
    assert len(store._tombstones) == 20  # below the 25 % trigger: tombstoned, not rebuilt
    store.remove([str(i) for i in range(20, 30)])
    assert not store._tombstones and store._index.ntotal == 70  # compacted
    assert store.search(x[50], k=1)[0] == [["50"]]
    store.save(tmp_path / "s")
    assert open_store(tmp_path / "s").layout == "hnsw"


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(VectorIndexError, match="hnsw or ivf"):
        FaissStore(8, approximate="lsh")
    with pytest.raises(VectorIndexError, match="no store.json"):
        open_store(tmp_path)
    with pytest.raises(VectorIndexError, match="k must be"):
        FaissStore(4).search(np.zeros(4, np.float32), k=0)


def test_a_loaded_ivf_store_owns_its_index(tmp_path):
    """An IVF store read back from disk must keep its FAISS index alive (it was freed at load:
    searches read freed memory and crashed). Run in a child so a crash fails this test only."""
    import subprocess
    import sys
    import textwrap

    x = unit_vectors(3000, 16)
    store = FaissStore(16, exact_threshold=1000, approximate="ivf", nprobe=64)
    store.add([str(i) for i in range(3000)], x)
    store.save(tmp_path / "s")
    np.save(tmp_path / "x.npy", x)
    child = textwrap.dedent(f"""
        import gc, numpy as np
        from sapphire_core.index.store import open_store
        x = np.load({str(tmp_path / "x.npy")!r})
        for trial in range(10):
            store = open_store({str(tmp_path / "s")!r})
            gc.collect()
            junk = [np.full(1000 + i, 7.0, np.float32) for i in range(2000)]  # reuse freed memory
            assert store.layout == "ivf" and store._index.d == 16, store._index.d
            assert store.search(x[5], k=1)[0] == [["5"]]
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", (run.returncode, run.stderr[-500:])


@pytest.mark.parametrize("stale", ["faiss.index", "ids.json"])
def test_a_save_killed_half_way_is_caught_at_load(tmp_path, stale):
    """The files of two saves never pair up: new vectors with the labels of an earlier save (after a
    compaction renumbered them) would answer every query with the wrong tracks."""
    store = FaissStore(8, exact_threshold=4, approximate="hnsw", compact_ratio=0.2)
    store.add([f"t{i}" for i in range(6)], unit_vectors(6, 8, seed=1))
    store.save(tmp_path / "s")
    earlier = (tmp_path / "s" / stale).read_bytes()
    store.remove(["t0", "t1", "t2"])  # enough tombstones to compact: labels are renumbered
    store.add([f"n{i}" for i in range(4)], unit_vectors(4, 8, seed=2))  # more vectors than the earlier labels
    store.save(tmp_path / "s")
    assert FaissStore.load(tmp_path / "s").ids() == store.ids()
    (tmp_path / "s" / stale).write_bytes(earlier)  # as if the kill came before this file was replaced
    with pytest.raises(VectorIndexError, match=rf"{stale}.*rebuild"):
        FaissStore.load(tmp_path / "s")
