"""Building index folders from a checkpoint: layout, resume, incremental update, failures."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core.index.builder import build_index  # noqa: E402
from sapphire_core.index.folder import IndexFolder  # noqa: E402


def test_index_folder_layout():
    s = T.toy_setup()
    folder = IndexFolder.open(s["index"])
    man = folder.manifest
    assert man["dim"] == T.TOY_DIM and man["subspaces"] == {"pitch": [0, 8], "lyrics": [8, 16]}
    assert len(man["model_sha256"]) == 64 and man["has_text_tower"] is True
    assert len(folder.store) == 12 and list(folder.metadata) == [f"w{w}__v{v}" for w in range(6) for v in (0, 1)]
    assert set(folder.modality_embeddings) == {"pitch", "lyrics"}
    # lyrics presence follows the corpus: works 0, 1, 4 have lyrics
    present = dict(zip(folder.metadata, folder.modality_present["lyrics"]))
    assert present["w0__v0"] and present["w4__v1"] and not present["w2__v0"]
    assert Path(folder.metadata["w0__v0"]["audio_path"]).is_file()
    # every stored vector is unit length
    v = folder.store.get_vectors(list(folder.metadata))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_rerun_reuses_chunks_and_updates_incrementally(tmp_path):
    s = T.toy_setup()
    corpus = tmp_path / "corpus"
    shutil.copytree(s["corpus"], corpus)
    out = tmp_path / "index"
    first = build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=4, extras=False)
    n_chunks = len(T.corpus_chunk_ids(corpus, 4))
    assert first.chunks_done == n_chunks and first.added == 12
    again = build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=4, extras=False)
    assert again.chunks_done == 0 and again.chunks_reused == n_chunks and again.added == 0
    # drop two tracks and break one audio file: the store is updated without a rebuild, the failure reported
    lines = (corpus / "tracks.jsonl").read_text().splitlines()
    kept = [ln for ln in lines if not json.loads(ln)["id"].startswith("w5")]
    (corpus / "tracks.jsonl").write_text("\n".join(kept) + "\n")
    (corpus / "audio" / "w4__v1.wav").write_bytes(b"not audio")
    third = build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=4, extras=False)
    assert third.removed == 3 and third.added == 0  # w5 x2 gone, w4__v1 failed
    assert "w4__v1" in third.failures
    fails = [json.loads(ln) for ln in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["id"] for f in fails] == ["w4__v1"]
    folder = IndexFolder.open(out)
    assert len(folder.store) == 9 and "w4__v1" not in folder.metadata


def test_changed_added_and_removed_files_touch_only_their_chunks(tmp_path):
    from sapphire_core.testing import signals

    s = T.toy_setup()
    corpus = tmp_path / "corpus"
    shutil.copytree(s["corpus"], corpus)
    out = tmp_path / "index"
    build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=4, extras=False)
    before = IndexFolder.open(out).store.get_vectors(["w0__v0", "w2__v0"])
    old_chunks = T.corpus_chunk_ids(corpus, 4)
    # w2__v0 is re-recorded as another melody, w5__v1 is gone and w6__v0 new (at the end)
    signals.write_wav(corpus / "audio" / "w2__v0.wav", signals.melody([61, 66, 68, 73, 68], durations=0.35), 16000)
    signals.write_wav(corpus / "audio" / "w6__v0.wav", signals.melody([55, 59, 62, 67], durations=0.3), 16000)
    recs = [json.loads(ln) for ln in (corpus / "tracks.jsonl").read_text().splitlines()]
    recs = [r for r in recs if r["id"] != "w5__v1"] + [{"id": "w6__v0", "audio": "audio/w6__v0.wav", "work_id": "w6"}]
    (corpus / "tracks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    report = build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=4, extras=False)
    # only the chunk that holds w2__v0 and those whose tracks changed are embedded; the rest is reused
    new_chunks = T.corpus_chunk_ids(corpus, 4)
    embed = sum(c not in old_chunks or "w2__v0" in c for c in new_chunks)
    assert (report.chunks_reused, report.chunks_done) == (len(new_chunks) - embed, embed)
    assert 0 < report.chunks_reused and embed <= 3  # w2__v0's chunk, and one or two at the end
    assert (report.added, report.removed, report.updated) == (1, 1, 1)
    after = IndexFolder.open(out)
    assert "w5__v1" not in after.metadata and "w6__v0" in after.metadata and len(after.store) == 12
    now = after.store.get_vectors(["w0__v0", "w2__v0"])
    np.testing.assert_allclose(now[0], before[0], atol=1e-6)  # untouched
    assert float(now[1] @ before[1]) < 0.9999  # the new recording's vector replaced the old one
    scratch = build_index(s["ckpt"], corpus, tmp_path / "scratch", registry=s["registry"], chunk_size=4, extras=False)
    fresh = IndexFolder.open(scratch.index_dir).store.get_vectors(["w2__v0", "w6__v0"])
    np.testing.assert_allclose(after.store.get_vectors(["w2__v0", "w6__v0"]), fresh, atol=1e-5)
    # and a rerun on unchanged input changes nothing
    again = build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=4, extras=False)
    assert (again.chunks_done, again.added, again.removed, again.updated) == (0, 0, 0, 0)


def test_index_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    s = T.toy_setup()
    monkeypatch.setattr("sapphire_core.plugins._DEFAULT", s["registry"])
    res = CliRunner().invoke(app, ["index", "--model", str(s["ckpt"]), "--corpus", str(s["corpus"]),
                                   "--out", str(tmp_path / "idx"), "--chunk-size", "5", "--no-extras"])
    assert res.exit_code == 0, res.output
    assert "12 tracks indexed" in res.output
    res = CliRunner().invoke(app, ["index", "--model", str(s["ckpt"]), "--corpus", str(s["corpus"]),
                                   "--out", str(tmp_path / "idx"), "--chunk-size", "5", "--no-extras", "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads(res.output)
    assert (again["indexed"], again["chunks_reused"], again["chunks_done"], again["added"]) == (
        12, len(T.corpus_chunk_ids(s["corpus"], 5)), 0, 0)
    res = CliRunner().invoke(app, ["search", str(tmp_path / "idx"), "--text", "river", "--k", "3", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert len(payload["results"]) == 3 and payload["model_version"].startswith("toy@")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    from sapphire_core.errors import CheckpointError

    s = T.toy_setup()
    with pytest.raises(CheckpointError, match="not found"):
        build_index(tmp_path / "none.ckpt", s["corpus"], tmp_path / "i", registry=s["registry"])


def test_workers_fill_the_cache_in_parallel_with_the_same_vectors(tmp_path, monkeypatch):
    """``workers=2`` extracts in the process pool of ``sapphire extract``; the index must not change."""
    import sapphire_core.extraction as extraction

    s = T.toy_setup()
    corpus = tmp_path / "corpus"
    shutil.copytree(s["corpus"], corpus)
    (corpus / "audio" / "w2__v0.wav").write_bytes(b"not audio")
    serial = build_index(s["ckpt"], corpus, tmp_path / "serial", registry=s["registry"], chunk_size=6,
                         extras=False, cache_dir=tmp_path / "cache1")
    pools = []
    real = extraction.extract_corpus

    def spy(tracks, extractors, cache, **kw):
        report = real(tracks, extractors, cache, **kw)
        pools.append((kw.get("pool"), [r.computed for r in report.results], len(report.failures)))
        return report

    monkeypatch.setattr(extraction, "extract_corpus", spy)
    parallel = build_index(s["ckpt"], corpus, tmp_path / "parallel", registry=s["registry"], chunk_size=6,
                           extras=False, cache_dir=tmp_path / "cache2", workers=2)
    # one pool for the build computed every chunk's features; the broken file failed there too
    assert [(len(c), f) for _, c, f in pools] == [(len(c), int("w2__v0" in c)) for c in T.corpus_chunk_ids(corpus, 6)]
    assert pools[0][0] is not None and all(p is pools[0][0] for p, _, _ in pools)
    assert sum(c > 0 for _, computed, _ in pools for c in computed) == 11
    assert parallel.indexed == serial.indexed == 11
    assert set(parallel.failures) == set(serial.failures) == {"w2__v0"}
    a, b = IndexFolder.open(tmp_path / "serial"), IndexFolder.open(tmp_path / "parallel")
    ids = list(a.metadata)
    np.testing.assert_allclose(a.store.get_vectors(ids), b.store.get_vectors(ids), atol=1e-6)


class _SizeStore:
    """A minimal extra store: track id -> audio file size."""

    def __init__(self, sizes=None):
        self.sizes = dict(sizes or {})

    @property
    def track_ids(self):
        return list(self.sizes)

    def remove(self, ids):
        for i in ids:
            self.sizes.pop(i, None)

    def save(self, folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sizes.json").write_text(json.dumps(self.sizes, sort_keys=True))

    @classmethod
    def load(cls, folder):
        return cls(json.loads((folder / "sizes.json").read_text()))


def _file_sizes_plugin():
    from sapphire_core.index_extra import PerTrackExtra
    from sapphire_core import hookimpl

    class FileSizes(PerTrackExtra):
        name = "file_sizes"
        filename = "sizes.json"
        store_class = _SizeStore

        def compute(self, track, audio=None):
            return Path(track.audio).stat().st_size

        def insert(self, store, track, entry):
            store.sizes[track.id] = entry

    class Plugin:
        @hookimpl
        def register_index_extras(self, register):
            register(FileSizes)

    return Plugin()


def test_workers_compute_the_features_and_the_extras_in_one_pool(tmp_path, monkeypatch):
    """``workers=2`` starts one pool for the whole build: the extras reuse the extraction's (a second pool
    would start processes that load torch and the models again)."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import contextmanager

    import sapphire_core.extraction as extraction
    import sapphire_core.index.builder as builder
    from sapphire_core.plugins import build_registry, get_plugin_manager

    s = T.toy_setup()
    registry = build_registry(get_plugin_manager(load_entrypoints=False,
                                                 plugins=[T.ToyPlugin(), _file_sizes_plugin()]))
    started = []

    @contextmanager
    def counted_pool(workers):  # threads stand in for the spawned processes: same Executor interface
        started.append(workers)
        with ThreadPoolExecutor(workers) as pool:
            yield pool

    monkeypatch.setattr(builder, "worker_pool", counted_pool)
    monkeypatch.setattr(extraction, "worker_pool", counted_pool)  # where build_extras starts its own
    report = build_index(s["ckpt"], s["corpus"], tmp_path / "index", registry=registry, chunk_size=6,
                         extras=["file_sizes"], cache_dir=tmp_path / "cache", workers=2)
    assert started == [2]
    assert report.extras == {"file_sizes": 12}
    sizes = _SizeStore.load(tmp_path / "index" / "extras" / "file_sizes").sizes
    assert sizes["w0__v0"] == (s["corpus"] / "audio" / "w0__v0.wav").stat().st_size
