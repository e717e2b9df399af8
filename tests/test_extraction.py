"""Feature cache and batch extraction: skip what is done, go on after failures, survive SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sapphire_core.cache import FeatureCache, atomic_write_bytes
from sapphire_core.data import Corpus
from sapphire_core.errors import CacheError
from sapphire_core.extraction import extract_corpus
from sapphire_core.testing.signals import sine

TESTS = Path(__file__).parent


def toy_extractor(**settings):
    sys.path.insert(0, str(TESTS))
    from _toy_plugin import SpectrumStats

    return SpectrumStats(**settings)


def make_corpus(write_corpus, n=6, root=None):
    tracks = {f"t{i}": (sine(200 + 50 * i, sr=8000, seconds=1.0), 8000, {"work_id": f"w{i % 3}"}) for i in range(n)}
    return write_corpus(tracks, root=root)


def cache_snapshot(root: Path) -> dict[str, dict[str, np.ndarray]]:
    cache = FeatureCache(root)
    out = {}
    for path in cache.entries():
        with np.load(path) as data:
            out[str(path.relative_to(root))] = {k: data[k] for k in data.files}
    return out


def test_extract_then_rerun_skips(write_corpus, tmp_path):
    corpus = Corpus(make_corpus(write_corpus))
    cache = FeatureCache(tmp_path / "cache")
    ex = toy_extractor()
    first = extract_corpus(corpus.tracks, [ex], cache)
    assert first.succeeded == 6 and sum(r.computed for r in first.results) == 6
    second = extract_corpus(corpus.tracks, [ex], cache)
    assert sum(r.computed for r in second.results) == 0 and sum(r.cached for r in second.results) == 6
    # a different config is a different cache entry
    third = extract_corpus(corpus.tracks, [toy_extractor(bands=4)], cache)
    assert sum(r.computed for r in third.results) == 6
    assert len(cache.entries()) == 12


def test_failures_are_reported_and_the_batch_goes_on(write_corpus, tmp_path, monkeypatch):
    root = make_corpus(write_corpus, n=4)
    (root / "audio" / "t1.wav").write_text("garbage")
    sf.write(root / "audio" / "t2.wav", np.zeros(8000, np.float32), 8000)
    with (root / "tracks.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "ghost", "audio": "audio/missing.wav"}) + "\n")
    monkeypatch.setenv("SAPPHIRE_TOY_FAIL", "t3")
    failures = tmp_path / "failures.jsonl"
    report = extract_corpus(Corpus(root).tracks, [toy_extractor()], FeatureCache(tmp_path / "c"), failures_path=failures)
    assert report.succeeded == 1
    rows = {r["id"]: r for r in map(json.loads, failures.read_text().splitlines())}
    assert set(rows) == {"t1", "t2", "t3", "ghost"}
    assert rows["t1"]["error_type"] == "AudioDecodeError" and "t1.wav" in rows["t1"]["error"]
    assert rows["t2"]["error_type"] == "SilentAudioError"
    assert rows["t3"]["error_type"] == "ExtractionError" and "simulated extractor bug" in rows["t3"]["error"]
    assert rows["ghost"]["error_type"] == "AudioDecodeError" and "file not found" in rows["ghost"]["error"]


def test_parallel_workers_match_serial(write_corpus, tmp_path):
    corpus = Corpus(make_corpus(write_corpus))
    extract_corpus(corpus.tracks, [toy_extractor()], FeatureCache(tmp_path / "a"), workers=1)
    report = extract_corpus(corpus.tracks, [toy_extractor()], FeatureCache(tmp_path / "b"), workers=2)
    assert [r.track_id for r in report.results] == [t.id for t in corpus.tracks]
    a, b = cache_snapshot(tmp_path / "a"), cache_snapshot(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        for feat in a[key]:
            np.testing.assert_array_equal(a[key][feat], b[key][feat])


RUNNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import _toy_plugin
    from sapphire_core.cache import FeatureCache
    from sapphire_core.data import Corpus
    from sapphire_core.extraction import extract_corpus
    ex = _toy_plugin.SpectrumStats()
    extract_corpus(Corpus({corpus!r}).tracks, [ex], FeatureCache({cache!r}))
    print("finished")
    """
)


def run_extraction(corpus: Path, cache: Path, delay: float) -> subprocess.Popen:
    code = RUNNER.format(tests=str(TESTS), corpus=str(corpus), cache=str(cache))
    env = {**os.environ, "SAPPHIRE_TOY_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def test_sigkill_then_rerun_gives_the_same_cache(write_corpus, tmp_path):
    corpus = make_corpus(write_corpus, n=12)
    reference = tmp_path / "reference"
    proc = run_extraction(corpus, reference, delay=0.0)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()

    killed = tmp_path / "killed"
    proc = run_extraction(corpus, killed, delay=0.3)
    deadline = time.time() + 60
    while time.time() < deadline and len(FeatureCache(killed).entries()) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = len(FeatureCache(killed).entries())
    assert 3 <= done_before < 12, "the kill should land mid-run"

    proc = run_extraction(corpus, killed, delay=0.0)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    ref, got = cache_snapshot(reference), cache_snapshot(killed)
    assert ref.keys() == got.keys()
    for key in ref:
        for feat in ref[key]:
            np.testing.assert_array_equal(ref[key][feat], got[key][feat])
    leftovers = [p for p in killed.rglob("*") if p.is_file() and p.suffix != ".npz"]
    assert all(p.name.startswith(".") for p in leftovers)  # at most an orphaned temp file, never a bad entry


def test_corrupt_entry_is_reported_with_its_path(tmp_path):
    cache = FeatureCache(tmp_path)
    ex = toy_extractor()
    atomic_write_bytes(cache.path(ex, "ab" * 32), b"not an npz")
    with pytest.raises(CacheError, match="unreadable cache entry"):
        cache.load(ex, "ab" * 32)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert not target.exists() and not list(tmp_path.iterdir())


def test_components_from_yaml_pickle_and_share_cache_keys(tmp_path):
    """Worker processes receive extractors built from YAML: they must pickle, and the cache key must
    not depend on whether the extractor came from YAML or from code."""
    import pickle

    from sapphire_core.config import load_config
    from sapphire_core.model import build_extractors
    from sapphire_core.plugins import default_registry
    from sapphire_example_dynamics import RMSEnvelope

    cfg = load_config(Path(__file__).parents[1] / "configs" / "example_dynamics.yaml")
    (ex,) = build_extractors(cfg, default_registry())["dynamics"]
    clone = pickle.loads(pickle.dumps(ex))
    assert clone.cache_id() == ex.cache_id() == RMSEnvelope().cache_id()
    assert type(ex.config) is RMSEnvelope.Config
