"""Atomic writes, hashing, the folder layout, and which cache an index's search reads."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types

import pytest

from sapphire_core import layout
from sapphire_core.index.store import VectorIndexError, open_store, write_store_manifest
from sapphire_core.io import atomic_save_npz, atomic_write_bytes, file_sha256


def test_atomic_write_leaves_only_the_file(tmp_path):
    target = tmp_path / "a" / "b.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and [p.name for p in target.parent.iterdir()] == ["b.bin"]
    assert file_sha256(target) == hashlib.sha256(b"two").hexdigest()
    atomic_save_npz(tmp_path / "x.npz", {"a": [1, 2]})
    with pytest.raises(FileNotFoundError):
        file_sha256(tmp_path / "missing")


def test_corpus_and_cache_layout(tmp_path):
    assert layout.cache_dir(tmp_path) == tmp_path / ".sapphire" / "cache"
    assert layout.cache_entry(tmp_path, "ex/v1-abc", "ff00") == tmp_path / "ex/v1-abc" / "ff" / "ff00.npz"
    # the manifest's own cache wins over the corpus default; neither -> no cache
    assert layout.index_cache_dir({"corpus": "/c", "cache": "/elsewhere"}) == layout.Path("/elsewhere")
    assert layout.index_cache_dir({"corpus": "/c"}) == layout.cache_dir("/c")
    assert layout.index_cache_dir({}) is None


def test_search_reads_the_cache_the_index_was_built_with(tmp_path):
    from sapphire_core.retrieval import SearchEngine

    folder = types.SimpleNamespace(manifest={"dim": 4, "corpus": str(tmp_path), "cache": str(tmp_path / "mine")},
                                   metadata={}, path=tmp_path)
    assert SearchEngine(folder)._cache().root == tmp_path / "mine"


def test_unknown_store_kind_lists_the_installed_ones(tmp_path):
    write_store_manifest(tmp_path, "nosuchstore", dim=4)
    with pytest.raises(VectorIndexError, match=r"unknown vector_store 'nosuchstore'.*faiss \(sapphire-core\)"):
        open_store(tmp_path)
    assert json.loads((tmp_path / "store.json").read_text())["kind"] == "nosuchstore"


def test_library_modules_do_not_import_the_cli():
    code = ("import sys, sapphire_core.training.trainer, sapphire_core.index.builder, "
            "sapphire_core.evaluation.evaluate, sapphire_core.feedback.finetune, sapphire_core.analysis.report, "
            "sapphire_core.retrieval.engine; "
            "print(sorted(m for m in sys.modules if m.startswith('sapphire_core.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
